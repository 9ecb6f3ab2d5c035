"""The live Prometheus feed (`--prometheus-port`): this run's own metrics, served over HTTP
while it runs, for a Prometheus server to scrape beside the engine's.

The counts are kept here, in plain integers updated as each record completes (the
`Observer` hands every record over); prometheus-client only renders them when a scrape
comes, from a private `CollectorRegistry`. A token gap costs one `bisect` in C, not a
`Histogram.observe` call with its lock. The HTTP server runs in its own threads: a scrape
never waits for the event loop, and the event loop never waits for a scrape (one short
lock guards the counts). Definitions and bucket edges: docs/observability.md.
"""

from __future__ import annotations

import datetime as dt
import errno
import secrets
import socket
import sys
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from socketserver import TCPServer, ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ..errors import ConfigError
from ..redact import one_line

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ..config import ObserveOptions
    from ..records import RequestRecord

__all__ = [
    "E2E_BUCKETS_S",
    "ITL_BUCKETS_S",
    "TTFT_BUCKETS_S",
    "LiveFeed",
    "new_run_id",
    "serving",
]

# bucket edges in seconds (upper bounds; +Inf is added): dense where LLM latencies sit
TTFT_BUCKETS_S = (
    *(0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75),
    *(1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0),
)
ITL_BUCKETS_S = (
    *(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05),
    *(0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0),
)
E2E_BUCKETS_S = (
    *(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0),
    *(45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0),
)
MAX_LABEL_CHARS = 128  # a model name from a server, as a label value
OUTCOME_OK = "ok"


def new_run_id() -> str:
    """`20261206T214433Z-9f3a`: the start instant (UTC) and 4 random hex digits."""
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


@dataclass(slots=True)
class _Histogram:
    """Cumulative-on-render bucket counts of one distribution, in integer nanoseconds."""

    edges_ns: tuple[int, ...]
    counts: list[int] = field(default_factory=list)
    sum_ns: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.edges_ns) + 1)  # the last: above every edge (+Inf)

    def add(self, value_ns: int) -> None:
        self.counts[bisect_left(self.edges_ns, value_ns)] += 1
        self.sum_ns += value_ns

    def add_all(self, values_ns: Sequence[int]) -> None:
        counts = self.counts
        for i in map(partial(bisect_left, self.edges_ns), values_ns):
            counts[i] += 1
        self.sum_ns += sum(values_ns)

    def buckets(self, edges_s: tuple[float, ...]) -> list[tuple[str, float]]:
        running, out = 0, []
        for edge, count in zip((*edges_s, None), self.counts, strict=True):
            running += count
            out.append(("+Inf" if edge is None else repr(edge), float(running)))
        return out


def _edges_ns(edges_s: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(edge * 1e9) for edge in edges_s)


@dataclass(slots=True)
class _ModelCounts:
    """Everything counted for one model label."""

    outcomes: dict[str, int] = field(default_factory=dict)
    output_tokens: int = 0
    ttft: _Histogram = field(default_factory=lambda: _Histogram(_edges_ns(TTFT_BUCKETS_S)))
    itl: _Histogram = field(default_factory=lambda: _Histogram(_edges_ns(ITL_BUCKETS_S)))
    e2e: _Histogram = field(default_factory=lambda: _Histogram(_edges_ns(E2E_BUCKETS_S)))


class LiveFeed:
    """This run's metrics for Prometheus: fed with records, read by the collector."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.model = ""  # the label of records that name no requested model
        self.from_schedule = False  # --latency-from schedule: TTFT and E2E from the schedule
        self._lock = threading.Lock()
        self._by_model: dict[str, _ModelCounts] = {}
        self._in_flight: Callable[[], int] | None = None
        self._ended = False  # the run is over: a scrape now reads the final values
        self._final_collected = False  # a scrape has collected them (its answer may be going)
        self.final_read = threading.Event()  # set once such an answer has been written

    def begin(self, model: str | None, *, from_schedule: bool = False) -> None:
        """A run (or a sweep's level) starts: the model its records are labelled with."""
        self.model = _label(model or "")
        self.from_schedule = from_schedule

    def attach_in_flight(self, read: Callable[[], int] | None) -> None:
        """The runner's count of requests in flight, read at each scrape (None: none)."""
        self._in_flight = read

    def add(self, record: RequestRecord) -> None:
        """Count one finished request in (warm-up and ramp ones too: this is a live view)."""
        # the record's requested model, when a run sends to several models
        requested = getattr(record, "requested_model", None)
        model = _label(requested) if isinstance(requested, str) else self.model
        outcome = OUTCOME_OK if record.error_kind is None else _label(record.error_kind)
        shift = record.send_ns - record.scheduled_ns if self.from_schedule else 0
        with self._lock:
            counts = self._by_model.get(model)
            if counts is None:
                counts = self._by_model[model] = _ModelCounts()
            counts.outcomes[outcome] = counts.outcomes.get(outcome, 0) + 1
            if record.error_kind is not None:
                return  # a failed request's partial timings are not latencies
            counts.e2e.add(record.e2e_ns + shift)
            ttft = record.ttft_ns
            if ttft is not None:
                counts.ttft.add(ttft + shift)
            gaps = record.token_gaps_ns
            if gaps:
                counts.itl.add_all(gaps)
            if record.output_tokens:
                counts.output_tokens += record.output_tokens

    def end(self) -> None:
        """The run is over: the next scrape reads the final values (see `linger`)."""
        self._in_flight = None
        self._ended = True

    def collect(self) -> Iterator[Metric]:
        """The metric families, as prometheus-client's registry asks a collector."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        ended = self._ended
        with self._lock:
            snapshot = [(model, _copy(c)) for model, c in sorted(self._by_model.items())]
        requests = CounterMetricFamily(
            "llmbench_requests",
            "Requests finished, by outcome (ok, or the failure's error kind)",
            labels=["run_id", "model", "outcome"],
        )
        tokens = CounterMetricFamily(
            "llmbench_output_tokens",
            "Output tokens of the requests finished ok",
            labels=["run_id", "model"],
        )
        for model, counts in snapshot:
            for outcome, n in sorted(counts.outcomes.items()):
                requests.add_metric([self.run_id, model, outcome], n)
            tokens.add_metric([self.run_id, model], counts.output_tokens)
        yield requests
        yield tokens
        read = self._in_flight
        if read is not None:
            flight = GaugeMetricFamily(
                "llmbench_requests_in_flight",
                "Requests sent and not yet finished (single-process runs)",
                labels=["run_id", "model"],
            )
            flight.add_metric([self.run_id, self.model], read())
            yield flight
        for name, text, edges, pick in _HISTOGRAMS:
            family = HistogramMetricFamily(name, text, labels=["run_id", "model"])
            for model, counts in snapshot:
                hist = pick(counts)
                family.add_metric(
                    [self.run_id, model], hist.buckets(edges), sum_value=hist.sum_ns / 1e9
                )
            yield family
        if ended:
            self._final_collected = True

    def served(self) -> None:
        """A scrape's response has been written: the final values are out once one was."""
        if self._final_collected:
            self.final_read.set()

    def linger(self, max_s: float) -> bool:
        """After the run: wait until a scrape has read the final values, at most `max_s`
        seconds (Ctrl-C ends the wait). Whether one did."""
        self.end()
        if max_s <= 0:
            return self.final_read.is_set()
        try:
            return self.final_read.wait(max_s)
        except KeyboardInterrupt:
            return self.final_read.is_set()


def _copy(counts: _ModelCounts) -> _ModelCounts:
    def hist(h: _Histogram) -> _Histogram:
        out = _Histogram(h.edges_ns)
        out.counts, out.sum_ns = list(h.counts), h.sum_ns
        return out

    return _ModelCounts(
        dict(counts.outcomes), counts.output_tokens, hist(counts.ttft), hist(counts.itl),
        hist(counts.e2e),
    )  # fmt: skip


_HISTOGRAMS: tuple[
    tuple[str, str, tuple[float, ...], Callable[[_ModelCounts], _Histogram]], ...
] = (
    (
        "llmbench_ttft_seconds",
        "Time to first token of requests finished ok (send, or schedule, to first output event)",
        TTFT_BUCKETS_S,
        lambda c: c.ttft,
    ),
    (
        "llmbench_itl_seconds",
        "Inter-token latency: each gap between output events of requests finished ok",
        ITL_BUCKETS_S,
        lambda c: c.itl,
    ),
    (
        "llmbench_e2e_seconds",
        "End-to-end latency of requests finished ok (send, or schedule, to the last byte)",
        E2E_BUCKETS_S,
        lambda c: c.e2e,
    ),
)


def _label(text: str) -> str:
    """An outside text as a label value: one printable line, capped (prometheus-client
    escapes quotes, backslashes and newlines for the exposition format)."""
    return one_line(text)[:MAX_LABEL_CHARS]


class _Handler(WSGIRequestHandler):
    """Writes each response; tells the feed when one has gone out; logs nothing."""

    def handle(self) -> None:
        super().handle()
        feed: LiveFeed = getattr(self.server, "feed")  # noqa: B009 (set by _serve)
        feed.served()

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse lookup of the address (`getfqdn`), which can
        wait on DNS for seconds: the feed needs no server name."""
        TCPServer.server_bind(self)
        self.server_name, self.server_port = "llmbench-async", self.server_address[1]
        self.setup_environ()


class _Server6(_Server):
    address_family = socket.AF_INET6


@dataclass(slots=True)
class Serving:
    """A feed and the HTTP server serving it."""

    feed: LiveFeed
    url: str
    _server: WSGIServer

    def linger(self, max_s: float) -> bool:
        return self.feed.linger(max_s)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _serve(feed: LiveFeed, host: str, port: int) -> Serving:
    """Bind and serve `feed` at http://host:port/metrics; a ConfigError (exit 2) when the
    address cannot be had (in use, not ours, not resolvable)."""
    from prometheus_client import CollectorRegistry, make_wsgi_app

    registry = CollectorRegistry(auto_describe=False)
    registry.register(feed)  # a collector: prometheus-client calls its collect()
    app = make_wsgi_app(registry)
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, port), _Handler)
    except OSError as exc:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be had ({exc.strerror})"
        raise ConfigError(f"--prometheus-port: {where} {reason}") from None
    server.set_app(app)
    server.feed = feed  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="prometheus-feed", daemon=True).start()
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    return Serving(feed, f"http://{shown}:{bound}/metrics", server)


@contextmanager
def serving(options: ObserveOptions, *, announce: bool = True) -> Iterator[Serving | None]:
    """The feed `options` ask for, served until the block ends (None when not asked)."""
    if options.prometheus_port is None:
        yield None
        return
    served = _serve(LiveFeed(new_run_id()), options.prometheus_host, options.prometheus_port)
    if announce:
        sys.stderr.write(
            f"llmbench-async: Prometheus metrics at {served.url} (run_id {served.feed.run_id})\n"
        )
        sys.stderr.flush()
    try:
        yield served
    finally:
        served.close()
