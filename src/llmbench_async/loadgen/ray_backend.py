"""`--ray ADDRESS`: the same `drive()` in N Ray actors spread over a cluster's nodes.

- Placement: one placement group, `STRICT_SPREAD` with one bundle per node (`--ray-per-node`
  and the default), `SPREAD` for `--ray-actors N`. Each actor takes one CPU.
- Load: `worker_configs` shares n, concurrency, rate and warm-up out exactly as `--workers`
  does; each actor runs its share with `drive()` (or with `--workers` processes of its own).
- Records: each actor streams JSON lines back in bounded batches through a Ray streaming
  generator (with back-pressure); the driver decodes them and hands them to the run's sink,
  which writes the JSONL and feeds the one summary. Nothing is gathered whole in Ray.
- Clocks: latencies are differences of one host's monotonic instants. For the time base the
  driver probes each actor's wall clock (min-RTT of a few round trips), names a common start
  instant, and each actor maps its instants onto the driver's monotonic clock.
- Ctrl-C: a first signal stops every actor's sending (`StopSignal`, as a first Ctrl-C does
  in one process); their requests in flight get `--grace` to finish, then are cancelled and
  counted. A second signal exits at once.
- Secrets: the job (the config with the key) travels through the object store (`ray.put`),
  nested in a list so Ray neither inlines it into the task spec nor prints it.

Ray is imported here only, lazily: the base install does not have it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from array import array
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from ..config import RunConfig, config_from_wire, config_to_wire
from ..errors import EXIT_FOR_SIGNAL, ConfigError
from ..records import RequestRecord, record_from_json, record_to_json
from ..results.stats import lag_summary
from ..watch.live import progress_bar
from ..wire.route import client_for
from .runner import DriveOutcome, RecordSink, StopSignal, drive, lag_probe
from .workers import merge_outcomes, run_workers, worker_configs

BATCH_RECORDS = 512  # records per streamed batch, at most
BATCH_S = 0.05  # a batch leaves at least this often while records come in
BACKPRESSURE_BATCHES = 64  # batches an actor may have unread by the driver before it waits
CLOCK_PROBES = 5  # round trips per actor for the clock offset
PLACEMENT_TIMEOUT_S = 120.0


def import_ray() -> Any:
    """The `ray` module, or a one-line ConfigError when the extra is not installed."""
    # a driver started by `uv run` would make Ray rebuild the project in every worker
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # `--ray local` on a busy host: give Ray's worker processes time to start
    os.environ.setdefault("RAY_worker_register_timeout_seconds", "300")
    try:
        return importlib.import_module("ray")
    except ImportError:
        from ..wire.extras import missing_extra

        raise ConfigError(missing_extra("--ray", "ray", "ray")) from None


class LoadActor:
    """One load generator: runs its share of the load and streams its records back."""

    def __init__(self) -> None:
        self._stop = StopSignal()

    def node(self) -> dict[str, str]:
        """Where this actor runs (placing it imported this module, and with it the runner,
        so nothing is left to import at the start instant)."""
        ray = import_ray()
        return {
            "node": ray.util.get_node_ip_address(),
            "node_id": str(ray.get_runtime_context().get_node_id()),
            "host": socket.gethostname(),
        }

    def clock(self) -> int:
        return time.time_ns()

    async def stop(self, name: str) -> None:
        """A first Ctrl-C: stop sending; the requests in flight get the run's grace period
        to finish (then they are cancelled and counted); the records so far stay."""
        self._stop.set(name)

    async def run(self, box: list[Any], plan: dict[str, Any]) -> AsyncIterator[bytes]:
        """Wait for the common start, run the share, yield batches of JSON lines; the last
        line is the actor's outcome. `box` holds the job's object-store reference."""
        job = await box[0]
        await _sleep_until_wall(int(plan["start_at_local_ns"]))
        mono0 = time.perf_counter_ns()
        late_ns = time.time_ns() - int(plan["start_at_local_ns"])
        # record instants on the driver's monotonic clock: t - mono0 + driver's start + late
        base = mono0 - (int(plan["start_mono_driver_ns"]) + late_ns)
        tags = dict(plan["tags"])
        shift = int(job.get("index_shift", 0))
        pending: list[bytes] = []
        wake = asyncio.Event()

        def sink(record: RequestRecord) -> None:
            line = record_to_json(record, base)
            line["index"] += shift
            line["extra"] = {**line.get("extra", {}), **tags}
            pending.append(json.dumps(line, separators=(",", ":")).encode())
            if len(pending) >= BATCH_RECORDS:
                wake.set()

        result: dict[str, Any] = {}
        task = asyncio.ensure_future(self._work(job, sink, result))
        try:
            while not task.done() or pending:
                if not task.done():
                    with anyio.move_on_after(BATCH_S):
                        await wake.wait()
                wake.clear()
                while pending:
                    batch, pending[:] = pending[:BATCH_RECORDS], pending[BATCH_RECORDS:]
                    yield b"\n".join(batch)
            await task
        finally:
            task.cancel()
        result["start_late_ms"] = late_ns / 1e6
        yield json.dumps(_outcome_line(result, base)).encode()

    async def _work(self, job: dict[str, Any], sink: RecordSink, result: dict[str, Any]) -> None:
        config = config_from_wire(job["config"])
        lag = array("d")
        cpu0 = time.process_time()
        started = time.perf_counter_ns()
        outcome: DriveOutcome | None = None
        async with anyio.create_task_group() as probe:
            probe.start_soon(lag_probe, lag)
            outcome = await _run_share(config, sink, int(job["first_index"]), self._stop)
            probe.cancel_scope.cancel()
        result.update(
            outcome=outcome,
            stopped=self._stop.name is not None,
            lag=list(lag),
            cpu_s=time.process_time() - cpu0,
            wall_s=(time.perf_counter_ns() - started) / 1e9,
        )


async def _run_share(
    config: RunConfig, sink: RecordSink, first_index: int, stop: StopSignal
) -> DriveOutcome:
    """This actor's share: one event loop, or `--workers` processes on this node."""
    if config.workers > 1:
        return await run_workers(config, sink, progress=False, handle_signals=False, stop=stop)
    async with client_for(config) as http:
        return await drive(
            http,
            config,
            sink,
            progress=False,
            handle_signals=False,
            first_index=first_index,
            stop=stop,
        )


async def _sleep_until_wall(at_ns: int) -> None:
    delay = (at_ns - time.time_ns()) / 1e9
    if delay > 0.002:
        await asyncio.sleep(delay - 0.002)
    while time.time_ns() < at_ns:  # the last 2 ms: spin for a tight common start
        await asyncio.sleep(0)


def _outcome_line(result: dict[str, Any], base: int) -> dict[str, Any]:
    outcome: DriveOutcome | None = result["outcome"]
    lag: list[float] = result["lag"]
    return {
        "type": "outcome",
        "stopped": result["stopped"],
        "fatal": None
        if outcome is None or outcome.fatal is None
        else record_to_json(outcome.fatal, base),
        "loop_lag_ms": [round(x, 3) for x in lag],
        "cpu_s": result["cpu_s"],
        "wall_s": result["wall_s"],
        "peak_in_flight": 0 if outcome is None else outcome.peak_in_flight,
        "cancelled": 0 if outcome is None else outcome.cancelled,
        "lost": None if outcome is None else outcome.lost,
        "not_sent": None if outcome is None else outcome.not_sent,
        "start_late_ms": result["start_late_ms"],
    }


# ---------------------------------------------------------------------------------------------
# The driver side


@dataclass(slots=True)
class _Actor:
    """The driver's view of one actor: where it runs, what it owes, what it delivered."""

    index: int
    handle: Any
    share: RunConfig
    first_index: int
    node: dict[str, str] = field(default_factory=dict)
    offset_ns: int = 0  # actor wall clock minus driver wall clock
    rtt_ns: int = 0
    received: int = 0
    outcome: dict[str, Any] | None = None
    error: str | None = None

    @property
    def planned(self) -> int | None:
        n = self.share.n
        return None if n is None else n + self.share.warmup_requests

    @property
    def where(self) -> str:
        return f"{self.node.get('node', '?')} (node {self.node.get('node_id', '?')[:12]})"


def actor_count(config: RunConfig, nodes: int) -> tuple[int, int]:
    """(actors, nodes used): `--ray-actors N`, or `--ray-per-node K` (default 1) actors on
    each node, never more actors than the concurrency or the requests."""
    cap = config.concurrency if config.rate is None else (config.max_concurrency or 10**9)
    if config.n is not None:
        cap = min(cap, config.n)
    if config.ray_actors is not None:
        return max(1, min(config.ray_actors, cap)), 0
    per = config.ray_per_node or 1
    actors = max(1, min(nodes * per, cap))
    return actors, -(-actors // per)


def _connect(ray: Any, address: str) -> bool:
    """Connect to (or, for `local`, start) a cluster; True when this call did it."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address == "local":  # always a new cluster, even if one is running here
            kwargs["include_dashboard"] = False
        ray.init(address=address, **kwargs)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise ConfigError(f"--ray {address}: cannot connect to a Ray cluster: {reason}") from None
    return True


def _place(ray: Any, config: RunConfig) -> tuple[Any, list[_Actor]]:
    """Create the placement group and the actors on it, each with its share of the load."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    alive = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1]
    actors, nodes = actor_count(config, len(alive))
    per = config.ray_per_node or 1
    if config.ray_actors is not None:
        bundles, strategy = [{"CPU": 1.0}] * actors, "SPREAD"
    else:
        bundles, strategy = [{"CPU": float(per)}] * nodes, "STRICT_SPREAD"
    pg = ray.util.placement_group(bundles, strategy=strategy)
    try:
        ray.get(pg.ready(), timeout=PLACEMENT_TIMEOUT_S)
    except Exception:
        ray.util.remove_placement_group(pg)
        raise ConfigError(
            f"--ray: cannot place {actors} actors ({strategy}, {len(bundles)} bundles of "
            f"{bundles[0]['CPU']:g} CPU) on {len(alive)} nodes within "
            f"{PLACEMENT_TIMEOUT_S:g} s; lower --ray-actors / --ray-per-node"
        ) from None
    remote = ray.remote(num_cpus=1, max_restarts=0, max_concurrency=8)(LoadActor)
    shares = worker_configs(replace(config, workers=actors))
    out: list[_Actor] = []
    for i, (share, first) in enumerate(shares):
        bundle = i if config.ray_actors is not None else i // per
        handle = remote.options(
            scheduling_strategy=PlacementGroupSchedulingStrategy(pg, bundle)
        ).remote()
        share = replace(share, workers=config.workers, ray_address=None, ray_actors=None)
        out.append(_Actor(i, handle, replace(share, ray_per_node=None), first))
    return pg, out


async def _probe_clock(actor: _Actor) -> None:
    """Node address, and the wall-clock offset from the round trip with the least delay."""
    actor.node = await actor.handle.node.remote()
    best: tuple[int, int] | None = None
    for _ in range(CLOCK_PROBES):
        before = time.time_ns()
        remote_now: int = await actor.handle.clock.remote()
        after = time.time_ns()
        rtt = after - before
        if best is None or rtt < best[0]:
            best = (rtt, remote_now - (before + after) // 2)
    assert best is not None
    actor.rtt_ns, actor.offset_ns = best


async def run_ray(
    config: RunConfig, sink: RecordSink, *, progress: bool, handle_signals: bool
) -> DriveOutcome:
    """Run `config` on Ray actors (`config.ray_address`); every record goes to `sink`."""
    assert config.ray_address is not None
    ray = import_ray()
    connected_here = _connect(ray, config.ray_address)
    pg = None
    actors: list[_Actor] = []
    try:
        pg, actors = _place(ray, config)
        async with anyio.create_task_group() as tg:
            for actor in actors:
                tg.start_soon(_probe_clock, actor)
        return await _run_actors(ray, config, actors, sink, progress, handle_signals)
    finally:
        for actor in actors:  # a driver that stays connected must not keep them
            ray.kill(actor.handle, no_restart=True)
        if pg is not None:
            ray.util.remove_placement_group(pg)
        if connected_here:
            ray.shutdown()


async def _run_actors(
    ray: Any,
    config: RunConfig,
    actors: list[_Actor],
    sink: RecordSink,
    progress: bool,
    handle_signals: bool,
) -> DriveOutcome:
    """Start every actor at one instant, merge their streams, then the outcome."""
    bar = progress_bar(config.plan.total, enabled=progress)
    lead_ns = max(500_000_000, 4 * max(a.rtt_ns for a in actors))
    start_at = time.time_ns() + lead_ns
    start_mono = time.perf_counter_ns() + (start_at - time.time_ns())
    interrupted: list[str] = []
    merge = _MergeClock()
    cpu0 = time.process_time()

    def deliver(record: RequestRecord) -> None:
        sink(record)
        bar.update(1)

    try:
        async with anyio.create_task_group() as outer:
            if handle_signals and threading.current_thread() is threading.main_thread():
                outer.start_soon(_forward_signals, actors, interrupted, config.grace_s)
            async with anyio.create_task_group() as streams:
                for actor in actors:
                    box = [ray.put(_job(actor))]  # the key: object store only
                    plan = {
                        "start_at_local_ns": start_at + actor.offset_ns,
                        "start_mono_driver_ns": start_mono,
                        "tags": {
                            "node": actor.node.get("node"),
                            "node_id": actor.node.get("node_id", "")[:12],
                            "actor": actor.index,
                        },
                    }
                    stream = actor.handle.run.options(
                        num_returns="streaming",
                        _generator_backpressure_num_objects=BACKPRESSURE_BATCHES,
                    ).remote(box, plan)
                    streams.start_soon(_consume, ray, actor, stream, deliver, merge)
            outer.cancel_scope.cancel()
    finally:
        bar.close()
    return _merge(config, actors, start_mono, time.process_time() - cpu0, interrupted, merge)


def _job(actor: _Actor) -> dict[str, Any]:
    multi = actor.share.workers > 1
    return {
        "config": config_to_wire(actor.share),
        "first_index": 0 if multi else actor.first_index,
        "index_shift": actor.first_index if multi else 0,
    }


@dataclass(slots=True)
class _MergeClock:
    """Time the driver spends decoding and merging records: its merge rate."""

    records: int = 0
    busy_ns: int = 0


async def _consume(
    ray: Any,
    actor: _Actor,
    stream: Any,
    deliver: Callable[[RequestRecord], None],
    merge: _MergeClock,
) -> None:
    """Turn one actor's batches into records; an actor that dies leaves its error."""
    try:
        async for ref in stream:
            data: bytes = await ref
            t = time.perf_counter_ns()
            for line in data.split(b"\n"):
                obj = json.loads(line)
                if obj.get("type") == "request":
                    deliver(record_from_json(obj))
                    actor.received += 1
                else:
                    actor.outcome = obj
            merge.busy_ns += time.perf_counter_ns() - t
    except ray.exceptions.RayError as exc:
        actor.error = _short_error(exc)
    merge.records += actor.received


def _short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}"


async def _forward_signals(actors: list[_Actor], interrupted: list[str], grace_s: float) -> None:
    """First SIGINT/SIGTERM: every actor stops sending, and its requests in flight get the
    grace period to finish (their records so far are kept). A second signal exits at once."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
            if interrupted:
                sys.stderr.write("\nllmbench-async: interrupted again, exiting now\n")
                sys.stderr.flush()
                os._exit(EXIT_FOR_SIGNAL[name])
            interrupted.append(name)
            sys.stderr.write(
                f"\nllmbench-async: {name} received; stopping the Ray actors, finishing "
                f"in-flight requests (up to {grace_s:g} s, again to quit now)\n"
            )
            sys.stderr.flush()
            for actor in actors:
                actor.handle.stop.remote(name)


def _merge(
    config: RunConfig,
    actors: list[_Actor],
    started: int,
    driver_cpu: float,
    interrupted: list[str],
    merge: _MergeClock,
) -> DriveOutcome:
    """One DriveOutcome for the whole run (merged as `--workers` merges its processes'), with
    each actor's self-check and what was lost. An actor that died left no outcome."""
    outcomes = [a.outcome for a in actors if a.outcome is not None]
    outcome = merge_outcomes(outcomes, started, driver_cpu, interrupted)
    wall_s = (outcome.ended_ns - outcome.started_ns) / 1e9
    return replace(outcome, distributed=_ray_report(config, actors, merge, wall_s))


def _ray_report(
    config: RunConfig, actors: list[_Actor], merge: _MergeClock, wall_s: float
) -> dict[str, Any]:
    """The `client.ray` block of the report: placement, clocks, per-actor self-check, losses."""
    rows = [_actor_row(a) for a in actors]
    late = [r["start_late_ms"] for r in rows if r["start_late_ms"] is not None]
    lost_nodes = sorted({a.where for a in actors if a.error is not None})
    return {
        "address": config.ray_address,
        "actors": rows,
        "nodes": len({a.node.get("node_id") for a in actors}),
        "start_spread_ms": (max(late) - min(late)) if late else None,
        "lost": sum(r["lost"] or 0 for r in rows),
        "lost_nodes": lost_nodes,
        "driver_records": merge.records,
        "driver_merge_records_per_s": merge.records / (merge.busy_ns / 1e9)
        if merge.busy_ns
        else None,
        "driver_records_per_s": merge.records / wall_s if wall_s > 0 else None,
    }


def _actor_row(actor: _Actor) -> dict[str, Any]:
    o = actor.outcome or {}
    wall = max(1e-9, float(o.get("wall_s", 0.0)))
    planned = actor.planned
    lost = None
    if actor.error is not None:
        lost = None if planned is None else max(0, planned - actor.received)
    return {
        "actor": actor.index,
        "node": actor.node.get("node"),
        "node_id": actor.node.get("node_id"),
        "host": actor.node.get("host"),
        "requests": actor.received,
        "planned": planned,
        "lost": lost,
        "error": actor.error,
        "loop_lag_ms": lag_summary(o.get("loop_lag_ms", ())),
        "cpu_percent": 100.0 * float(o.get("cpu_s", 0.0)) / wall if o else 0.0,
        "peak_in_flight": o.get("peak_in_flight"),
        "clock_offset_ms": actor.offset_ns / 1e6,
        "clock_rtt_ms": actor.rtt_ns / 1e6,
        "start_late_ms": o.get("start_late_ms"),
    }
