"""The runner's hand-over of records to the sink (loadgen/runner.py): records reach the sink
after the tasks ready at that moment have run, in one batch per loop pass, so the slots whose
responses ended together send their next requests first. Through real sockets (the
raw-socket test server): every record arrives exactly once, the next requests went out
before the bookkeeping of the wave that freed them, and a sink that fails stops the run and
its error is raised."""

from __future__ import annotations

import time

import anyio
import pytest
from hostile import hostile_server

from llmbench_async import RequestRecord
from llmbench_async.config import RunConfig
from llmbench_async.loadgen.runner import DriveOptions, build_workload, run_requests
from llmbench_async.wire.assemble import build_target
from llmbench_async.wire.transport import make_client


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
