"""A calibration: the run's own load replayed against the built-in mock, started on this
machine with its truth log, and the client's error on each clock measured against it
(results/calibration.py holds the matching and the verdict; docs/calibrate.md).

`calibrate` serves `calibrate`, the command, with the timing given to it; `after_run` serves
`--calibrate`, replaying the shape the target showed in the run just made.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import RunConfig
from ..errors import MockServerError
from ..loadgen.workers import worker_configs
from ..results.calibration import ClientError, Replay, measure, read_truth, replay_of_summary
from ..results.calibration import replay_requests as _replay_requests
from ..results.facts import MOCK_ENDPOINT
from .run import RunResult, run

__all__ = ["Calibration", "after_run", "calibrate", "replay_config"]

CALIBRATION_KEY = "sk-calibrate"  # sent to the local mock only: never the run's own key


@dataclass(frozen=True, slots=True)
class Calibration:
    """The calibration's own run (against the mock) and the error it measured."""

    result: RunResult
    client_error: ClientError | None  # None: interrupted before it could be measured


def replay_config(config: RunConfig, base_url: str) -> RunConfig:
    """The run's load and requests, sent to the local mock: same API, load shape, workers,
    prompts and token budget; no proxy, TLS, custom endpoint, results file or Ray."""
    return replace(
        config,
        base_url=base_url,
        api_key=CALIBRATION_KEY,
        endpoint_url=None,
        target_name=MOCK_ENDPOINT,
        api_key_header=None,
        max_tokens_field=None,
        proxy=None,
        proxy_env=False,
        http2=False,
        verify=True,
        ready_timeout_s=None,
        ray_address=None,
        ray_actors=None,
        ray_per_node=None,
        headers={k: v for k, v in config.headers.items() if not config.is_secret_header(k)},
    )


def calibrate(
    config: RunConfig,
    replay: Replay,
    *,
    progress: bool = False,
    handle_signals: bool = True,
    cpus: int | None = None,
) -> Calibration:
    """Start the mock with `replay`'s timing and a truth log, run `config`'s load against it
    (the model it names is served), and measure the client's error on every clock. `cpus`:
    the cores a real run's client may use (the verdict's `--workers` hint); default: all."""
    from ..mock import MockConfig, MockProcess  # only a calibration loads the mock

    with tempfile.TemporaryDirectory(prefix="llmbench-calibrate-") as tmp:
        log = Path(tmp) / "truth.jsonl"
        mock_config = MockConfig(
            ttft_ms=replay.ttft_ms,
            itl_ms=replay.itl_ms,
            tokens=replay.tokens,
            models=(config.model or "mock-model",),
            log_path=str(log),
            seed=0,
        )
        mock = MockProcess(mock_config)
        try:
            try:
                mock.start()
            except RuntimeError as exc:  # the mock did not start
                raise MockServerError(f"the calibration's {str(exc).splitlines()[0]}") from None
            replayed = replay_config(config, mock.base_url)
            result = run(
                replayed, progress=progress, handle_signals=handle_signals, keep_records=True
            )
        finally:  # stopped even when Ctrl-C came while it was starting
            mock.__exit__(None, None, None)
        if result.outcome.interrupted_by is not None:
            return Calibration(result, None)
        truth = read_truth(log) if log.exists() else {}
    # the processes that ran (no more than the slots or requests), and how many could
    workers = len(worker_configs(config)) if config.workers > 1 else 1
    cap = config.concurrency if config.rate is None else (config.max_concurrency or 0)
    room = min(
        x for x in (usable_cpus() if cpus is None else cpus, cap or 1 << 30, config.n or 1 << 30)
    )
    error = measure(
        result.records,
        truth,
        replay,
        result.client_stats,
        workers=workers,
        cpus=max(1, room),
        from_schedule=config.latency_from == "schedule",
        first_wave=config.concurrency if config.rate is None else 0,
    )
    return Calibration(replace(result, records=[]), error)


def after_run(result: RunResult, *, quiet: bool, cpus: int | None = None) -> Calibration | None:
    """`--calibrate`: the same load, at most `replay_requests` requests, against the mock
    answering with the shape the target showed (its medians); None when the run had no
    successful request to take a shape from."""
    config = result.config
    replay = replay_of_summary(result.summary, config.max_tokens)
    if replay is None:
        return None
    n = replay_requests(config, result.summary.total)
    replayed = replace(config, n=n, duration_s=None, warmup_s=0.0, output=None)
    if not quiet:
        sys.stderr.write(
            f"llmbench-async: calibrating: {n} requests of the same load against the built-in "
            f"mock ({replay.text()})\n"
        )
    return calibrate(replayed, replay, cpus=cpus)


def replay_requests(config: RunConfig, measured: int) -> int:
    """How many requests `--calibrate` replays for this run (results/calibration.py)."""
    return _replay_requests(config.concurrency, config.rate, config.max_concurrency, measured)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
