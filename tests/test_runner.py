"""loadgen/runner.py: `run_requests` sends what the plan says to a real mock over loopback,
and each record's marks and clocks say what happened."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from llmbench_async.config import RunConfig
from llmbench_async.loadgen.runner import (
    DriveOptions,
    DriveOutcome,
    StopSignal,
    build_workload,
    run_requests,
)
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.pacing import ClosedLoop, ConstantRate, LoadPlan
from llmbench_async.records import RequestRecord
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
