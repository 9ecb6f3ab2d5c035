"""One benchmark run end to end: resolve the model, run the pool, collect records, summarise."""

from __future__ import annotations

import datetime as dt
import functools
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
import httpx

from .apis import api_spec
from .client import Target
from .config import RunConfig, is_secret_header, scrub_secrets
from .errors import ErrorKind, classify_exception
from .goodput import is_good, parse_goodput
from .protocol import error_message_from_body
from .records import RequestRecord, ResultsWriter
from .runner import RecordSink, RunOutcome, run_requests
from .stats import Summary, SummaryBuilder, percentile
from .transport import make_client
from .workers import run_workers
from .workload import Conversation, PromptItem, SyntheticInput, Workload, load_prompt_file


class TargetError(Exception):
    """The target cannot be benchmarked (unreachable, bad key, unknown model): exit 3."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run produced: its summary, every record, and how the run itself went."""

    config: RunConfig
    model: str
    summary: Summary
    records: list[RequestRecord] = field(repr=False)  # empty when not kept
    outcome: RunOutcome
    started_at: str  # ISO 8601 wall-clock start (UTC)
    problem: str | None  # one line saying why the target looked unusable, else None

    @property
    def client_stats(self) -> dict[str, Any]:
        """Self-check figures: event-loop lag, CPU share and achieved concurrency."""
        return client_stats(self.outcome)


def client_stats(outcome: RunOutcome) -> dict[str, Any]:
    """Event-loop lag p50/p99/max (ms), CPU (% of one core, summed over processes), peak
    requests in flight."""
    lag = sorted(outcome.loop_lag_ms)
    wall = max(1e-9, (outcome.ended_ns - outcome.started_ns) / 1e9)
    return {
        "loop_lag_ms": {
            "p50": percentile(lag, 50) if lag else 0.0,
            "p99": percentile(lag, 99) if lag else 0.0,
            "max": lag[-1] if lag else 0.0,
        },
        "cpu_percent": 100.0 * outcome.cpu_s / wall,
        "peak_in_flight": outcome.peak_in_flight,
    }


def tool_version() -> str:
    try:
        return version("llmbench-async")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def auth_headers(config: RunConfig) -> dict[str, str]:
    """The headers of every request: auth, content negotiation, then the user's --header."""
    return {
        **api_spec(config.api).auth_headers(config.api_key),  # workloads branch: per API
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if _streams(config) else "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": f"llmbench-async/{tool_version()}",
        **config.headers,
    }


def _streams(config: RunConfig) -> bool:
    """Whether responses are streamed: asked for, and the API can (embeddings cannot)."""
    return config.stream and api_spec(config.api).streams


def secrets_of(config: RunConfig) -> tuple[str, ...]:
    """Every value that must never be printed or saved: the key and secret-looking headers."""
    found = [config.api_key]
    found += [v for k, v in config.headers.items() if is_secret_header(k)]
    return tuple(s for s in found if s)


def run(
    config: RunConfig,
    *,
    progress: bool = False,
    handle_signals: bool = False,
    keep_records: bool = True,
) -> RunResult:
    """Run a benchmark synchronously (the public Python API)."""
    result: RunResult = anyio.run(
        functools.partial(
            run_async,
            config,
            progress=progress,
            handle_signals=handle_signals,
            keep_records=keep_records,
        )
    )
    return result


async def run_async(
    config: RunConfig,
    *,
    progress: bool = False,
    handle_signals: bool = False,
    keep_records: bool = True,
) -> RunResult:
    """Run a benchmark inside an existing event loop. With `keep_records=False` the records
    only feed the summary and the results file, so memory stays small for huge runs."""
    if config.dataset is not None:  # workloads branch: a bad file fails before any request
        from .datasets import dataset_spec, load_dataset

        load_dataset(dataset_spec(config))
    # total and read limits are enforced per request by the client's watchdog
    timeout = httpx.Timeout(None, connect=config.timeouts.connect)
    async with make_client(verify=config.verify, timeout=timeout) as http:
        model = config.model
        if model is None:
            with anyio.move_on_after(config.timeouts.read or 60.0) as scope:
                model = await discover_model(http, config)
            if scope.cancelled_caught or model is None:
                raise TargetError(f"{config.base_url}/models did not answer; pass --model")
        config = replace(config, model=model)
        started_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        t0 = time.perf_counter_ns()
        records: list[RequestRecord] = []
        builder = SummaryBuilder(latency_from=config.latency_from, good=good_predicate(config))
        writer = (
            ResultsWriter(config.output, _header(config, started_at), t0) if config.output else None
        )

        def sink(record: RequestRecord) -> None:
            builder.add(record)
            if keep_records:
                records.append(record)
            if writer is not None:
                writer.write(record)

        try:
            if config.workers > 1:
                outcome = await run_workers(
                    config, sink, progress=progress, handle_signals=handle_signals
                )
            else:
                outcome = await drive(
                    http, config, sink, progress=progress, handle_signals=handle_signals
                )
            if writer is not None:
                writer.write_footer(
                    {
                        "interrupted_by": outcome.interrupted_by,
                        "cancelled": outcome.cancelled,
                        "duration_s": (outcome.ended_ns - t0) / 1e9,
                        "client": client_stats(outcome),
                    }
                )
        finally:
            if writer is not None:
                writer.close()
        summary = builder.summary()
        problem = await _diagnose(http, config, summary, outcome)
    return RunResult(
        config=config,
        model=model,
        summary=summary,
        records=records,
        outcome=outcome,
        started_at=started_at,
        problem=problem,
    )


async def drive(
    http: httpx.AsyncClient,
    config: RunConfig,
    sink: RecordSink,
    *,
    progress: bool,
    handle_signals: bool,
    first_index: int = 0,
) -> RunOutcome:
    """Run `config`'s load in this process (a single-process run, or one worker's share)."""
    return await run_requests(
        http,
        build_target(config),
        build_workload(config),
        n=config.n,
        concurrency=config.concurrency if config.rate is None else config.max_concurrency,
        sink=sink,
        pacer=config.pacer,
        duration_s=config.duration_s,
        warmup_requests=config.warmup_requests,
        warmup_s=config.warmup_s,
        progress=progress,
        grace_s=config.grace_s,
        handle_signals=handle_signals,
        first_index=first_index,
        think_time_s=config.think_time_s,
        replay_history=config.replay_history,
    )


def good_predicate(config: RunConfig) -> Callable[[RequestRecord], bool] | None:
    """Workloads branch: whether a record counts toward goodput (None without --goodput)."""
    if not config.goodput:
        return None
    spec = parse_goodput(config.goodput)
    return functools.partial(is_good, spec=spec, from_schedule=config.latency_from == "schedule")


def build_target(config: RunConfig) -> Target:
    """Where and how every request of the run is sent."""
    return Target(
        url=config.endpoint,
        headers=auth_headers(config),
        stream=_streams(config),
        timeouts=config.timeouts,
        retry=config.retry,
        rng=random.Random(),
        secrets=secrets_of(config),
        api=api_spec(config.api),
        batch=config.batch,
    )


def build_workload(config: RunConfig) -> Workload:
    """What every request of the run sends (the model must be resolved)."""
    assert config.model is not None
    conversations: tuple[Conversation, ...] = ()
    if config.dataset is not None:  # workloads branch
        from .datasets import dataset_spec, load_dataset

        prompts, conversations = load_dataset(dataset_spec(config))
    elif config.prompt_file is not None:
        prompts = load_prompt_file(config.prompt_file)
    else:
        prompts = (PromptItem(text=config.prompt),)
    synthetic = None if config.input_tokens is None else SyntheticInput(*config.input_tokens)
    return Workload(
        api=config.api,
        model=config.model,
        prompts=() if synthetic or conversations else prompts,
        max_tokens=config.max_tokens,
        stream=config.stream,
        synthetic=synthetic,
        sample=config.sample_prompts,
        seed=config.seed or 0,
        ignore_eos=config.ignore_eos,
        extra_body=config.extra_body,
        batch=config.batch,
        prefix_tokens=config.prefix_tokens,
        prefix_groups=config.prefix_groups,
        conversations=conversations,
        turns=config.turns,
    )


def _header(config: RunConfig, started_at: str) -> dict[str, Any]:
    return {
        "tool": "llmbench-async",
        "version": tool_version(),
        "started_at": started_at,
        "config": config.to_public_dict(),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "httpx": httpx.__version__,
        },
    }


async def discover_model(http: httpx.AsyncClient, config: RunConfig) -> str:
    """The first model id from GET /models, or a TargetError that says what to do."""
    url = f"{config.base_url}/models"
    try:
        resp = await http.get(url, headers=auth_headers(config))
    except Exception as exc:
        err = classify_exception(exc)
        hint = "; use --ca-bundle or --insecure" if err.kind is ErrorKind.TLS else ""
        raise TargetError(f"cannot reach {config.base_url}: {err.message}{hint}") from None
    if resp.status_code in (401, 403):
        raise TargetError(auth_message(resp.status_code))
    if resp.status_code != 200:
        detail = scrub_secrets(error_message_from_body(resp.content), secrets_of(config))
        raise TargetError(
            f"could not list models at {url} (HTTP {resp.status_code}: {detail}); pass --model"
        )
    ids = _model_ids(resp)
    if not ids:
        raise TargetError(f"{url} listed no models; pass --model")
    return ids[0]


def _model_ids(resp: httpx.Response) -> list[str]:
    try:
        data = resp.json().get("data")
    except (ValueError, AttributeError):
        return []
    if not isinstance(data, list):
        return []
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]


def auth_message(status: int) -> str:
    return f"authentication failed ({status}): check --api-key / OPENAI_API_KEY"


async def _diagnose(
    http: httpx.AsyncClient,
    config: RunConfig,
    summary: Summary,
    outcome: RunOutcome,
) -> str | None:
    """One line saying why the target is unusable, or None when it answered."""
    fatal = outcome.fatal
    if fatal is not None and fatal.error_kind == "auth":
        return auth_message(fatal.status or 401)
    if fatal is not None and fatal.error_kind == "not_found":
        try:
            resp = await http.get(f"{config.base_url}/models", headers=auth_headers(config))
            available = _model_ids(resp) if resp.status_code == 200 else []
        except Exception:
            available = []
        if available:
            shown = ", ".join(available[:10]) + (", ..." if len(available) > 10 else "")
            return f"model '{config.model}' not found; available: {shown}"
        return f"model '{config.model}' or {config.endpoint} not found (HTTP 404)"
    if summary.total and not summary.ok and outcome.interrupted_by is None:
        top = summary.errors[0]  # the most frequent kind, with its first message
        hint = "; use --ca-bundle or --insecure" if top.kind == "tls" else ""
        return f"every request failed; {top.kind} ({top.count}): {top.first_message}{hint}"
    return None


__all__ = ["RunResult", "TargetError", "run", "run_async"]
