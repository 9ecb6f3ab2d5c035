"""loadgen/runner.py: `run_requests` sends what the plan says to a real mock over loopback,
and each record's marks and clocks say what happened."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest
from hostile import hostile_server

from llmbench_async import RequestRecord
from llmbench_async.config import RunConfig
from llmbench_async.loadgen.build import build_workload
from llmbench_async.loadgen.runner import (
    DriveOptions,
    DriveOutcome,
    StopSignal,
    run_requests,
)
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.pacing import ClosedLoop, ConstantRate, LoadPlan
from llmbench_async.wire.assemble import build_target
from llmbench_async.wire.transport import make_client


@pytest.fixture(scope="module")
def mock() -> Iterator[MockProcess]:
    with MockProcess(MockConfig(ttft_ms=30, itl_ms=2, tokens=4)) as server:
        yield server


def _drive(
    mock: MockProcess, plan: LoadPlan, options: DriveOptions | None = None
) -> tuple[list[RequestRecord], DriveOutcome]:
    config = RunConfig(base_url=mock.base_url, model="mock-model", max_tokens=4)
    records: list[RequestRecord] = []

    async def main() -> DriveOutcome:
        async with make_client() as http:
            return await run_requests(
                http,
                build_target(config),
                build_workload(config),
                plan,
                records.append,
                options or DriveOptions(handle_signals=False),
            )

    return records, anyio.run(main)


def test_a_closed_loop_keeps_c_in_flight_and_sends_exactly_the_count(mock: MockProcess) -> None:
    records, outcome = _drive(mock, LoadPlan(ClosedLoop(3), count=12, warmup_requests=2))
    assert len(records) == 14 and all(r.ok for r in records)
    assert sorted(r.index for r in records) == list(range(14))
    assert sum(r.warmup for r in records) == 2
    assert outcome.peak_in_flight == 3 and outcome.not_sent == 0
    assert outcome.interrupted_by is None and outcome.fatal is None
    for r in records:  # every clock in order, on one monotonic clock
        assert r.scheduled_ns <= r.send_ns < r.end_ns
        assert r.first_token_ns is not None and r.first_token_ns <= r.end_ns
        assert (r.first_token_ns - r.send_ns) / 1e6 >= 25  # the server's 30 ms TTFT


def test_an_open_loop_sends_on_its_schedule(mock: MockProcess) -> None:
    records, outcome = _drive(mock, LoadPlan(ConstantRate(40.0), count=20))
    assert len(records) == 20 and all(r.ok for r in records)
    first = min(r.scheduled_ns for r in records)
    due = sorted((r.scheduled_ns - first) / 1e9 for r in records)
    assert due == pytest.approx([i / 40 for i in range(20)], abs=1e-6)  # scheduled exactly
    late = [(r.send_ns - r.scheduled_ns) / 1e6 for r in records]
    assert sorted(late)[len(late) // 2] < 50  # the median request left on time
    assert outcome.ended_ns > outcome.started_ns


def test_a_stop_ends_the_sending_and_keeps_what_was_gathered(mock: MockProcess) -> None:
    stop = StopSignal()
    records: list[RequestRecord] = []
    config = RunConfig(base_url=mock.base_url, model="mock-model", max_tokens=4)

    async def main() -> DriveOutcome:
        async with make_client() as http, anyio.create_task_group() as tg:

            async def stop_soon() -> None:
                await anyio.sleep(0.5)
                stop.set("SIGINT")

            tg.start_soon(stop_soon)
            return await run_requests(
                http,
                build_target(config),
                build_workload(config),
                LoadPlan(ClosedLoop(2), count=None, duration_s=30.0),
                records.append,
                DriveOptions(handle_signals=False, stop=stop, grace_s=1.0),
            )

    outcome = anyio.run(main)
    assert outcome.interrupted_by == "SIGINT"
    assert records and all(r.ok for r in records)  # in-flight requests finished in the grace
    assert (outcome.ended_ns - outcome.started_ns) / 1e9 < 10


def _run(url: str, n: int, c: int, sink: object) -> None:
    config = RunConfig(base_url=url, model="m", n=n, concurrency=c, max_tokens=8)

    async def main() -> None:
        async with make_client() as http:
            await run_requests(
                http,
                build_target(config),
                build_workload(config),
                config.plan,
                sink,  # type: ignore[arg-type]
                DriveOptions(handle_signals=False),
            )

    anyio.run(main)


def test_every_record_reaches_the_sink_once_after_the_next_requests_went_out() -> None:
    records: list[RequestRecord] = []
    seen_at_first_record: list[int] = []
    with hostile_server([]) as (url, seen):

        def sink(record: RequestRecord) -> None:
            if not records:
                # the slot this record freed has written its next request already: the
                # server gets a fifth one while the sink holds the loop (a sink called
                # before that send would wait here in vain until the deadline)
                deadline = time.monotonic() + 5.0
                while len(seen.requests) <= 4 and time.monotonic() < deadline:
                    time.sleep(0.005)
                seen_at_first_record.append(len(seen.requests))
            records.append(record)

        _run(url, n=12, c=4, sink=sink)
    assert sorted(r.index for r in records) == list(range(12))
    assert all(r.ok for r in records)
    assert len(seen.requests) == 12
    assert seen_at_first_record[0] > 4


def test_a_sink_that_fails_stops_the_run_and_its_error_is_raised() -> None:
    calls: list[int] = []

    def sink(record: RequestRecord) -> None:
        calls.append(record.index)
        raise OSError("the results pipe is gone")

    with hostile_server([]) as (url, seen), pytest.raises(OSError, match="pipe is gone"):
        _run(url, n=200, c=2, sink=sink)
    assert len(calls) <= 2  # the batch that failed, no more
    assert len(seen.requests) < 20  # the run stopped, far short of 200
