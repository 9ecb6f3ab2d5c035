"""The task pool: C long-lived workers pulling request indices, a progress bar, a loop-lag
probe, and a graceful stop on Ctrl-C / SIGTERM or when the target is plainly unusable."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import count

import anyio
import anyio.abc
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream
from tqdm import tqdm

from .client import Target, execute
from .pacing import Pacer
from .records import RequestRecord
from .sessions import Sessions
from .workload import Workload

RecordSink = Callable[[RequestRecord], None]

_LAG_PERIOD_S = 0.01
# failures that, before any success, mean the target is unusable: stop firing
_FATAL_KINDS = frozenset({"auth", "not_found", "connect", "tls"})


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How the run itself went (the records went to the sink)."""

    started_ns: int
    ended_ns: int
    interrupted_by: str | None  # "SIGINT" / "SIGTERM" when a signal stopped the run
    fatal: RequestRecord | None  # the auth / not-found failure that stopped the run early
    loop_lag_ms: tuple[float, ...]  # event-loop lag samples, one per probe period
    cpu_s: float  # process CPU time (user + sys) spent during the run
    peak_in_flight: int
    cancelled: int  # in-flight requests cancelled at the stop (no record written)


class _State:
    """Mutable run state shared by the workers (one instance per run, never global)."""

    def __init__(self) -> None:
        self.stop = False
        self.spent = False  # multi-turn: a session found the request budget spent
        self.in_flight = 0
        self.peak = 0
        self.ok_seen = False
        self.fatal: RequestRecord | None = None
        self.signal: str | None = None
        self.cancelled = 0
        self.pool_scope: anyio.CancelScope | None = None


async def run_requests(
    http: httpx.AsyncClient,
    target: Target,
    workload: Workload,
    *,
    n: int | None,
    concurrency: int | None,
    sink: RecordSink,
    pacer: Pacer | None = None,
    duration_s: float | None = None,
    warmup_requests: int = 0,
    warmup_s: float = 0.0,
    progress: bool = False,
    grace_s: float = 2.0,
    handle_signals: bool = True,
    first_index: int = 0,
    think_time_s: float = 0.0,
    replay_history: bool = False,
) -> RunOutcome:
    """Send requests and hand each record to `sink`.

    Closed loop (`pacer` None): `concurrency` workers, each sending its next request when
    its last one ended. Open loop: requests are due at the pacer's offsets and wait for one
    of `concurrency` slots (None: no cap); the wait shows as queue delay. The run sends
    `warmup_requests` + `n` requests (n None: no count limit), and stops sending after
    `warmup_s` + `duration_s` seconds (None: no time limit). Requests due inside the
    warm-up (by index or by time) are marked `warmup`; in-flight requests at the end finish.

    Multi-turn workloads (workloads branch): the unit of concurrency is a session; it sends
    turn k+1 when turn k has ended (plus `think_time_s`), carrying the server's reply (or
    the dataset's, with `replay_history`); a failed turn ends its session.
    """
    if n is None and duration_s is None:
        raise ValueError("a run needs a request count, a duration or both")
    state = _State()
    lag = array("d")
    indices = count(first_index)
    end_index = None if n is None else first_index + warmup_requests + n
    warm_end_index = first_index + warmup_requests
    total = None if n is None else warmup_requests + n
    bar = tqdm(total=total, file=sys.stderr, unit="req", disable=not progress, leave=False)
    cpu0 = time.process_time()
    started = time.perf_counter_ns()
    warm_end_ns = started + int(warmup_s * 1e9)
    stop_at_ns = None if duration_s is None else warm_end_ns + int(duration_s * 1e9)

    def deliver(record: RequestRecord) -> None:
        if record.index < warm_end_index or record.scheduled_ns < warm_end_ns:
            record = replace(record, warmup=True)
        if record.ok:
            state.ok_seen = True
        elif not state.ok_seen and record.error_kind in _FATAL_KINDS and state.fatal is None:
            state.fatal = record
            state.stop = True
        sink(record)
        bar.update(1)

    async def one(
        index: int,
        scheduled: int,
        body: bytes | None = None,
        capture: list[str] | None = None,
        **tags: int,
    ) -> RequestRecord:
        state.in_flight += 1
        if state.in_flight > state.peak:
            state.peak = state.in_flight
        try:
            if body is None:
                body = workload.body(index)
                tags = workload.tags(index)
            record = await execute(http, target, index, body, scheduled, capture)
        except BaseException:
            state.cancelled += 1
            raise
        finally:
            state.in_flight -= 1
        if tags:  # workloads branch: session / turn / prefix group / batch size
            get = tags.get
            record = replace(
                record,
                session=get("session"),
                turn=get("turn"),
                group=get("group"),
                inputs=get("inputs"),
            )
        deliver(record)
        return record

    sessions = Sessions(workload, first_index, think_time_s, replay_history)

    def claim(scheduled: int) -> int | None:
        """A session's next request index, or None when the run's budget is spent."""
        index = next(indices)
        if state.stop or exhausted(index, scheduled):
            state.spent = True
            return None
        return index

    async def session(scheduled: int) -> bool:
        return await sessions.run(scheduled, claim, one)

    def exhausted(index: int, due_ns: int) -> bool:
        return (end_index is not None and index >= end_index) or (
            stop_at_ns is not None and due_ns >= stop_at_ns
        )

    async def closed_worker() -> None:
        if workload.multi_turn:
            while not state.stop and await session(time.perf_counter_ns()):
                pass
            return
        while not state.stop:
            index = next(indices)
            scheduled = time.perf_counter_ns()
            if exhausted(index, scheduled):
                return
            await one(index, scheduled)

    async def open_worker(queue: MemoryObjectReceiveStream[tuple[int, int]]) -> None:
        async with queue:
            async for index, scheduled in queue:
                if state.stop:
                    return
                if workload.multi_turn:
                    await session(scheduled)
                else:
                    await one(index, scheduled)

    async def dispatch(pool: anyio.abc.TaskGroup, pacing: Pacer) -> None:
        cap = concurrency
        send, receive = anyio.create_memory_object_stream[tuple[int, int]](math.inf)
        if cap is not None:
            for _ in range(cap):
                pool.start_soon(open_worker, receive.clone())
        receive.close()
        async with send:
            for offset in pacing.offsets():
                # multi-turn: an arrival starts a session, whose turns draw their own indices
                index = -1 if workload.multi_turn else next(indices)
                scheduled = started + int(offset * 1e9)
                if state.stop or state.spent or exhausted(index, scheduled):
                    return
                delay = (scheduled - time.perf_counter_ns()) / 1e9
                if delay > 0:
                    await anyio.sleep(delay)
                if state.stop:
                    return
                if cap is None and workload.multi_turn:
                    pool.start_soon(session, scheduled)
                elif cap is None:
                    pool.start_soon(one, index, scheduled)
                else:
                    send.send_nowait((index, scheduled))

    try:
        async with anyio.create_task_group() as outer:
            outer.start_soon(lag_probe, lag)
            if handle_signals and threading.current_thread() is threading.main_thread():
                outer.start_soon(_watch_signals, state, grace_s, outer)
            async with anyio.create_task_group() as pool:
                state.pool_scope = pool.cancel_scope
                if pacer is not None:
                    pool.start_soon(dispatch, pool, pacer)
                else:
                    workers = concurrency or 1
                    if total is not None:
                        workers = min(workers, total)
                    for _ in range(workers):
                        pool.start_soon(closed_worker)
            outer.cancel_scope.cancel()
    finally:
        bar.close()
    return RunOutcome(
        started_ns=started,
        ended_ns=time.perf_counter_ns(),
        interrupted_by=state.signal,
        fatal=state.fatal,
        loop_lag_ms=tuple(lag),
        cpu_s=time.process_time() - cpu0,
        peak_in_flight=state.peak,
        cancelled=state.cancelled,
    )


async def lag_probe(samples: array[float], period_s: float = _LAG_PERIOD_S) -> None:
    """Forever: sleep `period_s`, record how late the wake-up came (ms): the loop's lag."""
    period_ns = int(period_s * 1e9)
    while True:
        before = time.perf_counter_ns()
        await asyncio.sleep(period_s)  # plain asyncio: the cheapest wake-up there is
        samples.append(max(0, time.perf_counter_ns() - before - period_ns) / 1e6)


async def _watch_signals(state: _State, grace_s: float, tg: anyio.abc.TaskGroup) -> None:
    """First SIGINT/SIGTERM: stop sending, let in-flight requests finish for `grace_s`, then
    cancel them. A second signal exits at once (the results file is already flushed)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
            if state.signal is not None:
                sys.stderr.write("\nllmbench-async: interrupted again, exiting now\n")
                sys.stderr.flush()
                os._exit(130 if signum == signal.SIGINT else 143)
            state.signal = name
            state.stop = True
            sys.stderr.write(
                f"\nllmbench-async: {name} received; finishing in-flight requests "
                f"(up to {grace_s:g} s, again to quit now)\n"
            )
            sys.stderr.flush()
            tg.start_soon(_cancel_after_grace, state, grace_s)


async def _cancel_after_grace(state: _State, grace_s: float) -> None:
    with anyio.move_on_after(grace_s):
        while state.in_flight:
            await anyio.sleep(0.02)
    if state.pool_scope is not None:
        state.pool_scope.cancel()
