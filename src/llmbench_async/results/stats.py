"""Records → `Summary`: percentiles, mean, stdev, throughput and the error breakdown.

Pure functions of `RequestRecord`s: nothing here prints or knows about HTTP. The same records
in any order give an equal `Summary` (every sample list is sorted before it is used).
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..metrics import SUMMARY_KEYS
from ..outcomes import Expect, Notice
from ..records import RequestRecord
from .answers import MAX_NAMES, OTHER, AnswerAcc, by_count
from .serverside import ServerAcc, ServerSummary

if TYPE_CHECKING:
    from .calibration import ClientError

__all__ = [
    "METRIC_KEYS",
    "ErrorGroup",
    "MetricStats",
    "Summary",
    "SummaryBuilder",
    "describe",
    "percentile",
    "summarize",
]

# The metric keys a Summary may hold, in report order.
METRIC_KEYS: tuple[str, ...] = SUMMARY_KEYS

_NS_PER_MS = 1e6
_NS_PER_S = 1e9
# a request's latency split part → its metric key
_SPLIT_KEYS = (
    ("queue_ms", "server_queue_ms"),
    ("prefill_ms", "server_prefill_ms"),
    ("decode_ms", "server_decode_ms"),
    ("rest_ms", "network_client_ms"),
)


@dataclass(frozen=True, slots=True)
class MetricStats:
    """Descriptive statistics of one metric (stdev is the sample stdev, n - 1)."""

    count: int
    mean: float
    stdev: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    def to_json(self) -> dict[str, float | int]:
        """A plain dict with the keys count, mean, stdev, min, p50, p90, p95, p99, max."""
        return {
            "count": self.count,
            "mean": self.mean,
            "stdev": self.stdev,
            "min": self.min,
            "p50": self.p50,
            "p90": self.p90,
            "p95": self.p95,
            "p99": self.p99,
            "max": self.max,
        }


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Failed requests of one error kind; `statuses` is ((status, count), …) by status."""

    kind: str
    count: int
    first_message: str
    statuses: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything the reporters and gates need, computed once from the records of a run."""

    total: int  # non-warm-up records
    ok: int
    failed: int
    warmup: int  # records marked warm-up (excluded from everything else)
    duration_s: float  # first send → last end over the non-warm-up records
    requests_per_s: float  # ok / duration_s
    output_tokens_per_s: float  # output tokens of ok records / duration_s
    total_output_tokens: int  # over ok records
    total_input_tokens: int  # over ok records
    retries: int  # sum(attempts - 1) over non-warm-up records
    retry_causes: Mapping[str, int]  # retried attempts by cause (metrics.RETRY_CAUSES)
    retry_wait_s: float  # time lost to failed attempts and backoff, summed over records
    latency_from: str  # "send" (default) or "schedule": where TTFT and E2E start
    metrics: Mapping[str, MetricStats]  # only metrics with at least one sample
    errors: tuple[ErrorGroup, ...]  # most frequent first, then by kind
    token_sources: Mapping[str, int]  # ok records per token_source (non-zero counts only)
    # sorted raw values (array('d')), keys of `metrics`; left out of repr(), which asyncio
    # may call on a task's result: a million samples would make a 20 MB string
    samples: Mapping[str, Sequence[float]] = field(repr=False)
    # first → last scheduled instant, and first → last end, over the non-warm-up records:
    # the arrivals offered and the completions achieved (sweeps compare the two)
    arrival_span_s: float = 0.0
    completion_span_s: float = 0.0
    ramp: int = 0  # records due inside --ramp-up (excluded like warm-up ones)
    new_connections: int = 0  # connections opened by measured requests (the connect count)
    # goodput, embeddings throughput, per-turn and per-group latency
    # ok requests meeting every --goodput condition (without conditions: every ok request)
    good: int = 0
    goodput_per_s: float = 0.0  # good / duration_s
    good_fraction: float = 0.0  # good / total (0..1)
    total_inputs: int = 0  # embeddings: inputs embedded by ok requests
    inputs_per_s: float = 0.0  # embeddings: total_inputs / duration_s
    input_tokens_per_s: float = 0.0  # input tokens of ok records / duration_s
    # turn (1-based) → {"ttft_ms", "e2e_ms"} stats; prefix group → the same
    by_turn: Mapping[int, Mapping[str, MetricStats]] = field(default_factory=dict)
    by_group: Mapping[int, Mapping[str, MetricStats]] = field(default_factory=dict)
    # what the answers were (docs/outcomes.md): finish reasons and served models over the
    # measured requests that named one, and the warning lines every renderer shows
    finish_reasons: Mapping[str, int] = field(default_factory=dict)
    served_models: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[Notice, ...] = ()
    # the client's own error on each clock, from --calibrate or `calibrate` (None: not asked)
    client_error: ClientError | None = field(default=None, repr=False)
    # what the server said of its time, the cache hit rate, connection phases by kind
    server: ServerSummary = field(default_factory=ServerSummary)

    @property
    def cache_hit_rate(self) -> float | None:
        """Prefix-cache hits in % of prompt tokens (None: no usage said cached_tokens)."""
        return self.server.cache_hit_rate

    # several models (--model a,b,c): the summary of each model's requests, by name asked for
    by_model: Mapping[str, Summary] = field(default_factory=dict)
    # the request bodies as sent: (mean, largest) bytes over measured requests; None when the
    # records do not say (results files written before the field existed)
    request_bytes: tuple[float, int] | None = None

    def kind_count(self, kind: str) -> int:
        """Failed requests of one error kind (0 when none)."""
        return next((g.count for g in self.errors if g.kind == kind), 0)

    def kind_rate(self, kind: str) -> float:
        """Failed requests of one error kind / all measured requests, in %."""
        return 100.0 * self.kind_count(kind) / self.total if self.total else 0.0

    @property
    def retry_rate(self) -> float:
        """Retried attempts per measured request, in % (0 without requests)."""
        return 100.0 * self.retries / self.total if self.total else 0.0

    def percentile(self, metric: str, q: float) -> float | None:
        """Exact percentile `q` (0-100) of a metric from its samples; None when it has none."""
        values = self.samples.get(metric)
        if not values:
            return None
        return percentile(values, q)


def lag_summary(samples: Sequence[float]) -> dict[str, float]:
    """Event-loop lag samples (ms) as p50, p99 and max (all 0.0 with no sample)."""
    lag = sorted(samples)
    return {
        "p50": percentile(lag, 50) if lag else 0.0,
        "p99": percentile(lag, 99) if lag else 0.0,
        "max": lag[-1] if lag else 0.0,
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Percentile `q` in [0, 100] of sorted values, interpolating linearly (numpy's default)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in [0, 100], got {q!r}")
    h = (n - 1) * (q / 100.0)
    lo = math.floor(h)
    if lo >= n - 1:
        return float(sorted_values[n - 1])
    a = float(sorted_values[lo])
    b = float(sorted_values[lo + 1])
    if a == b:
        return a
    t = h - lo
    diff = b - a
    # numpy's _lerp: interpolate from the nearer end, so t = 1 gives exactly b
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def describe(values: Iterable[float]) -> MetricStats | None:
    """Count, mean, sample stdev, min, p50/p90/p95/p99 and max; None when there are no values."""
    return _describe_in_place([float(v) for v in values])


def _describe_in_place(xs: list[float]) -> MetricStats | None:
    """Like `describe`, but sorts `xs` in place."""
    n = len(xs)
    if n == 0:
        return None
    # mean and stdev before sorting: fsum is exact so order cannot matter, and walking the floats
    # in creation order is ~4x faster at 10^7 samples than walking them sorted (cache misses)
    mean = math.fsum(xs) / n
    stdev = 0.0
    if n > 1:
        squares = map(operator.mul, map(mean.__rsub__, xs), map(mean.__rsub__, xs))
        stdev = math.sqrt(math.fsum(squares) / (n - 1))
    xs.sort()
    return MetricStats(
        count=n,
        mean=mean,
        stdev=stdev,
        min=xs[0],
        p50=percentile(xs, 50),
        p90=percentile(xs, 90),
        p95=percentile(xs, 95),
        p99=percentile(xs, 99),
        max=xs[-1],
    )


def _ms(ns_values: list[int] | list[float]) -> list[float]:
    """ns → ms (v / 1e6), mapped in C."""
    return list(map(_NS_PER_MS.__rtruediv__, ns_values))


def summarize(
    records: Iterable[RequestRecord],
    *,
    latency_from: str = "send",
    good: Callable[[RequestRecord], bool] | None = None,
    expect: Expect | None = None,
) -> Summary:
    """Reduce a run's records to a `Summary`; warm-up and ramp records are only counted.

    With `latency_from="schedule"`, TTFT and E2E are measured from each request's scheduled
    instant instead of its send instant, so time spent waiting for a free slot counts
    (coordinated-omission-corrected latency)."""
    builder = SummaryBuilder(latency_from=latency_from, good=good, expect=expect)
    for record in records:
        builder.add(record)
    return builder.summary()


class SummaryBuilder:
    """Accumulates records one at a time into compact arrays (8 bytes a sample), so a run
    of millions of requests is summarised without keeping its records."""

    def __init__(
        self,
        *,
        latency_from: str = "send",
        good: Callable[[RequestRecord], bool] | None = None,
        expect: Expect | None = None,
        per_model: bool = True,
    ) -> None:
        if latency_from not in ("send", "schedule"):
            raise ValueError(f"latency_from must be 'send' or 'schedule', got {latency_from!r}")
        self.latency_from = latency_from
        self._from_schedule = latency_from == "schedule"
        self.total = self.ok = self.warmup = self.ramp = 0
        self.retries = self.out_tokens = self.in_tokens = self.retry_wait = 0
        self.first_send: int | None = None
        self.last_end: int | None = None
        self._scheduled = _Span()
        self._ends = _Span()
        self._values: dict[str, array[float]] = {key: array("d") for key in METRIC_KEYS}
        self._sources: dict[str, int] = {}
        self._causes: dict[str, int] = {}
        self._failures: dict[str, _FailureAcc] = {}
        self._good = good  # the goodput predicate, if any
        self.good = self.inputs = 0
        self._sent = [0, 0, 0]  # request bodies: how many had a size, their bytes, the largest
        self._by: dict[tuple[str, int], tuple[array[float], array[float]]] = {}
        self._answers = AnswerAcc(expect)
        self._server = ServerAcc()
        self._per_model = per_model
        self._models: dict[str, SummaryBuilder] = {}

    def samples_of(self, key: str) -> Sequence[float]:
        """A metric's samples so far, unsorted and not to be changed (--until-stable reads
        them while the run goes on)."""
        return self._values[key]

    def add(self, r: RequestRecord) -> None:
        """Count one record in."""
        if r.requested_model is not None and self._per_model:
            self._model(r.requested_model).add(r)
        if r.warmup or r.ramp:
            if r.warmup:
                self.warmup += 1
            else:
                self.ramp += 1
            return
        self.total += 1
        send = r.send_ns if r.first_send_ns is None else r.first_send_ns
        if self.first_send is None or send < self.first_send:
            self.first_send = send
        if self.last_end is None or r.end_ns > self.last_end:
            self.last_end = r.end_ns
        self._scheduled.add(r.scheduled_ns)
        self._ends.add(r.end_ns)
        self.retries += r.attempts - 1
        for cause in r.retry_causes:
            self._causes[cause] = self._causes.get(cause, 0) + 1
        self.retry_wait += r.retry_wait_ns
        self._answers.add(r)
        if r.request_bytes is not None:
            sent = self._sent
            sent[0] += 1
            sent[1] += r.request_bytes
            sent[2] = max(sent[2], r.request_bytes)
        values = self._values
        values["queue_delay_ms"].append(r.queue_delay_ns / _NS_PER_MS)
        if r.dispatched_ns is not None:
            values["dispatch_lag_ms"].append((r.dispatched_ns - r.scheduled_ns) / _NS_PER_MS)
        if r.new_connection and r.connect_ns is not None:
            values["connect_ms"].append(r.connect_ns / _NS_PER_MS)
        self._add_network(r)
        kind = r.error_kind
        if kind is not None:
            acc = self._failures.get(kind)
            if acc is None:
                acc = self._failures[kind] = _FailureAcc()
            acc.add(r)
            return
        self._add_ok(r)

    def _add_ok(self, r: RequestRecord) -> None:
        """A successful request's latencies, tokens, workload tags and server split."""
        self.ok += 1
        values = self._values
        shift = r.send_ns - r.scheduled_ns if self._from_schedule else 0
        values["e2e_ms"].append((r.e2e_ns + shift) / _NS_PER_MS)
        first = r.ttft_ns
        if first is not None:
            values["ttft_ms"].append((first + shift) / _NS_PER_MS)
        content = r.ttfc_ns
        if content is not None:
            values["ttfc_ms"].append((content + shift) / _NS_PER_MS)
        if r.token_gaps_ns:
            values["itl_ms"].extend(map(_NS_PER_MS.__rtruediv__, r.token_gaps_ns))
        per_token = r.tpot_ns
        if per_token is not None:
            values["tpot_ms"].append(per_token / _NS_PER_MS)
        rate = r.output_tokens_per_s
        if rate is not None:
            values["output_tokens_per_s"].append(rate)
        if r.output_tokens:
            self.out_tokens += r.output_tokens
        if r.input_tokens:
            self.in_tokens += r.input_tokens
        self._add_workload(r, shift)
        self._add_server(r)
        self._sources[r.token_source] = self._sources.get(r.token_source, 0) + 1

    def _add_network(self, r: RequestRecord) -> None:
        """Connection phases (one sample per connection, preconnected ones included) and
        time to headers, of every measured request, failed ones too."""
        values = self._values
        if r.new_connection or r.preconnected:
            for key, value in (("dns_ms", r.dns_ns), ("tcp_ms", r.tcp_ns), ("tls_ms", r.tls_ns)):
                if value is not None:
                    values[key].append(value / _NS_PER_MS)
        wait = r.headers_wait_ns
        if wait is not None:
            values["headers_ms"].append(wait / _NS_PER_MS)
            if r.new_connection is not None:
                key = "headers_new_ms" if r.new_connection else "headers_reused_ms"
                values[key].append(wait / _NS_PER_MS)
        self._server.add_connection(r)

    def _add_server(self, r: RequestRecord) -> None:
        """A successful request's server-reported split and cached tokens."""
        split = r.latency_split
        if split is not None:
            for part, key in _SPLIT_KEYS:
                value = split.get(part)
                if value is not None:
                    self._values[key].append(value)
        self._server.add_ok(r)

    def _model(self, name: str) -> SummaryBuilder:
        """The builder of one requested model's records (past MAX_NAMES names: OTHER)."""
        found = self._models.get(name)
        if found is None:
            if len(self._models) >= MAX_NAMES:
                return self._model(OTHER) if name != OTHER else self._models[OTHER]
            found = self._models[name] = SummaryBuilder(
                latency_from=self.latency_from,
                good=self._good,
                expect=self._answers.expect,
                per_model=False,
            )
        return found

    def _add_workload(self, r: RequestRecord, shift: int) -> None:
        """Goodput, embedded inputs, and latency by turn and by prefix group."""
        if self._good is None or self._good(r):
            self.good += 1
        if r.inputs:
            self.inputs += r.inputs
        for axis, key in (("turn", r.turn), ("group", r.group)):
            if key is None:
                continue
            acc = self._by.get((axis, key))
            if acc is None:
                acc = self._by[(axis, key)] = (array("d"), array("d"))
            if r.ttft_ns is not None:
                acc[0].append((r.ttft_ns + shift) / _NS_PER_MS)
            acc[1].append((r.e2e_ns + shift) / _NS_PER_MS)

    def _breakdown(self, axis: str) -> dict[int, dict[str, MetricStats]]:
        out: dict[int, dict[str, MetricStats]] = {}
        for (name, key), (ttft, e2e) in sorted(self._by.items()):
            if name != axis:
                continue
            stats = {"ttft_ms": describe(ttft), "e2e_ms": describe(e2e)}
            out[key] = {k: v for k, v in stats.items() if v is not None}
        return out

    def summary(self) -> Summary:
        """The Summary of everything added so far."""
        samples: dict[str, Sequence[float]] = {}
        metrics: dict[str, MetricStats] = {}
        for key in METRIC_KEYS:
            values = list(self._values[key])  # sorted as a list, kept as a compact array
            stats = _describe_in_place(values)
            if stats is not None:
                metrics[key] = stats
                # the sorted array replaces the builder's own, so each sample is held once
                self._values[key] = samples[key] = array("d", values)
            del values
        first, last = self.first_send, self.last_end
        duration_ns = 0 if first is None or last is None else max(last - first, 0)
        duration_s = duration_ns / _NS_PER_S
        errors = tuple(
            sorted(
                (acc.group(kind) for kind, acc in self._failures.items()),
                key=lambda g: (-g.count, g.kind),
            )
        )
        return Summary(
            total=self.total,
            ok=self.ok,
            failed=self.total - self.ok,
            warmup=self.warmup,
            duration_s=duration_s,
            requests_per_s=self.ok / duration_s if duration_s > 0 else 0.0,
            output_tokens_per_s=self.out_tokens / duration_s if duration_s > 0 else 0.0,
            total_output_tokens=self.out_tokens,
            total_input_tokens=self.in_tokens,
            retries=self.retries,
            retry_causes=dict(sorted(self._causes.items())),
            retry_wait_s=self.retry_wait / _NS_PER_S,
            latency_from=self.latency_from,
            metrics=metrics,
            errors=errors,
            token_sources=_ordered_sources(dict(self._sources)),
            samples=samples,
            good=self.good,
            goodput_per_s=_per_s(self.good, duration_s),
            good_fraction=self.good / self.total if self.total else 0.0,
            total_inputs=self.inputs,
            inputs_per_s=_per_s(self.inputs, duration_s),
            input_tokens_per_s=_per_s(self.in_tokens, duration_s),
            by_turn=self._breakdown("turn"),
            by_group=self._breakdown("group"),
            arrival_span_s=self._scheduled.seconds(),
            completion_span_s=self._ends.seconds(),
            ramp=self.ramp,
            new_connections=len(self._values["connect_ms"]),
            finish_reasons=by_count(self._answers.finish),
            served_models=by_count(self._answers.models),
            warnings=self._answers.notices(self.total, self.ok),
            server=self._server.summary(describe),
            by_model={name: b.summary() for name, b in sorted(self._models.items())},
            request_bytes=(self._sent[1] / self._sent[0], self._sent[2]) if self._sent[0] else None,
        )


def _per_s(count: int, duration_s: float) -> float:
    return count / duration_s if duration_s > 0 else 0.0


class _Span:
    """The smallest and largest of a stream of instants (ns)."""

    __slots__ = ("high", "low")

    def __init__(self) -> None:
        self.low: int | None = None
        self.high: int | None = None

    def add(self, ns: int) -> None:
        if self.low is None or ns < self.low:
            self.low = ns
        if self.high is None or ns > self.high:
            self.high = ns

    def seconds(self) -> float:
        if self.low is None or self.high is None:
            return 0.0
        return (self.high - self.low) / _NS_PER_S


class _FailureAcc:
    """Running tally of one error kind while records stream past."""

    __slots__ = ("count", "first", "statuses")

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[int, int, str] | None = None
        self.statuses: dict[int, int] = {}

    def add(self, r: RequestRecord) -> None:
        self.count += 1
        # ties on send_ns are broken by index, then message, so input order never matters
        key = (r.send_ns, r.index, r.error_message or "")
        if self.first is None or key < self.first:
            self.first = key
        if r.status is not None:
            self.statuses[r.status] = self.statuses.get(r.status, 0) + 1

    def group(self, kind: str) -> ErrorGroup:
        return ErrorGroup(
            kind=kind,
            count=self.count,
            first_message=self.first[2] if self.first is not None else "",
            statuses=tuple(sorted(self.statuses.items())),
        )


_SOURCE_ORDER = {"usage": 0, "chunks": 1, "none": 2}


def _ordered_sources(sources: dict[str, int]) -> dict[str, int]:
    """Token-source counts in a fixed order (usage, chunks, none, then any other by name)."""
    keys = sorted(sources, key=lambda s: (_SOURCE_ORDER.get(s, len(_SOURCE_ORDER)), s))
    return {k: sources[k] for k in keys}
