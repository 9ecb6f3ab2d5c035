"""Time series: windows from records, bounded size, order independence, and a capacity-limited
mock under a rising arrival rate that must show queueing after the knee."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
import pytest
from conftest import run_cli

from llmbench_async.config import RunConfig
from llmbench_async.loadgen.build import build_workload
from llmbench_async.loadgen.runner import DriveOptions, run_requests
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.pacing import LoadPlan
from llmbench_async.records import RequestRecord
from llmbench_async.results.stats import percentile
from llmbench_async.watch.timeseries import (
    MAX_WINDOWS,
    TIMESERIES_SCHEMA,
    LogSketch,
    SeriesBuilder,
    timeseries_from_records,
)
from llmbench_async.wire.assemble import build_target
from llmbench_async.wire.transport import make_client

S = 1_000_000_000
MS = 1_000_000


def _rec(index: int, send_s: float, dur_s: float, **kw: object) -> RequestRecord:
    send = int(send_s * S)
    end = send + int(dur_s * S)
    fields: dict[str, object] = {
        "first_token_ns": send + int(0.1 * S),
        "last_token_ns": end,
        "token_gaps_ns": (10 * MS, 20 * MS),
        "output_tokens": 3,
    }
    fields.update(kw)
    return RequestRecord(index=index, scheduled_ns=send, send_ns=send, end_ns=end, **fields)  # type: ignore[arg-type]


def test_windows_count_starts_ends_errors_and_in_flight() -> None:
    records = [
        _rec(0, 0.1, 0.5),  # starts w0, ends w0
        _rec(1, 0.2, 1.5),  # starts w0, ends w1
        _rec(2, 1.1, 1.2, error_kind="http_5xx", first_token_ns=None, output_tokens=None),
        _rec(3, 1.3, 0.1, error_kind="timeout", first_token_ns=None, output_tokens=None),
    ]
    doc = timeseries_from_records(records, window_s=1.0).to_json()
    w = doc["windows"]
    assert doc["schema"] == TIMESERIES_SCHEMA
    assert doc["window_s"] == 1.0
    assert w["start_s"] == [0.0, 1.0, 2.0]
    assert w["started"] == [2, 2, 0]
    assert w["finished"] == [1, 2, 1]
    assert w["ok"] == [1, 1, 0]
    assert w["failed"] == {"http_5xx": [0, 0, 1], "timeout": [0, 1, 0]}
    assert w["in_flight"] == [1, 1, 0]
    assert w["output_tokens_per_s"] == [3.0, 3.0, 0.0]
    # TTFT 100 ms for both ok records, within the sketch's 1 %
    assert w["ttft_ms"]["p50"][0] == pytest.approx(100, rel=0.01)
    assert w["ttft_ms"]["p50"][2] is None
    assert w["itl_ms"]["p99"][1] == pytest.approx(20, rel=0.01)


def test_order_does_not_matter_and_coarsening_bounds_the_size() -> None:
    rng = random.Random(7)
    # 3 hours of requests at 1 s windows: 10800 windows would be needed
    records = [_rec(i, rng.uniform(0, 3 * 3600), rng.uniform(0.05, 3)) for i in range(20_000)]
    a = timeseries_from_records(records, window_s=1.0).to_json()
    rng.shuffle(records)
    b = timeseries_from_records(records, window_s=1.0).to_json()
    assert json.dumps(a) == json.dumps(b)
    assert len(a["windows"]["start_s"]) <= MAX_WINDOWS
    assert a["window_s"] == 32.0  # 1 s doubled until 3 h fit in 600 windows
    assert a["requested_window_s"] == 1.0
    assert sum(a["windows"]["started"]) == sum(a["windows"]["finished"]) == 20_000


def test_log_sketch_quantiles_within_one_percent() -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(4, 1) for _ in range(5000))
    sketch = LogSketch()
    for v in values:
        sketch.add(v)
    for q in (0.5, 0.9, 0.99):
        assert sketch.quantile(q) == pytest.approx(percentile(values, q * 100), rel=0.011)
    assert LogSketch().quantile(0.5) is None


def test_warmup_is_marked() -> None:
    builder = SeriesBuilder(0, window_s=0.5)
    builder.add(replace(_rec(0, 0.0, 0.4), warmup=True))
    builder.add(_rec(1, 0.6, 0.2))
    marks = builder.to_json()["marks"]
    assert marks == [{"label": "warm-up", "start_s": 0.0, "end_s": pytest.approx(0.4)}]


def test_ramp_up_is_marked_after_the_warm_up() -> None:
    builder = SeriesBuilder(0, window_s=0.5)
    builder.add(replace(_rec(0, 0.0, 0.3), warmup=True))
    for i, due in enumerate((0.5, 0.9, 1.2, 1.4)):  # ramp requests, due ever closer
        builder.add(replace(_rec(1 + i, due, 0.2), ramp=True))
    builder.add(_rec(5, 1.5, 0.2))  # the first measured request is due at 1.5 s
    builder.add(_rec(6, 1.6, 0.2))
    marks = builder.to_json()["marks"]
    assert marks == [
        {"label": "warm-up", "start_s": 0.0, "end_s": pytest.approx(0.3)},
        {"label": "ramp-up", "start_s": pytest.approx(0.5), "end_s": pytest.approx(1.5)},
    ]
    only_ramp = SeriesBuilder(0, window_s=0.5)
    only_ramp.add(replace(_rec(0, 0.2, 0.1), ramp=True))
    only_ramp.add(replace(_rec(1, 0.7, 0.1), ramp=True))
    assert only_ramp.to_json()["marks"] == [
        {"label": "ramp-up", "start_s": pytest.approx(0.2), "end_s": pytest.approx(0.7)}
    ]


@dataclass(frozen=True, slots=True)
class RisingRate:
    """Arrivals whose rate climbs linearly from `start` to `end` requests/s over `span_s`."""

    start: float
    end: float
    span_s: float

    def offsets(self) -> Iterator[float]:
        t = 0.0
        while t < self.span_s:
            yield t
            rate = self.start + (self.end - self.start) * t / self.span_s
            t += 1.0 / rate

    def __str__(self) -> str:
        return f"rising rate {self.start:g}→{self.end:g}/s over {self.span_s:g} s"


@pytest.fixture(scope="module")
def capacity_mock() -> Iterator[MockProcess]:
    # 4 slots of ~75 ms each: about 53 requests/s before requests queue in the server
    with MockProcess(MockConfig(ttft_ms=40, itl_ms=5, tokens=8, capacity=4)) as mock:
        yield mock


def test_windows_show_queueing_after_the_knee(capacity_mock: MockProcess) -> None:
    config = RunConfig(base_url=capacity_mock.base_url, model="mock-model", n=None, duration_s=4)
    records: list[RequestRecord] = []

    async def main() -> int:
        async with make_client() as http:
            started = time.perf_counter_ns()
            await run_requests(
                http,
                build_target(config),
                build_workload(config),
                # any Pacer drives the open loop; no cap on requests in flight
                LoadPlan(shape=RisingRate(10, 110, 4.0), count=None, duration_s=4.0),  # type: ignore[arg-type]
                records.append,
                DriveOptions(handle_signals=False),
            )
            return started

    t0 = anyio.run(main)
    assert records and all(r.ok for r in records)
    builder = SeriesBuilder(t0, window_s=0.5)
    for r in records:
        builder.add(r)
    doc = builder.to_json()
    ttft = doc["windows"]["ttft_ms"]["p50"]
    flight = doc["windows"]["in_flight"]
    # before the knee (≤ 30/s, first 1 s): the server's own 40 ms TTFT
    assert all(v is not None and v < 70 for v in ttft[:2]), ttft
    # well past it (≥ 85/s, last second): requests wait for a slot, TTFT climbs
    late = [v for v in ttft[6:8] if v is not None]
    assert late and min(late) > 150, ttft
    assert max(flight[6:]) > 3 * max(flight[:2]), flight


def test_report_recomputes_the_series_from_the_results_file(
    fast_mock: MockProcess, tmp_path: Path
) -> None:
    out, first, again = tmp_path / "r.jsonl", tmp_path / "a.json", tmp_path / "b.json"
    res = run_cli(
        "--base-url", fast_mock.base_url, "-n", "30", "-c", "3", "-o", str(out),
        "--json", str(first), "--window", "200ms", "-q",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    res = run_cli("report", str(out), "--json", str(again), "--window", "0.2", "-q")
    assert res.code == 0, res.stderr
    live = json.loads(first.read_text())["timeseries"]
    saved = json.loads(again.read_text())["timeseries"]
    assert live["window_s"] == saved["window_s"] == 0.2
    # same records, same windows: the run's t0 and the file's t0 are the same instant
    assert saved["windows"] == live["windows"]
    assert sum(saved["windows"]["ok"]) == 30


def test_bad_window_is_one_line_exit_2() -> None:
    res = run_cli("--mock", "-n", "1", "--window", "0s")
    assert res.code == 2
    assert res.stderr.count("\n") == 1 and "--window" in res.stderr


def test_offered_load_counts_requests_in_the_window_they_were_due() -> None:
    """`scheduled` (offered) counts by due instant, `ok` (achieved) by end: a request due at
    0.5 s but sent at 1.5 s (queued) is offered in window 0, started in window 1."""
    queued = replace(_rec(0, 1.5, 0.2), scheduled_ns=int(0.5 * S))
    doc = timeseries_from_records([queued, _rec(1, 0.2, 2.1)], window_s=1.0).to_json()
    w = doc["windows"]
    assert w["scheduled"] == [2, 0, 0]
    assert w["started"] == [1, 1, 0]
    assert w["ok"] == [0, 1, 1]
