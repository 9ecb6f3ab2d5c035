"""The runner: a `RunConfig`'s load in this process. `drive` builds the target and the
workload and calls `run_requests`, which runs the task pool: long-lived *slots* (anyio
tasks; "workers" are OS processes, see loadgen/workers.py) pulling request indices, a progress bar,
a loop-lag probe, and a graceful stop on Ctrl-C / SIGTERM or when the target is plainly
unusable."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from itertools import chain, count
from typing import Any

import anyio
import anyio.abc
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream

from ..config import RunConfig
from ..errors import EXIT_FOR_SIGNAL, ConfigError, RequestError
from ..pacing import ClosedLoop, LoadPlan
from ..records import RequestRecord
from ..watch.live import LiveView, live_enabled, planned_seconds, progress_bar
from ..wire.assemble import build_target
from ..wire.client import Target, execute
from ..wire.route import preconnect_run
from .build import build_workload
from .conversations import Sessions
from .lost import DEFAULT_LOST_AFTER, FATAL_KINDS, Watch
from .traces import TracePrompts, TraceRow, TraceSpec, rows, trace_spec
from .workload import PromptItem, Workload

RecordSink = Callable[[RequestRecord], None]
_Arrival = tuple[int, int, TraceRow | None]  # (index, due instant, the trace row if any)

_LAG_PERIOD_S = 0.01


@dataclass(frozen=True, slots=True)
class DriveOutcome:
    """How the run itself went (the records went to the sink)."""

    started_ns: int
    ended_ns: int
    interrupted_by: str | None  # "SIGINT" / "SIGTERM" when a signal stopped the run
    fatal: RequestRecord | None  # the auth / not-found failure that stopped the run early
    loop_lag_ms: tuple[float, ...]  # event-loop lag samples, one per probe period
    cpu_s: float  # process CPU time (user + sys) spent during the run
    peak_in_flight: int
    cancelled: int  # in-flight requests cancelled at the stop (no record written)
    distributed: Mapping[str, Any] | None = None  # Ray runs: placement, clocks, per-actor
    lost: str | None = None  # why `--lost-after` stopped the run (its reason), else None
    not_sent: int | None = None  # requests of a counted plan never sent (None: no count)


class StopSignal:
    """A first Ctrl-C handed in from outside the process (a Ray actor's driver): `set`
    does what a first SIGINT does to a single-process run (see `_watch_signals`)."""

    def __init__(self) -> None:
        self.name: str | None = None
        self._event = asyncio.Event()  # bound to a loop only when first awaited

    def set(self, name: str = "SIGINT") -> None:
        if self.name is None:
            self.name = name
            self._event.set()

    async def wait(self) -> str:
        await self._event.wait()
        assert self.name is not None
        return self.name


@dataclass(frozen=True, slots=True)
class DriveOptions:
    """How requests are driven, besides what (the target and workload) and when (the plan):
    the terminal's progress bar and live view, signals and the grace period for requests in
    flight, the first request's index (a worker's share), multi-turn pacing, an outside stop,
    and when the target counts as lost."""

    progress: bool = False
    grace_s: float = 2.0
    handle_signals: bool = True
    first_index: int = 0
    think_time_s: float = 0.0
    replay_history: bool = False
    live: LiveView | None = None
    stop: StopSignal | None = None
    lost_after: int = DEFAULT_LOST_AFTER
    # told how to read the count of requests in flight while the run goes (the live
    # Prometheus feed reads it at each scrape), and None when the run is over
    in_flight_to: Callable[[Callable[[], int] | None], None] | None = None
    # --until-stable: asked every `until_every_s`; True ends the sending (in flight finish)
    until: Callable[[], bool] | None = None
    until_every_s: float = 1.0
    trace: TraceSpec | None = None  # a trace to replay (the plan's shape is TraceReplay)
    session_header: str | None = None  # sends `<run_id>-<session>` on each session's requests
    run_id: str = ""
    seed: int = 0  # the trace's prompt words


class _Pool:
    """One run's sending tasks ("slots") and their shared state (one per run, never global)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        target: Target,
        workload: Workload,
        plan: LoadPlan,
        sink: RecordSink,
        options: DriveOptions,
    ) -> None:
        first_index = options.first_index
        self.http, self.target, self.workload, self.plan, self.sink = (
            http,
            target,
            workload,
            plan,
            sink,
        )
        mix = workload.mix
        self.targets = {m: replace(target, model=m) for m in mix.models} if mix else {}
        self.stop = False
        self.spent = False  # multi-turn: a session found the request budget spent
        self.idle = 0  # open loop: slots waiting for an arrival
        self.backlog = 0  # open loop: arrivals released but not yet taken by a slot
        self.in_flight = 0
        self.peak = 0
        self.ok_seen = False
        self.watch = Watch(options.lost_after)
        self.lost: str | None = None  # why the run stopped for a lost target
        self.begun = 0  # requests started (sent, or trying to)
        self.fatal: RequestRecord | None = None
        self.signal: str | None = None
        self.cancelled = 0
        self.live = options.live
        self.scope: anyio.CancelScope | None = None
        self.indices = count(first_index)
        # multi-turn sessions draw indices through `claim`
        self.sessions = Sessions(
            workload, first_index, options.think_time_s, options.replay_history
        )
        self.end_index = None if plan.total is None else first_index + plan.total
        self.warm_end_index = first_index + plan.warmup_requests
        self.trace = options.trace
        self.prompts = (
            None if self.trace is None else TracePrompts(self.trace.block_tokens, options.seed)
        )
        self.session_header, self.run_id = options.session_header, options.run_id
        self._session_name = (options.session_header or "").encode("latin-1")
        self.bar = progress_bar(plan.total, enabled=options.progress)
        self.cpu0 = time.process_time()
        self.started = time.perf_counter_ns()
        self.warm_end_ns = self.started + int(plan.warmup_s * 1e9)
        self.ramp_end_ns = self.warm_end_ns + int(plan.ramp_s * 1e9)
        self.ramp_taken = 0  # requests due inside the ramp: extra to the count
        self.stop_at_ns = (
            None if plan.duration_s is None else self.ramp_end_ns + int(plan.duration_s * 1e9)
        )
        # records waiting for the sink, and the first exception the sink raised
        self.pending: list[RequestRecord] = []
        self.sink_error: BaseException | None = None

    def deliver(self, record: RequestRecord) -> None:
        if record.index < self.warm_end_index or record.scheduled_ns < self.warm_end_ns:
            record = replace(record, warmup=True)
        elif record.scheduled_ns < self.ramp_end_ns:
            record = replace(record, ramp=True)
        if record.ok:
            self.ok_seen = True
        elif not self.ok_seen and record.error_kind in FATAL_KINDS and self.fatal is None:
            self.fatal = record
            self.stop = True
        self.defer(record)
        self.bar.update(1)
        if self.live is not None:
            self.live.update(self.bar, record, self.in_flight)

    def defer(self, record: RequestRecord) -> None:
        """Hand `record` to the sink (statistics, time series, the results file) once the
        tasks ready now have run: when a wave of responses ends together, each slot sends
        its next request first and the records' bookkeeping comes after, in one batch, in
        the order the records came. `flush` at the run's end hands over any left."""
        pending = self.pending
        pending.append(record)
        if len(pending) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Every waiting record to the sink, in order. The sink's first exception stops the
        run at once, as it did when raised in a slot, and the run raises it at its end (a
        loop callback cannot)."""
        batch, self.pending = self.pending, []
        sink = self.sink
        for record in batch:
            try:
                sink(record)
            except Exception as exc:
                if self.sink_error is None:
                    self.sink_error = exc
                    self.stop = True
                    if self.scope is not None:
                        self.scope.cancel()

    def attempted(self, error: RequestError | None) -> bool:
        """Told of every attempt's outcome (loadgen/lost.py); True: do not retry it. When the target
        is lost, the run stops at once: requests in flight and backoffs are cancelled."""
        halt = self.watch.attempted(error)
        if self.watch.lost is not None and not self.stop:
            self.lost = self.watch.lost
            self.stop = True
            if self.scope is not None:
                self.scope.cancel()  # takes effect at the other tasks' next wait, not this one's
        return halt

    async def one(
        self,
        index: int,
        scheduled: int,
        body: bytes | None = None,
        capture: list[str] | None = None,
        **tags: int,
    ) -> RequestRecord:
        self.in_flight += 1
        if self.in_flight > self.peak:
            self.peak = self.in_flight
        try:
            if body is None:
                body = self.workload.body(index)
                tags = self.workload.tags(index)
            self.begun += 1
            # several models: the request's own model, asked for and checked in the answer
            model = self.workload.model_of(tags.get("session", index)) if self.targets else None
            target = self.target if model is None else self.targets[model]
            record = await execute(
                *(self.http, target, index, body, scheduled, capture, self.attempted),
                headers=self.session_headers(tags.get("session")),
            )
        except BaseException:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        if model is not None:
            record = replace(record, requested_model=model)
        if tags:  # session / turn / prefix group / batch size / trace row
            get = tags.get
            record = replace(
                record,
                session=get("session"),
                turn=get("turn"),
                group=get("group"),
                inputs=get("inputs"),
                trace_row=get("trace_row"),
                dispatched_ns=get("dispatched_ns"),
            )
        self.deliver(record)
        return record

    def session_headers(self, session: int | None) -> tuple[tuple[bytes, bytes], ...]:
        """The session header of a session's request, `<run id>-<session>` (none without
        --session-header, or outside a session): sent per request, the target unchanged."""
        if self.session_header is None or session is None:
            return ()
        return ((self._session_name, f"{self.run_id}-{session}".encode()),)

    async def replay(self, index: int, scheduled: int, row: TraceRow) -> None:
        """One trace row: its prompt and max_tokens; stamped when it is handed on to be sent
        (the record's `dispatched_ns`: its lateness against the trace is the dispatch lag)."""
        assert self.prompts is not None
        body = self.workload.text_body(self.prompts.text(row), row.output_tokens)
        tags = {"trace_row": row.line, "dispatched_ns": time.perf_counter_ns()}
        if row.session is not None:
            tags["session"] = row.session
        await self.one(index, scheduled, body, None, **tags)

    def trace_arrivals(self, spec: TraceSpec) -> Iterator[tuple[float, TraceRow | None]]:
        """The trace's rows as arrivals. The file was checked whole before the run; one that
        changed since and no longer reads stops the sending, with one line saying why."""
        try:
            for row in rows(spec):
                yield row.at_s, row
        except ConfigError as exc:
            sys.stderr.write(f"llmbench-async: stopped sending: {exc}\n")
            self.stop = True

    def claim(self, scheduled: int) -> int | None:
        """A session's next request index, or None when the run's budget is spent."""
        index = next(self.indices)
        if self.stop or self.exhausted(index, scheduled):
            self.spent = True
            return None
        return index

    async def session(self, scheduled: int) -> int | None:
        """One multi-turn session: when its last reply ended; None once the run's budget is
        spent."""
        return await self.sessions.run(scheduled, self.claim, self.one)

    def exhausted(self, index: int, due_ns: int) -> bool:
        """Whether request `index`, due at `due_ns`, is past the plan's count or duration
        (requests due inside the ramp do not count: called once per index, in order)."""
        if due_ns < self.ramp_end_ns and due_ns >= self.warm_end_ns:
            self.ramp_taken += 1
        return (self.end_index is not None and index - self.ramp_taken >= self.end_index) or (
            self.stop_at_ns is not None and due_ns >= self.stop_at_ns
        )

    def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the slots: C closed-loop slots, or the open-loop dispatcher."""
        shape = self.plan.shape
        if self.trace is not None:
            arrivals = self.trace_arrivals(self.trace)
            # read up to the slice's first row (past the rows before --trace-window's
            # start) before the clock starts, so that reading is not charged as lateness
            first = next(arrivals, None)
            self.started = self.warm_end_ns = self.ramp_end_ns = time.perf_counter_ns()
            primed = chain(() if first is None else (first,), arrivals)
            tg.start_soon(self.dispatch, tg, primed)
        elif isinstance(shape, ClosedLoop):
            slots = shape.concurrency
            if self.plan.total is not None:
                slots = min(slots, self.plan.total)
            for offset in self.plan.slot_offsets(slots):
                tg.start_soon(self.closed_slot, self.started + int(offset * 1e9))
        else:
            tg.start_soon(self.dispatch, tg, ((at, None) for at in self.plan.arrivals()))

    async def closed_slot(self, start_ns: int) -> None:
        """Send requests one after another, the first at `start_ns` (a ramp staggers them);
        multi-turn: sessions one after another."""
        delay = (start_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await anyio.sleep(delay)
        # a slot's request is due when the slot was freed: at the start, then when the last
        # response's final bytes arrived (its end_ns), not when this task resumed; the
        # task's lateness is the client's own, and shows as queue delay
        scheduled = start_ns
        if self.workload.multi_turn:
            while not self.stop:
                ended = await self.session(scheduled)
                if ended is None:
                    return
                scheduled = ended
            return
        while not self.stop:
            index = next(self.indices)
            if self.exhausted(index, scheduled):
                return
            record = await self.one(index, scheduled)
            scheduled = record.end_ns

    async def open_slot(self, queue: MemoryObjectReceiveStream[_Arrival]) -> None:
        async with queue:
            while not self.stop:
                self.idle += 1
                try:
                    index, scheduled, row = await queue.receive()
                except anyio.EndOfStream:
                    return
                finally:
                    self.idle -= 1
                self.backlog -= 1
                if self.stop:
                    return
                if row is not None:
                    await self.replay(index, scheduled, row)
                elif self.workload.multi_turn:
                    await self.session(scheduled)
                else:
                    await self.one(index, scheduled)

    async def dispatch(
        self, tg: anyio.abc.TaskGroup, arrivals: Iterator[tuple[float, TraceRow | None]]
    ) -> None:
        """Open loop: release each request at its due instant to a free slot. Slots start
        lazily, only when every slot is busy and an arrival waits, so the run never holds
        more tasks than it has had requests in flight, capped by
        min(--max-concurrency, requests to send)."""
        caps = [c for c in (self.plan.max_in_flight, self.plan.total) if c is not None]
        cap = min(caps) if caps else None
        send, receive = anyio.create_memory_object_stream[_Arrival](math.inf)
        slots = 0
        async with send, receive:
            for offset, row in arrivals:
                # multi-turn: an arrival starts a session, whose turns draw their own indices
                index = -1 if self.workload.multi_turn else next(self.indices)
                scheduled = self.started + int(offset * 1e9)
                if self.stop or self.spent or self.exhausted(index, scheduled):
                    return
                delay = (scheduled - time.perf_counter_ns()) / 1e9
                if delay > 0:
                    await anyio.sleep(delay)
                if self.stop:
                    return
                if self.idle - self.backlog <= 0 and (cap is None or slots < cap):
                    slots += 1
                    tg.start_soon(self.open_slot, receive.clone())
                self.backlog += 1
                send.send_nowait((index, scheduled, row))

    def outcome(self, lag: array[float]) -> DriveOutcome:
        total = self.plan.total
        return DriveOutcome(
            started_ns=self.started,
            ended_ns=time.perf_counter_ns(),
            interrupted_by=self.signal,
            fatal=self.fatal,
            loop_lag_ms=tuple(lag),
            cpu_s=time.process_time() - self.cpu0,
            peak_in_flight=self.peak,
            cancelled=self.cancelled,
            lost=self.lost,
            not_sent=None if total is None else max(0, total + self.ramp_taken - self.begun),
        )


async def run_requests(
    http: httpx.AsyncClient,
    target: Target,
    workload: Workload,
    plan: LoadPlan,
    sink: RecordSink,
    options: DriveOptions | None = None,
) -> DriveOutcome:
    """Send the plan's requests to the target and hand each record to `sink`; `options`
    (DriveOptions) say how, besides.

    Closed loop: C slots, each sending its next request when its last one ended. Open loop:
    requests are due at the pacer's offsets and wait for one of `plan.max_in_flight` slots
    (None: no cap); the wait shows as queue delay. The run sends warm-up + count requests
    (count None: no count limit), and stops sending after warm-up + duration seconds (None:
    no time limit). Requests due inside the warm-up (by index or by time) are marked
    `warmup`; with a ramp-up, requests due inside it are extra, marked `ramp`; in-flight
    requests at the end finish. `live` (a terminal's live view) is told of each record and
    redraws the bar's text twice a second. A first signal, or `stop` being set, stops the
    sending and gives the requests in flight `grace_s` to finish.

    Multi-turn workloads: the unit of concurrency is a session; it sends turn k+1 when turn
    k has ended (plus `think_time_s`), carrying the server's reply (or the dataset's, with
    `replay_history`); a failed turn ends its session.
    """
    options = DriveOptions() if options is None else options
    live, grace_s, stop = options.live, options.grace_s, options.stop
    pool = _Pool(http, target, workload, plan, sink, options)
    lag = array("d")
    if options.in_flight_to is not None:
        options.in_flight_to(lambda: pool.in_flight)
    try:
        async with anyio.create_task_group() as outer:
            outer.start_soon(lag_probe, lag)
            if live is not None:
                outer.start_soon(live.tick, pool.bar, lambda: pool.in_flight)
            if options.handle_signals and threading.current_thread() is threading.main_thread():
                outer.start_soon(_watch_signals, pool, grace_s, outer)
            if stop is not None:
                outer.start_soon(_watch_stop, pool, grace_s, outer, stop)
            if options.until is not None:
                outer.start_soon(_watch_until, pool, options.until, options.until_every_s)
            async with anyio.create_task_group() as tg:
                pool.scope = tg.cancel_scope
                pool.start(tg)
            outer.cancel_scope.cancel()
    finally:
        pool.flush()
        pool.bar.close()
        if options.in_flight_to is not None:
            options.in_flight_to(None)
    if pool.sink_error is not None:
        raise pool.sink_error
    return pool.outcome(lag)


async def drive(
    http: httpx.AsyncClient,
    config: RunConfig,
    sink: RecordSink,
    *,
    progress: bool,
    handle_signals: bool,
    first_index: int = 0,
    prompts: tuple[PromptItem, ...] | None = None,
    target: Target | None = None,
    stop: StopSignal | None = None,
    in_flight_to: Callable[[Callable[[], int] | None], None] | None = None,
    until: Callable[[], bool] | None = None,
    until_every_s: float = 1.0,
) -> DriveOutcome:
    """Run `config`'s load in this process (a single-process run, or one worker's share);
    `prompts`: the prompt file already read (None: read it here); `until`: asked every
    `until_every_s`, ends the sending once true (--until-stable). The run's connections
    are opened first (`--preconnect`), before the clock starts. `in_flight_to` is handed
    a reader of the requests in flight (DriveOptions)."""
    await preconnect_run(http, config)
    live = LiveView(planned_s=planned_seconds(config)) if live_enabled(progress) else None
    options = DriveOptions(
        progress=progress,
        grace_s=config.grace_s,
        handle_signals=handle_signals,
        first_index=first_index,
        think_time_s=config.think_time_s,
        replay_history=config.replay_history,
        live=live,
        stop=stop,
        lost_after=config.lost_after,
        in_flight_to=in_flight_to,
        until=until,
        until_every_s=until_every_s,
        trace=trace_spec(config),
        session_header=config.session_header,
        run_id=config.run_id,
        seed=config.seed or 0,
    )
    plan, workload = config.plan, build_workload(config, prompts)
    return await run_requests(http, target or build_target(config), workload, plan, sink, options)


async def lag_probe(samples: array[float], period_s: float = _LAG_PERIOD_S) -> None:
    """Forever: sleep `period_s`, record how late the wake-up came (ms): the loop's lag."""
    period_ns = int(period_s * 1e9)
    while True:
        before = time.perf_counter_ns()
        await asyncio.sleep(period_s)  # plain asyncio: the cheapest wake-up there is
        samples.append(max(0, time.perf_counter_ns() - before - period_ns) / 1e6)


async def _watch_signals(state: _Pool, grace_s: float, tg: anyio.abc.TaskGroup) -> None:
    """First SIGINT/SIGTERM: stop sending, let in-flight requests finish for `grace_s`, then
    cancel them. A second signal exits at once (the results file is already flushed)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
            if state.signal is not None:
                sys.stderr.write("\nllmbench-async: interrupted again, exiting now\n")
                sys.stderr.flush()
                os._exit(EXIT_FOR_SIGNAL[name])
            sys.stderr.write(
                f"\nllmbench-async: {name} received; finishing in-flight requests "
                f"(up to {grace_s:g} s, again to quit now)\n"
            )
            sys.stderr.flush()
            _begin_stop(state, name, grace_s, tg)


async def _watch_until(state: _Pool, until: Callable[[], bool], every_s: float) -> None:
    """--until-stable: once `until()` holds, stop sending; the requests in flight finish
    and are measured like any other. A check sorts the samples so far, on this loop: the
    wait after one is at least 50 times what it took, so checks hold the loop at most 2 %
    of the time however many samples there are."""
    wait = every_s
    while not state.stop:
        await anyio.sleep(wait)
        began = time.perf_counter()
        if until():
            state.stop = True
            return
        wait = max(every_s, 50 * (time.perf_counter() - began))


async def _watch_stop(
    state: _Pool, grace_s: float, tg: anyio.abc.TaskGroup, stop: StopSignal
) -> None:
    """A stop handed in from outside: the same graceful stop as a first signal."""
    name = await stop.wait()
    if state.signal is None:
        _begin_stop(state, name, grace_s, tg)


def _begin_stop(state: _Pool, name: str, grace_s: float, tg: anyio.abc.TaskGroup) -> None:
    """Stop sending; the requests in flight get `grace_s` to finish, then are cancelled."""
    state.signal = name
    state.stop = True
    tg.start_soon(_cancel_after_grace, state, grace_s)


async def _cancel_after_grace(state: _Pool, grace_s: float) -> None:
    with anyio.move_on_after(grace_s):
        while state.in_flight:
            await anyio.sleep(0.02)
    if state.scope is not None:
        state.scope.cancel()
