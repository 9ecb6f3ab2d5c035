"""The metric table: every metric defined once. Its summary key, its name (and aliases) in
the threshold grammar, its console label, unit and kind, which way is better, and how to
read its value: from a run's `Summary`, from a saved summary document (`--json`) and, for
per-request metrics, from one request (`--goodput`).

stats (which keys to collect), report (rows, labels, the summary JSON's throughput), gate
(the `--fail-if` grammar, units, directions and values), compare (directions, units, values
of saved runs), goodput (each request's value) and the sweep, Markdown and JUnit output
derive from this table. Adding a metric is one entry here plus its computation in results/stats.py.
A name the table does not hold is an error (`metric()` raises KeyError), never a default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .records import RequestRecord

Kind = Literal["latency", "rate", "ratio", "count"]

# the statistics a summary holds for each per-request metric (a saved document holds only
# these; a Summary with its samples answers any pNN exactly)
STATS: tuple[str, ...] = ("mean", "min", "max", "stdev", "p50", "p90", "p95", "p99")
_NS_PER_MS = 1e6


class SummaryView(Protocol):
    """What the table reads from a run's `stats.Summary` (a protocol: metrics imports no
    statistics)."""

    @property
    def total(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def retry_causes(self) -> Mapping[str, int]: ...
    @property
    def retry_rate(self) -> float: ...
    @property
    def requests_per_s(self) -> float: ...
    @property
    def output_tokens_per_s(self) -> float: ...
    @property
    def goodput_per_s(self) -> float: ...
    @property
    def good_fraction(self) -> float: ...
    @property
    def inputs_per_s(self) -> float: ...
    @property
    def input_tokens_per_s(self) -> float: ...
    @property
    def cache_hit_rate(self) -> float | None: ...
    @property
    def metrics(self) -> Mapping[str, Any]: ...  # key → stats.MetricStats
    def percentile(self, metric: str, q: float) -> float | None: ...
    def kind_rate(self, kind: str) -> float: ...
    @property
    def request_bytes(self) -> tuple[float, int] | None: ...


# (summary or document, qualifier) → value in the metric's unit; the qualifier is the STAT
# of a per-request metric (`p95`) or the cause of `retries.CAUSE`, else None
SummaryReader = Callable[[SummaryView, str | None], float | None]
DocumentReader = Callable[[Mapping[str, Any], str | None], float | None]
# (request, ns to add to latencies measured from the send instant) → the request's own value
RecordReader = Callable[[RequestRecord, int], float | None]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric. Per-request metrics have a distribution (thresholds need a STAT, e.g.
    `ttft.p95`); run-level metrics are one number per run (`error_rate`)."""

    key: str  # Summary.metrics / summary-JSON key, e.g. "ttft_ms"
    name: str  # threshold grammar name, e.g. "ttft"
    label: str  # console label, e.g. "TTFT (ms)"
    unit: str  # ms, tok/s, req/s, %
    kind: Kind
    higher_is_better: bool
    per_request: bool  # True: a distribution over requests; False: one value per run
    aliases: tuple[str, ...]
    description: str
    summary_value: SummaryReader  # raw: a run-level value even for an empty run
    document_value: DocumentReader
    # the summary JSON's section holding a run-level value under `key` ("" for none)
    section: str = ""
    record_value: RecordReader | None = None  # per-request conditions (--goodput)

    def of_summary(self, summary: SummaryView, qualifier: str | None = None) -> float | None:
        """The value in a run; None when the run has no such data (no requests, no sample)."""
        if not self.per_request and summary.total == 0:
            return None
        return self.summary_value(summary, qualifier)

    def of_document(
        self, document: Mapping[str, Any], qualifier: str | None = None
    ) -> float | None:
        """The value in a saved summary JSON (any version); None when it holds no such data."""
        if not self.per_request and not _number(_at(document, "requests", "total")):
            return None
        return self.document_value(document, qualifier)


def _number(value: object) -> float | None:
    """A JSON number as a float; None for anything else (null, text, a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _at(document: Mapping[str, Any], *path: str) -> object:
    node: object = document
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _distribution(key: str) -> tuple[SummaryReader, DocumentReader]:
    """Readers of a STAT of a per-request metric: exact percentiles from a Summary's
    samples, the stored statistics of a saved document."""

    def of_summary(summary: SummaryView, stat: str | None) -> float | None:
        stats = summary.metrics.get(key)
        if stats is None or stat is None:
            return None
        if stat.startswith("p"):
            exact = summary.percentile(key, float(stat[1:]))
            if exact is not None:
                return exact
        # a Summary without samples holds only the usual statistics
        return float(getattr(stats, stat)) if stat in STATS else None

    def of_document(document: Mapping[str, Any], stat: str | None) -> float | None:
        return None if stat not in STATS else _number(_at(document, "metrics", key, str(stat)))

    return of_summary, of_document


def _ms(ns: float | None, shift: int = 0) -> float | None:
    return None if ns is None else (ns + shift) / _NS_PER_MS


def _tpot(r: RequestRecord, shift: int) -> float | None:
    """A one-token reply has no gap: its TPOT counts as 0 ms."""
    if r.output_tokens == 1 and r.first_token_ns is not None:
        return 0.0
    return _ms(r.tpot_ns)


def _split(part: str) -> RecordReader:
    """One part of a request's latency split (`RequestRecord.latency_split`), in ms."""
    return lambda r, _: (r.latency_split or {}).get(part)


def _phase(name: str) -> RecordReader:
    """One connection set-up phase of a request that opened its connection, in ms."""
    return lambda r, _: _ms(getattr(r, name)) if r.new_connection else None


def _longest_gap(r: RequestRecord, shift: int) -> float | None:
    """The request's longest gap between output events (0 for a single event)."""
    if r.first_token_ns is None:
        return None
    return max(r.token_gaps_ns, default=0) / _NS_PER_MS


def _per_request(
    key: str,
    name: str,
    label: str,
    aliases: tuple[str, ...],
    text: str,
    record: RecordReader | None,
    *,
    unit: str = "ms",
) -> Metric:
    latency = unit == "ms"
    return Metric(
        key,
        name,
        f"{label} (ms)" if latency else label,
        unit,
        "latency" if latency else "rate",
        not latency,
        True,
        aliases,
        text,
        *_distribution(key),
        record_value=record,
    )


def _run_level(
    key: str,
    label: str,
    unit: str,
    kind: Kind,
    aliases: tuple[str, ...],
    text: str,
    of_summary: Callable[[SummaryView], float | None],
    *,
    higher_is_better: bool = True,
    document: DocumentReader | None = None,
    section: str = "throughput",
) -> Metric:
    """A run-level metric whose saved value sits at `section.key` of the summary JSON (or at
    its top level when `section` is ""), unless `document` reads it otherwise."""
    path = (section, key) if section else (key,)
    return Metric(
        key,
        key,
        label,
        unit,
        kind,
        higher_is_better,
        False,
        aliases,
        text,
        lambda summary, _: of_summary(summary),
        document or (lambda doc, _: _number(_at(doc, *path))),
        section,
    )


def _saved_error_rate(document: Mapping[str, Any], _: str | None) -> float | None:
    total = _number(_at(document, "requests", "total"))
    failed = _number(_at(document, "requests", "failed")) or 0.0
    return 100.0 * failed / total if total else None


def _saved_request_bytes(document: Mapping[str, Any], _: str | None) -> float | None:
    return _number(_at(document, "request_bytes", "mean"))


def _retries(summary: SummaryView, cause: str | None) -> float | None:
    return float(summary.retries if cause is None else summary.retry_causes.get(cause, 0))


def _saved_retries(document: Mapping[str, Any], cause: str | None) -> float | None:
    if cause is None:
        return _number(document.get("retries"))
    causes = document.get("retry_causes")
    return _number(causes.get(cause, 0)) if isinstance(causes, Mapping) else None


# connection set-up phases (one sample per connection, preconnected ones included), time
# to headers, and what the server reported of its own time (docs/server-timing.md):
# (key, name, label, aliases, description, the request's own value)
# fmt: off
_MORE_PER_REQUEST: tuple[tuple[str, str, str, tuple[str, ...], str, RecordReader], ...] = (
    ("dns_ms", "dns", "DNS", ("dns_time",),
     "per connection: resolving the host name (getaddrinfo)", _phase("dns_ns")),
    ("tcp_ms", "tcp", "TCP connect", ("tcp_connect",),
     "per connection: TCP handshake (connect() → connected)", _phase("tcp_ns")),
    ("tls_ms", "tls", "TLS", ("tls_handshake",),
     "per connection: TLS handshake (https only)", _phase("tls_ns")),
    ("headers_ms", "headers", "Headers", ("time_to_headers",),
     "request sent → response head arrived (every request that got one)",
     lambda r, _: _ms(r.headers_wait_ns)),
    ("headers_new_ms", "headers_new", "Headers new conn", (),
     "time to headers of requests on a connection they opened",
     lambda r, _: _ms(r.headers_wait_ns) if r.new_connection else None),
    ("headers_reused_ms", "headers_reused", "Headers reused", (),
     "time to headers of requests on a kept-alive (or preconnected) connection",
     lambda r, _: _ms(r.headers_wait_ns) if r.new_connection is False else None),
    ("server_queue_ms", "server_queue", "Server queue", (),
     "server-reported time queued before scheduling (vLLM)", _split("queue_ms")),
    ("server_prefill_ms", "server_prefill", "Server prefill", (),
     "server-reported prompt processing (llama.cpp prompt_ms; vLLM TTFT − queue)",
     _split("prefill_ms")),
    ("server_decode_ms", "server_decode", "Server decode", (),
     "server-reported generation (llama.cpp predicted_ms; vLLM generation_time_ms)",
     _split("decode_ms")),
    ("network_client_ms", "network_client", "Network+client", ("rest",),
     "E2E − the server-reported parts: network and client", _split("rest_ms")),
)
# fmt: on


PER_REQUEST: tuple[Metric, ...] = (
    _per_request(
        "ttft_ms",
        "ttft",
        "TTFT",
        ("time_to_first_token",),
        "time to first token: start → first output token (content or reasoning)",
        lambda r, shift: _ms(r.ttft_ns, shift),
    ),
    _per_request(
        "ttfc_ms",
        "ttfc",
        "TTFC",
        ("time_to_first_content",),
        "time to first content token (reasoning models: after the reasoning)",
        lambda r, shift: _ms(r.ttfc_ns, shift),
    ),
    _per_request(
        "e2e_ms",
        "e2e",
        "E2E",
        ("e2e_latency",),
        "end to end: start → last byte",
        lambda r, shift: _ms(r.e2e_ns, shift),
    ),
    _per_request(
        "itl_ms",
        "itl",
        "ITL",
        ("inter_token_latency",),
        "gap between two output tokens",
        _longest_gap,
    ),
    _per_request(
        "tpot_ms",
        "tpot",
        "TPOT",
        ("time_per_output_token",),
        "(E2E − TTFT) / (output tokens − 1), per request",
        _tpot,
    ),
    _per_request(
        "output_tokens_per_s",
        "output_tokens_per_s",
        "Out tok/s per req",
        ("tokens_per_s",),
        "one request's output tokens / its E2E",
        lambda r, _: r.output_tokens_per_s,
        unit="tok/s",
    ),
    _per_request(
        "queue_delay_ms",
        "queue_delay",
        "Queue delay",
        ("queue",),
        "due → sent: time a request waited for a free slot (open loop)",
        lambda r, _: r.queue_delay_ns / _NS_PER_MS,
    ),
    _per_request(
        "dispatch_lag_ms",
        "dispatch_lag",
        "Dispatch lag",
        ("replay_lag",),
        "trace replay only: the row's instant in the trace → handed on to be sent",
        lambda r, _: _ms(r.dispatch_lag_ns),
    ),
    _per_request(
        "connect_ms",
        "connect",
        "Connect",
        ("connect_time",),
        "new connections only: asking the pool → connection ready (TCP + TLS)",
        None,  # only new connections have one: not a condition a request can meet
    ),
    *(_per_request(*row) for row in _MORE_PER_REQUEST),
)

RUN_LEVEL: tuple[Metric, ...] = (
    _run_level(
        "error_rate",
        "Error rate (%)",
        "%",
        "ratio",
        ("errors",),
        "requests that failed after all their retries / all measured requests",
        lambda s: 100.0 * s.failed / s.total if s.total else 0.0,
        higher_is_better=False,
        document=_saved_error_rate,
        section="",
    ),
    _run_level(
        "incomplete_rate",
        "Incomplete (%)",
        "%",
        "ratio",
        (),
        "requests whose answer ended without a finish reason / all measured requests",
        lambda s: s.kind_rate("incomplete"),
        higher_is_better=False,
        section="",
    ),
    _run_level(
        "wrong_model_rate",
        "Wrong model (%)",
        "%",
        "ratio",
        (),
        "requests answered by another model than asked / all measured requests",
        lambda s: s.kind_rate("wrong_model"),
        higher_is_better=False,
        section="",
    ),
    _run_level(
        "invalid_output_rate",
        "Invalid output (%)",
        "%",
        "ratio",
        (),
        "requests whose tool calls or JSON reply broke their schema / all measured requests",
        lambda s: s.kind_rate("invalid_output"),
        higher_is_better=False,
        section="",
    ),
    _run_level(
        "request_bytes",
        "Request size (B)",
        "B",
        "count",
        (),
        "bytes of a request body as sent (prompt, images, tools), mean over measured requests",
        lambda s: None if s.request_bytes is None else s.request_bytes[0],
        higher_is_better=False,
        document=_saved_request_bytes,
        section="",
    ),
    _run_level(
        "retry_rate",
        "Retry rate (%)",
        "%",
        "ratio",
        (),
        "retried attempts / all measured requests (can pass 100 %)",
        lambda s: s.retry_rate,
        higher_is_better=False,
        section="",
    ),
    _run_level(
        "requests_per_s",
        "Requests/s",
        "req/s",
        "rate",
        ("rps", "throughput"),
        "finished requests / run duration",
        lambda s: s.requests_per_s,
    ),
    _run_level(
        "output_tokens_per_s",
        "Output tok/s",
        "tok/s",
        "rate",
        ("tokens_per_s",),
        "all output tokens / run duration",
        lambda s: s.output_tokens_per_s,
    ),
    _run_level(
        "goodput",
        "Goodput (req/s)",
        "req/s",
        "rate",
        ("good_requests_per_s",),
        "requests meeting every --goodput condition / run duration",
        lambda s: s.goodput_per_s,
    ),
    _run_level(
        "good_fraction",
        "Good (%)",
        "%",
        "ratio",
        (),
        "requests meeting every --goodput condition / all measured requests",
        lambda s: 100.0 * s.good_fraction,
    ),
    _run_level(
        "inputs_per_s",
        "Inputs/s",
        "inputs/s",
        "rate",
        (),
        "embeddings: inputs embedded by successful requests / run duration",
        lambda s: s.inputs_per_s,
    ),
    _run_level(
        "input_tokens_per_s",
        "Input tok/s",
        "tok/s",
        "rate",
        (),
        "input tokens of successful requests / run duration",
        lambda s: s.input_tokens_per_s,
    ),
)

# the client's own error on each clock, measured by a calibration against the built-in mock
# (`--calibrate`, `calibrate`; docs/calibrate.md): grammar `client_error.CLOCK.STAT`, summary
# JSON `client_error.clocks.CLOCK.STAT`; results/calibration.py computes them
CLIENT_ERROR_CLOCKS: dict[str, str] = {
    "ttft": "TTFT",
    "token_span": "ITL (token span)",
    "e2e": "E2E",
    "queue_delay": "Queue delay",
    "headers": "Headers",
}
CLIENT_ERROR_PREFIX = "client_error"


def _client_error(clock: str, label: str) -> Metric:
    def of_summary(summary: SummaryView, stat: str | None) -> float | None:
        err = getattr(summary, "client_error", None)  # a Summary of a calibrated run
        return None if err is None else err.value(clock, stat)

    def of_document(document: Mapping[str, Any], stat: str | None) -> float | None:
        return _number(_at(document, CLIENT_ERROR_PREFIX, "clocks", clock, str(stat)))

    name = f"{CLIENT_ERROR_PREFIX}.{clock}"
    text = f"the error the client adds to {label}: ours − the mock's truth (--calibrate)"
    return Metric(
        name, name, f"Client error {label} (ms)", "ms", "latency", False, True, (), text,
        of_summary, of_document,
    )  # fmt: skip


CLIENT_ERROR: tuple[Metric, ...] = tuple(
    _client_error(clock, label) for clock, label in CLIENT_ERROR_CLOCKS.items()
)
CACHE_HIT_RATE = Metric(
    "cache_hit_rate",
    "cache_hit_rate",
    "Cache hit (%)",
    "%",
    "ratio",
    True,
    False,
    ("prefix_cache_hit_rate",),
    "prompt tokens the server took from its prefix cache / prompt tokens, over the "
    "successful requests whose usage said cached_tokens",
    lambda s, _: s.cache_hit_rate,
    lambda doc, _: _number(_at(doc, "server_timing", "cache_hit_rate")),
    "server_timing",
)
RUN_LEVEL += (CACHE_HIT_RATE,)

METRICS: tuple[Metric, ...] = PER_REQUEST + RUN_LEVEL
# a count in the gate grammar only (`retries<10`, `retries.http_429<1`): the summary JSON
# has it as `retries` and `retry_causes`; the rate is the table's `retry_rate`
RETRIES = Metric(
    "retries",
    "retries",
    "Retries",
    "",
    "count",
    False,
    False,
    (),
    "retried attempts; retries.CAUSE counts one cause (see RETRY_CAUSES)",
    _retries,
    _saved_retries,
)
SUMMARY_KEYS: tuple[str, ...] = tuple(m.key for m in PER_REQUEST)  # in report order
# the grammar's names as listed in its messages: the times first
NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [m.name for m in METRICS if m.kind == "latency"] + [m.name for m in METRICS] + ["retries"]
    )
)
_CANONICAL: dict[str, str] = {
    **{alias: m.name for m in METRICS for alias in m.aliases},
    **{m.name: m.name for m in METRICS},
}

# why an attempt was retried: the summary's `retry_causes` keys and `retries.CAUSE` names
RETRY_CAUSES: tuple[str, ...] = (
    "http_429",
    "http_5xx",
    "http_4xx",
    "timeout",
    "connect",
    "read",
    "other",
)

# run-level rates of one error kind: grammar name → ErrorKind value (docs/outcomes.md)
KIND_RATES: dict[str, str] = {
    "incomplete_rate": "incomplete",
    "wrong_model_rate": "wrong_model",
    "invalid_output_rate": "invalid_output",
}

# fewer requests than this on either side of a comparison: differences may be noise
MIN_REQUESTS = 30


def canonical_name(name: str) -> str | None:
    """The grammar name for a name or an alias (`e2e_latency` → `e2e`); None if unknown."""
    return _CANONICAL.get(name)


def lookup(name: str, *, per_request: bool) -> Metric | None:
    """The metric a grammar name stands for: with a STAT, the per-request one."""
    if name == RETRIES.name and not per_request:
        return RETRIES
    for metric in PER_REQUEST + CLIENT_ERROR if per_request else RUN_LEVEL:
        if metric.name == name:
            return metric
    return None


def metric(name: str, *, per_request: bool) -> Metric:
    """Like `lookup`, but a name the table does not hold is a KeyError naming it."""
    found = lookup(name, per_request=per_request)
    if found is None:
        kind = "per-request" if per_request else "run-level"
        raise KeyError(f"unknown {kind} metric {name!r}; the metric table has {', '.join(NAMES)}")
    return found


def plain_number(value: float) -> str:
    """A number as typed: `800`, `0.5`, `99.9` (no trailing `.0`, no exponent)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def format_number(value: float) -> str:
    """At least 3 significant digits, fixed point."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
