"""One benchmark session end to end: resolve the model, run the load (here through the
runner, or over worker processes), write the results file, summarise, diagnose; and
`run_sweep`, one session per load level."""

from __future__ import annotations

import datetime as dt
import functools
import platform
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import httpx

from .._version import VERSION
from ..config import ObserveOptions, RunConfig
from ..errors import ConfigError, ErrorKind, TargetError, classify_exception
from ..inbound import BodyError, get_bounded, loads
from ..limits import MAX_MODELS_BYTES
from ..loadgen.ray_backend import run_ray
from ..loadgen.ready import wait_ready
from ..loadgen.runner import DriveOutcome, RecordSink, drive
from ..loadgen.workers import run_workers
from ..loadgen.workload import PromptItem, load_prompts
from ..outcomes import Expect
from ..records import RequestRecord
from ..redact import mask_url, safe_excerpt
from ..results.facts import describe_target, endpoint_text
from ..results.gate import Threshold, judge
from ..results.goodput import is_good, parse_goodput
from ..results.slo_windows import SloOverTime, SloWindows, window_width
from ..results.stats import Summary, SummaryBuilder, lag_summary
from ..results.steady import Convergence, SteadyAcc, steady_state, steady_target
from ..results.sweep import DEFAULT_MIN_ACHIEVED, Level, LevelResult, is_judged
from ..shapes import parse_load_shape
from ..watch.feed import LiveFeed, serving
from ..watch.live import live_enabled, print_header
from ..watch.observe import Observer
from ..wire.assemble import auth_headers, build_target, key_headers
from ..wire.client import Target
from ..wire.diagnosis import redirect_failure
from ..wire.protocol import error_message_from_body
from ..wire.route import client_for, describe_route, route_of
from .results_file import ResultsWriter


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run produced: its summary, every record, and how the run itself went."""

    config: RunConfig
    model: str
    summary: Summary
    records: list[RequestRecord] = field(repr=False)  # empty when not kept
    outcome: DriveOutcome
    started_at: str  # ISO 8601 wall-clock start (UTC)
    problem: str | None  # one line saying why the target looked unusable, else None
    route: str | None = None  # e.g. "via proxy http://***@proxy:3128 · HTTP/2"; None: direct
    timeseries: dict[str, Any] | None = field(default=None, repr=False)  # Observer.to_json()
    output_failure: str | None = None  # one line: the results file (-o) could not be written
    # --fail-if judged per window of a --load-shape run (None: no shape or no thresholds)
    slo_over_time: SloOverTime | None = None
    # the summary JSON's `steady_state` and (--until-stable) `convergence` (results/steady.py)
    steady_state: dict[str, Any] | None = field(default=None, repr=False)
    convergence: dict[str, Any] | None = None

    @property
    def endpoint_label(self) -> str:
        """The endpoint as the report shows it, with the route when it is not plain."""
        endpoint = endpoint_text(self.config)
        return endpoint if self.route is None else f"{endpoint} ({self.route})"

    @property
    def client_stats(self) -> dict[str, Any]:
        """Self-check figures: event-loop lag, CPU share and achieved concurrency."""
        return client_stats(self.outcome)


def client_stats(outcome: DriveOutcome) -> dict[str, Any]:
    """Event-loop lag p50/p99/max (ms), CPU (% of one core, summed over processes), peak
    requests in flight."""
    wall = max(1e-9, (outcome.ended_ns - outcome.started_ns) / 1e9)
    ray = {"ray": dict(outcome.distributed)} if outcome.distributed is not None else {}
    return {
        "loop_lag_ms": lag_summary(outcome.loop_lag_ms),
        "cpu_percent": 100.0 * outcome.cpu_s / wall,
        "peak_in_flight": outcome.peak_in_flight,
        **ray,
    }


def run(
    config: RunConfig,
    *,
    progress: bool = False,
    handle_signals: bool = False,
    keep_records: bool = True,
    observe: ObserveOptions | None = None,
    feed: LiveFeed | None = None,
    slo: Sequence[Threshold] = (),
) -> RunResult:
    """Run a benchmark synchronously (the public Python API). With
    `observe.prometheus_port` and no `feed`, the run serves its own live feed, lingering
    after the run as `observe.prometheus_linger_s` says. `slo`: thresholds to judge per
    time window when the load has a shape (`RunResult.slo_over_time`)."""
    options = observe or ObserveOptions()
    with ExitStack() as stack:
        served = None
        if feed is None and options.prometheus_port is not None:
            served = stack.enter_context(serving(options))
            feed = None if served is None else served.feed
        result: RunResult = anyio.run(
            functools.partial(
                run_async,
                config,
                progress=progress,
                handle_signals=handle_signals,
                keep_records=keep_records,
                observe=observe,
                feed=feed,
                slo=slo,
            )
        )
        if served is not None:
            served.linger(options.prometheus_linger_s)
    return result


async def run_async(
    config: RunConfig,
    *,
    progress: bool = False,
    handle_signals: bool = False,
    keep_records: bool = True,
    observe: ObserveOptions | None = None,
    feed: LiveFeed | None = None,
    slo: Sequence[Threshold] = (),
) -> RunResult:
    """Run a benchmark inside an existing event loop. With `keep_records=False` the records
    only feed the summary and the results file, so memory stays small for huge runs.
    `observe` says what else to watch (time-series window, the server's metrics); `feed`
    (watch/feed.py) is told of each record as it completes."""
    prompts = _read_inputs(config)
    # total and read limits are enforced per request by the client's watchdog
    timeout = httpx.Timeout(None, connect=config.timeouts.connect)
    async with client_for(config, timeout=timeout) as http:
        if config.ready_timeout_s is not None:
            await wait_ready(http, config, config.ready_timeout_s)
        model = config.model or await _model_from_server(http, config)
        config = replace(config, model=model)
        target = build_target(config)
        started_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        t0 = time.perf_counter_ns()
        observer = Observer(observe or ObserveOptions(), config, t0, key_headers(config), feed)
        new_builder = summary_builder(config)
        windows = _slo_windows(config, slo, t0, observer.series.base_window_ns / 1e9, new_builder)
        if live_enabled(progress):
            print_header(config, sys.stderr)
        header = _header(config, started_at, t0, None if feed is None else feed.run_id)
        writer = ResultsWriter(config.output, header, t0, config.secrets) if config.output else None
        sink = _Sink(config, new_builder(), observer, writer, keep_records, windows)
        try:
            async with observer.scraping():
                outcome = await _dispatch(
                    *(http, config, sink, progress, handle_signals, prompts, target),
                    feed=feed,
                    converge=sink.converge,
                    every_s=(observe or ObserveOptions()).window_s,
                )
            convergence = None if sink.converge is None else sink.converge.to_json()
            if writer is not None:
                writer.write_footer(_footer(outcome, t0, observer) | {"convergence": convergence})
        finally:
            if writer is not None:
                writer.close()
        summary = sink.builder.summary()
        problem = await _diagnose(http, config, summary, outcome)
    return RunResult(
        config=config,
        model=model,
        summary=summary,
        records=sink.records,
        outcome=outcome,
        started_at=started_at,
        problem=problem,
        route=describe_route(config, target.protocols),
        timeseries=observer.to_json(),
        output_failure=writer.failure if writer is not None else None,
        steady_state=steady_state(sink.steady, steady_target(config.to_public_dict())),
        convergence=convergence,
        slo_over_time=None if windows is None else windows.result(),
    )


def summary_builder(config: RunConfig) -> Callable[[], SummaryBuilder]:
    """A maker of the run's summary builders (the whole run's, each SLO window's)."""
    # several models: no one model the answers must name; each request's own is checked
    # by the client (wire/client.py)
    model = None if config.models else config.model
    # a trace replay's max_tokens is each row's own: none to compare against
    max_tokens = None if config.trace else config.max_tokens
    expect = Expect(model, max_tokens, config.ignore_eos, config.api)
    return functools.partial(
        SummaryBuilder,
        latency_from=config.latency_from,
        good=good_predicate(config),
        expect=expect,
    )


def _slo_windows(
    config: RunConfig,
    slo: Sequence[Threshold],
    t0: int,
    window_s: float,
    new_builder: Callable[[], SummaryBuilder],
) -> SloWindows | None:
    """The per-window judge of a --load-shape run with thresholds (None otherwise)."""
    if not slo or config.load_shape is None:
        return None
    return SloWindows(
        slo,
        t0_ns=t0,
        window_s=window_width(window_s, config.duration_s),
        peak_end_s=parse_load_shape(config.load_shape).peak_end(),
        builder=new_builder,
    )


class _Sink:
    """Where every record of a run goes: the summary, the steady-state window, the observer,
    the kept records (`keep_records`) and the results file; and --until-stable's check,
    which reads the summary's samples as they come."""

    def __init__(
        self,
        config: RunConfig,
        builder: SummaryBuilder,
        observer: Observer,
        writer: ResultsWriter | None,
        keep_records: bool,
        windows: SloWindows | None = None,
    ) -> None:
        self.builder, self.windows = builder, windows
        self.steady = SteadyAcc(latency_from=config.latency_from)
        self.observer, self.writer, self.keep = observer, writer, keep_records
        self.records: list[RequestRecord] = []
        self.converge = (
            Convergence(config.until_stable, self.builder.samples_of, self._first_send)
            if config.until_stable
            else None
        )

    def _first_send(self) -> int | None:
        return self.builder.first_send

    def __call__(self, record: RequestRecord) -> None:
        self.builder.add(record)
        self.steady.add(record)
        self.observer.add(record)
        if self.windows is not None:
            self.windows.add(record)
        if self.keep:
            self.records.append(record)
        if self.writer is not None:
            self.writer.write(record)


def _read_inputs(config: RunConfig) -> tuple[PromptItem, ...] | None:
    """Read before any request, so that a bad prompt file, dataset or --goodput is a usage
    error, not a failed run: the plain prompts (None when the workload makes its own)."""
    good_predicate(config)
    if config.dataset is not None:
        from ..loadgen.datasets import dataset_spec, load_dataset

        load_dataset(dataset_spec(config))
    plain = config.input_tokens is None and config.dataset is None
    return load_prompts(config) if plain else None


def _footer(outcome: DriveOutcome, t0: int, observer: Observer) -> dict[str, Any]:
    """The results file's last line: how the run ended, the client's health, the scrapes."""
    return {
        "interrupted_by": outcome.interrupted_by,
        "cancelled": outcome.cancelled,
        "not_sent": outcome.not_sent,
        "lost": outcome.lost,
        "duration_s": (outcome.ended_ns - t0) / 1e9,
        "client": client_stats(outcome),
        "server_metrics": observer.server_json(),
    }


async def _model_from_server(http: httpx.AsyncClient, config: RunConfig) -> str:
    """The first model id of GET /models, within the run's read (or total) time limit."""
    limits = [t for t in (config.timeouts.read, config.timeouts.total) if t is not None]
    model: str | None = None
    with anyio.move_on_after(min(limits, default=60.0)) as scope:
        model = await discover_model(http, config)
    if scope.cancelled_caught or model is None:
        raise TargetError(f"{mask_url(config.models_url)} did not answer; pass --model")
    return model


async def _dispatch(
    http: httpx.AsyncClient,
    config: RunConfig,
    sink: RecordSink,
    progress: bool,
    handle_signals: bool,
    prompts: tuple[PromptItem, ...] | None,
    target: Target,
    feed: LiveFeed | None = None,
    *,
    converge: Convergence | None = None,
    every_s: float = 1.0,
) -> DriveOutcome:
    """Drive the load where the config says: N Ray actors, N worker processes, or here
    (only here is the count of requests in flight known, for the live feed);
    `converge`: --until-stable's check, asked every `every_s` (single process only)."""
    if config.ray_address is not None:
        return await run_ray(config, sink, progress=progress, handle_signals=handle_signals)
    if config.workers > 1:
        return await run_workers(config, sink, progress=progress, handle_signals=handle_signals)
    return await drive(
        http,
        config,
        sink,
        progress=progress,
        handle_signals=handle_signals,
        prompts=prompts,
        target=target,
        in_flight_to=None if feed is None else feed.attach_in_flight,
        until=None if converge is None else converge.check,
        until_every_s=every_s,
    )


def good_predicate(config: RunConfig) -> Callable[[RequestRecord], bool] | None:
    """Whether a record counts toward goodput (None without --goodput)."""
    if not config.goodput:
        return None
    spec = parse_goodput(config.goodput)
    return functools.partial(is_good, spec=spec, from_schedule=config.latency_from == "schedule")


def _header(
    config: RunConfig, started_at: str, t0_ns: int, run_id: str | None = None
) -> dict[str, Any]:
    """The results file's first line; `run_id`: the live feed's `run_id` label, if any."""
    feed = {} if run_id is None else {"prometheus_run_id": run_id}
    return {
        **feed,
        "tool": "llmbench-async",
        "version": VERSION,
        "started_at": started_at,
        # the file's instants are ns after this perf_counter_ns reading, which on Linux is
        # CLOCK_MONOTONIC: add it to line up records with a server's monotonic log
        "t0_monotonic_ns": t0_ns,
        "config": config.to_public_dict(),
        **describe_target(config),  # what ran, as data (results/facts.py: SavedRun reads it)
        "route": route_of(config),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "httpx": httpx.__version__,
        },
    }


async def discover_model(http: httpx.AsyncClient, config: RunConfig) -> str:
    """The first model id from GET /models, or a TargetError that says what to do."""
    url = config.models_url
    shown = mask_url(url)
    try:
        resp = await get_bounded(http, url, MAX_MODELS_BYTES, "/models", auth_headers(config))
    except BodyError as exc:
        raise TargetError(f"could not list models at {shown}: {exc}; pass --model") from None
    except Exception as exc:
        err = classify_exception(exc)
        hint = "; use --ca-bundle or --insecure" if err.kind is ErrorKind.TLS else ""
        reason = safe_excerpt(err.message, config.secrets)
        raise TargetError(f"cannot reach {mask_url(config.base_url)}: {reason}{hint}") from None
    if resp.status in (401, 403):
        raise TargetError(auth_message(resp.status))
    if 300 <= resp.status < 400:
        err = redirect_failure(resp.status, resp.headers.get("location"), url, config.secrets)
        raise TargetError(f"could not list models at {shown}: {err.message}; or pass --model")
    if resp.status != 200:
        detail = error_message_from_body(resp.body, secrets=config.secrets)
        raise TargetError(
            f"could not list models at {shown} (HTTP {resp.status}: {detail}); pass --model"
        )
    ids = _model_ids(resp.body)
    if not ids:
        raise TargetError(f"{shown} listed no models; pass --model")
    return ids[0]


def _model_ids(body: bytes) -> list[str]:
    try:
        data = loads(body, "/models").get("data")
    except (ConfigError, AttributeError):
        return []
    if not isinstance(data, list):
        return []
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]


def auth_message(status: int) -> str:
    return f"authentication failed ({status}): check --api-key / OPENAI_API_KEY"


_UNREACHABLE = (ErrorKind.CONNECT, ErrorKind.CONNECT_TIMEOUT, ErrorKind.TLS)


async def _diagnose(
    http: httpx.AsyncClient,
    config: RunConfig,
    summary: Summary,
    outcome: DriveOutcome,
) -> str | None:
    """One line saying why the target is unusable, or None when it answered."""
    if outcome.lost is not None and outcome.interrupted_by is None:
        reason = safe_excerpt(outcome.lost, config.secrets)
        return f"target lost after {summary.ok} ok: {reason}"
    fatal = outcome.fatal
    if fatal is not None and fatal.error_kind == ErrorKind.AUTH:
        return auth_message(fatal.status or 401)
    if fatal is not None and fatal.error_kind == ErrorKind.NOT_FOUND:
        try:
            resp = await get_bounded(
                http, config.models_url, MAX_MODELS_BYTES, "/models", auth_headers(config)
            )
            available = _model_ids(resp.body) if resp.status == 200 else []
        except Exception:
            available = []
        return _not_found(config, available)
    if fatal is not None and fatal.error_kind in _UNREACHABLE:
        hint = "; use --ca-bundle or --insecure" if fatal.error_kind == ErrorKind.TLS else ""
        reason = safe_excerpt(fatal.error_message or "", config.secrets)
        during = "" if summary.total else " during the warm-up"
        shown = mask_url(config.endpoint_url or config.base_url)  # where the requests went
        return f"cannot reach {shown}{during}: {reason}{hint}"
    if fatal is not None and not summary.total and outcome.interrupted_by is None:
        # every failure was a warm-up request: the run stopped before measuring anything
        reason = safe_excerpt(fatal.error_message or "", config.secrets)
        return f"the target failed during the warm-up; {fatal.error_kind}: {reason}"
    if summary.total and not summary.ok and outcome.interrupted_by is None:
        top = summary.errors[0]  # the most frequent kind, with its first message
        hint = "; use --ca-bundle or --insecure" if top.kind == ErrorKind.TLS else ""
        first = safe_excerpt(top.first_message, config.secrets)
        return f"every request failed; {top.kind} ({top.count}): {first}{hint}"
    return None


def _not_found(config: RunConfig, available: list[str]) -> str:
    """Why a request got 404: the model is not served, or (when /models lists it) the URL is
    not the API's; the URL shown with its query and any password masked."""
    url = safe_excerpt(mask_url(config.endpoint), config.secrets, 200)
    models_url = safe_excerpt(mask_url(config.models_url), config.secrets, 200)
    model = safe_excerpt(str(config.model), config.secrets, 200)
    if config.model is not None and config.model in available:
        return (
            f"{url} returned 404 (HTTP 404), though {models_url} lists model "
            f"'{model}': the server has no --api {config.api} at that path; "
            "check --api or give the full URL with --endpoint"
        )
    if available:
        shown = ", ".join(safe_excerpt(m, config.secrets, 100) for m in available[:10])
        shown += ", ..." if len(available) > 10 else ""
        return f"model '{model}' not found; available: {shown}"
    return f"model '{model}' or {url} not found (HTTP 404)"


def run_sweep(
    levels: Sequence[Level],
    thresholds: Sequence[Threshold],
    *,
    progress: bool,
    stop_on_fail: bool,
    min_achieved: float = DEFAULT_MIN_ACHIEVED,
    on_level: Callable[[LevelResult, RunResult], None],
    observe: ObserveOptions | None = None,
    feed: LiveFeed | None = None,
) -> None:
    """Run each level in turn and judge it (by the thresholds and, in a rate sweep, by the
    rate it achieved against `min_achieved`); stop early on a signal, or at the first failing
    level with `stop_on_fail`. `on_level` receives every level as it ends."""
    options = observe or ObserveOptions()
    with ExitStack() as stack:
        served = None
        if feed is None and options.prometheus_port is not None:
            served = stack.enter_context(serving(options))  # one feed for every level
            feed = None if served is None else served.feed
        _levels(levels, thresholds, progress, stop_on_fail, min_achieved, on_level, observe, feed)
        if served is not None:
            served.linger(options.prometheus_linger_s)


def _levels(
    levels: Sequence[Level],
    thresholds: Sequence[Threshold],
    progress: bool,
    stop_on_fail: bool,
    min_achieved: float,
    on_level: Callable[[LevelResult, RunResult], None],
    observe: ObserveOptions | None,
    feed: LiveFeed | None,
) -> None:
    judged = is_judged(levels, thresholds)
    for level in levels:
        result = run(
            level.config,
            progress=progress,
            handle_signals=True,
            keep_records=False,
            observe=observe,
            feed=feed,
        )
        interrupted = result.outcome.interrupted_by
        done = LevelResult(
            level,
            result.summary,
            judge(result.summary, thresholds),
            result.problem,
            interrupted,
            peak_in_flight=result.outcome.peak_in_flight,
            min_achieved=min_achieved,
        )
        on_level(done, result)
        lost = result.outcome.lost is not None
        unusable = result.outcome.fatal is not None and not result.summary.ok
        if interrupted or lost or unusable or (stop_on_fail and judged and not done.passed):
            return


__all__ = ["RunResult", "TargetError", "run", "run_async", "run_sweep"]
