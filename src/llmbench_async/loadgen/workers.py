"""`--workers N`: the same runner in N processes, their records merged exactly in the parent.

Each worker is a Python process running `workers.main()`. It reads its full config (key too)
on stdin, so the key never shows in a process list, and writes one JSON line per finished
record to stdout, then a final `outcome` line. Instants are `time.perf_counter_ns()`, which
on Linux is the system-wide CLOCK_MONOTONIC: the records of all processes share one clock
and merge without conversion. Workers run in their own session. The parent forwards
SIGINT / SIGTERM to them once, and a second signal makes them exit at once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import anyio.abc

from ..config import RunConfig, config_from_wire, config_to_wire
from ..records import RequestRecord, record_from_json, record_to_json
from ..watch.live import progress_bar
from ..wire.route import client_for
from .runner import DriveOutcome, RecordSink, StopSignal, drive

# `-c` rather than `-m`: running a module of an already-imported package makes runpy warn
_WORKER_CODE = "from llmbench_async.loadgen.workers import main; main()"


def _share(total: int, parts: int, i: int) -> int:
    """Worker i's part of `total` shared as evenly as possible over `parts`."""
    return total // parts + (1 if i < total % parts else 0)


def worker_configs(config: RunConfig) -> list[tuple[RunConfig, int]]:
    """Each worker's own config and first request index. Counts, concurrency, warm-up and
    rate are shared out; a constant rate's workers are phase-shifted so that together they
    keep the exact spacing; Poisson workers get distinct seeds (a sum of Poisson processes
    is a Poisson process at the sum of the rates)."""
    cap = config.concurrency if config.rate is None else (config.max_concurrency or 0)
    limit = min(x for x in (config.workers, cap or config.workers, config.n or config.workers))
    workers = max(1, limit)
    out: list[tuple[RunConfig, int]] = []
    first = 0
    for i in range(workers):
        n = None if config.n is None else _share(config.n, workers, i)
        warm = _share(config.warmup_requests, workers, i)
        changes: dict[str, Any] = {
            "n": n,
            "workers": 1,
            "warmup_requests": warm,
            "concurrency": max(1, _share(config.concurrency, workers, i)),
        }
        if config.max_concurrency is not None:
            changes["max_concurrency"] = max(1, _share(config.max_concurrency, workers, i))
        if config.rate is not None:
            changes["rate"] = config.rate / workers
            changes["phase_s"] = i / config.rate if config.arrival == "constant" else 0.0
            if config.seed is not None:
                changes["seed"] = config.seed + i
        out.append((replace(config, **changes), first))
        first += (n or 10**12) + warm
    return out


async def run_workers(
    config: RunConfig,
    sink: RecordSink,
    *,
    progress: bool,
    handle_signals: bool,
    stop: StopSignal | None = None,
) -> DriveOutcome:
    """Run `config` over `config.workers` processes; every record goes to `sink`. `stop`
    (a Ray actor's driver) is forwarded to them as a first signal."""
    shares = worker_configs(config)
    bar = progress_bar(config.plan.total, enabled=progress)
    outcomes: list[dict[str, Any]] = []
    processes: list[anyio.abc.Process] = []
    interrupted: list[str] = []
    cpu0 = time.process_time()
    started = time.perf_counter_ns()

    def deliver(record: RequestRecord) -> None:
        sink(record)
        bar.update(1)

    try:
        async with anyio.create_task_group() as tg:
            for share, first in shares:
                wire = config_to_wire(share)
                proc = await anyio.open_process(
                    [sys.executable, "-c", _WORKER_CODE],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=None,
                    start_new_session=True,
                )
                processes.append(proc)
                job = {"config": wire, "first_index": first}
                tg.start_soon(_drive, proc, json.dumps(job).encode(), deliver, outcomes.append)
            async with anyio.create_task_group() as watcher:
                if handle_signals and threading.current_thread() is threading.main_thread():
                    watcher.start_soon(_forward_signals, processes, interrupted)
                if stop is not None:
                    watcher.start_soon(_forward_stop, stop, processes, interrupted)
                await _wait_all(processes)
                watcher.cancel_scope.cancel()
    finally:
        bar.close()
        for proc in processes:
            if proc.returncode is None:
                proc.kill()
    return merge_outcomes(outcomes, started, time.process_time() - cpu0, interrupted)


async def _wait_all(processes: list[anyio.abc.Process]) -> None:
    for proc in processes:
        await proc.wait()


async def _drive(
    proc: anyio.abc.Process,
    job: bytes,
    deliver: Callable[[RequestRecord], None],
    on_outcome: Callable[[dict[str, Any]], None],
) -> None:
    """Feed a worker its job, then turn its stdout lines into records."""
    assert proc.stdin is not None and proc.stdout is not None
    await proc.stdin.send(job)
    await proc.stdin.aclose()
    pending = b""
    async for chunk in proc.stdout:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if not line:
                continue
            obj = json.loads(line)
            if obj.get("type") == "request":
                deliver(record_from_json(obj))
            elif obj.get("type") == "outcome":
                on_outcome(obj)
    await proc.wait()


async def _forward_signals(processes: list[anyio.abc.Process], interrupted: list[str]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            _signal_all(processes, signum, interrupted)


async def _forward_stop(
    stop: StopSignal, processes: list[anyio.abc.Process], interrupted: list[str]
) -> None:
    name = await stop.wait()
    _signal_all(processes, signal.SIGINT if name == "SIGINT" else signal.SIGTERM, interrupted)


def _signal_all(
    processes: list[anyio.abc.Process], signum: signal.Signals, interrupted: list[str]
) -> None:
    if not interrupted:
        interrupted.append("SIGINT" if signum == signal.SIGINT else "SIGTERM")
    for proc in processes:
        if proc.returncode is None:
            proc.send_signal(signum)


def merge_outcomes(
    outcomes: list[dict[str, Any]], started: int, parent_cpu: float, interrupted: list[str]
) -> DriveOutcome:
    """One DriveOutcome from each process's (or Ray actor's) outcome line: the first signal,
    the earliest fatal failure, every lag sample, and the sums of CPU, peaks and cancels."""
    fatal = [record_from_json(o["fatal"]) for o in outcomes if o.get("fatal")]
    signals = [o["interrupted_by"] for o in outcomes if o.get("interrupted_by")]
    lag: list[float] = []
    for o in outcomes:
        lag.extend(o["loop_lag_ms"])
    # each process detects a lost target on its own share (they all see the same target)
    lost = [o["lost"] for o in outcomes if o.get("lost")]
    unsent = [o.get("not_sent") for o in outcomes]
    return DriveOutcome(
        started_ns=started,
        ended_ns=time.perf_counter_ns(),
        interrupted_by=(interrupted or signals or [None])[0],
        fatal=min(fatal, key=lambda r: r.send_ns) if fatal else None,
        loop_lag_ms=tuple(lag),
        cpu_s=parent_cpu + sum(o["cpu_s"] for o in outcomes),
        peak_in_flight=sum(o["peak_in_flight"] for o in outcomes),
        cancelled=sum(o["cancelled"] for o in outcomes),
        lost=lost[0] if lost else None,
        not_sent=None if None in unsent or not unsent else sum(int(x or 0) for x in unsent),
    )


async def _worker(job: dict[str, Any]) -> None:
    config = config_from_wire(job["config"])
    out = sys.stdout.buffer

    def sink(record: RequestRecord) -> None:
        out.write(json.dumps(record_to_json(record, 0), separators=(",", ":")).encode() + b"\n")
        out.flush()

    async with client_for(config) as http:
        first_index = int(job["first_index"])
        outcome = await drive(
            http, config, sink, progress=False, handle_signals=True, first_index=first_index
        )
    final = {
        "type": "outcome",
        "interrupted_by": outcome.interrupted_by,
        "fatal": None if outcome.fatal is None else record_to_json(outcome.fatal, 0),
        "loop_lag_ms": list(outcome.loop_lag_ms),
        "cpu_s": outcome.cpu_s,
        "peak_in_flight": outcome.peak_in_flight,
        "cancelled": outcome.cancelled,
        "lost": outcome.lost,
        "not_sent": outcome.not_sent,
    }
    out.write(json.dumps(final).encode() + b"\n")
    out.flush()


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    anyio.run(_worker, job)


if __name__ == "__main__":
    main()
