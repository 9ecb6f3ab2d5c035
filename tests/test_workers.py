"""`--workers`: load split, exact merge of records from several processes, self-check."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from llmbench_async import MockProcess, RetryPolicy, RunConfig, run
from llmbench_async.loadgen.workers import worker_configs
from llmbench_async.records import read_results
from llmbench_async.results.stats import summarize
from llmbench_async.session.run import run_async


def split_load(n: int, concurrency: int, workers: int) -> list[tuple[int | None, int]]:
    """Each worker's (requests, concurrency), as worker_configs shares them out."""
    config = RunConfig(
        base_url="http://127.0.0.1:9/v1", n=n, concurrency=concurrency, workers=workers
    )
    return [(share.n, share.concurrency) for share, _first in worker_configs(config)]


def test_split_load_is_even_and_complete() -> None:
    assert split_load(10, 4, 2) == [(5, 2), (5, 2)]
    assert split_load(11, 5, 3) == [(4, 2), (4, 2), (3, 1)]
    # never more workers than concurrency or requests
    assert split_load(3, 8, 8) == [(1, 3), (1, 3), (1, 2)]
    assert split_load(100, 1, 4) == [(100, 1)]
    for n, c, w in [(7, 3, 2), (1000, 64, 3), (5, 5, 5)]:
        shares = split_load(n, c, w)
        assert sum(s or 0 for s, _ in shares) == n
        assert sum(k for _, k in shares) == c


def test_two_workers_merge_exactly(fast_mock: MockProcess, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    result = run(RunConfig(base_url=fast_mock.base_url, n=30, concurrency=6, workers=2, output=out))
    assert result.summary.ok == 30
    assert sorted(r.index for r in result.records) == list(range(30))
    # the merged in-memory summary equals the one computed from the combined JSONL file
    from_file = summarize(read_results(out).records)
    assert from_file.metrics == result.summary.metrics
    assert from_file.samples == result.summary.samples
    assert (from_file.ok, from_file.total, from_file.duration_s) == (
        result.summary.ok,
        result.summary.total,
        result.summary.duration_s,
    )
    # both processes' records share one clock: the run spans what one process would
    assert result.summary.duration_s < 5
    ttft = result.summary.metrics["ttft_ms"]
    assert 49 <= ttft.p50 <= 60
    assert result.outcome.peak_in_flight == 6


def test_lag_warning_when_the_loop_is_blocked(fast_mock: MockProcess) -> None:
    from llmbench_async.report.publish import run_info
    from llmbench_async.report.summary import console_report

    async def blocked() -> object:
        async def hog() -> None:
            for _ in range(20):
                time.sleep(0.05)  # block the event loop on purpose
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(hog)
            return await run_async(RunConfig(base_url=fast_mock.base_url, n=12, concurrency=2))

    result = anyio.run(blocked)
    stats = result.client_stats  # type: ignore[attr-defined]
    assert stats["loop_lag_ms"]["p99"] > 20
    text = console_report(result.summary, run_info(result))  # type: ignore[attr-defined]
    assert "the client itself was busy" in text


@pytest.mark.parametrize("workers", [1, 2])
def test_fatal_stop_with_workers(workers: int) -> None:
    result = run(
        RunConfig(
            base_url="http://127.0.0.1:9/v1",
            model="m",
            n=20,
            concurrency=4,
            workers=workers,
            retry=RetryPolicy(retries=0),
        )
    )
    assert result.problem is not None and result.problem.startswith("cannot reach")
    assert "cannot connect" in result.problem
    assert len(result.records) < 20
