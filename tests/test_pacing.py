"""Load shapes: the schedules themselves (no sleeping), and the runner keeping them."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from llmbench_async import MockProcess, RunConfig, run
from llmbench_async.mock import MockConfig
from llmbench_async.pacing import (
    ClosedLoop,
    ConstantRate,
    LoadPlan,
    PoissonRate,
    TraceReplay,
    make_shape,
    new_run_id,
)


def _take(pacer: ConstantRate | PoissonRate, k: int) -> list[float]:
    return list(itertools.islice(pacer.offsets(), k))


def test_constant_rate_schedule_is_exact() -> None:
    offsets = _take(ConstantRate(4.0), 9)
    assert offsets == [k * 0.25 for k in range(9)]
    shifted = _take(ConstantRate(2.0, phase=0.1), 3)
    assert shifted == [0.1, 0.6, 1.1]
    assert str(ConstantRate(4.0)) == "constant rate 4 req/s"


def test_poisson_schedule_has_the_right_rate_and_shape() -> None:
    offsets = _take(PoissonRate(50.0, seed=1), 20001)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert all(g >= 0 for g in gaps)
    mean = statistics.fmean(gaps)
    assert abs(mean - 1 / 50) / (1 / 50) < 0.03  # mean gap 20 ms within 3%
    # exponential gaps: stdev equals the mean, and P(gap > mean) = e^-1
    assert abs(statistics.stdev(gaps) / mean - 1) < 0.05
    beyond = sum(g > mean for g in gaps) / len(gaps)
    assert abs(beyond - math.exp(-1)) < 0.02
    # a seed makes it reproducible; another seed differs
    assert _take(PoissonRate(50.0, seed=1), 50) == offsets[:50]
    assert _take(PoissonRate(50.0, seed=2), 50) != offsets[:50]
    assert str(PoissonRate(5, seed=3)) == "Poisson arrivals at 5 req/s, seed 3"


def test_a_trace_replay_shape_says_what_it_replays() -> None:
    assert str(TraceReplay("t.jsonl", "mooncake")) == "trace replay of t.jsonl (mooncake)"
    shape = TraceReplay("b.csv", None, 2.0, 60.0, 120.0)
    assert str(shape) == "trace replay of b.csv at 2× speed, 60 s to 120 s"
    assert (
        str(TraceReplay("a.csv", "azure", 1.0, 5.0))
        == "trace replay of a.csv (azure), 5 s to its end"
    )
    plan = LoadPlan(shape, None, None)  # the rows bound it: no count or duration needed
    assert plan.replay and plan.total is None
    with pytest.raises(TypeError):
        plan.arrivals()
    with pytest.raises(ValueError):
        LoadPlan(ClosedLoop(1), None, None)
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 8 and int(i, 16) >= 0 for i in ids)


def test_make_shape() -> None:
    assert make_shape(concurrency=3, rate=None, arrival="poisson", seed=None) == ClosedLoop(3)
    assert isinstance(
        make_shape(concurrency=1, rate=2, arrival="constant", seed=None), ConstantRate
    )


def test_open_loop_keeps_its_schedule_against_a_slow_server() -> None:
    # 20 req/s offered, but at most 2 in flight and each takes ~300 ms: the server can only
    # take ~6.7 req/s. Arrivals must still be scheduled 50 ms apart, and the wait shows as
    # queue delay instead of disappearing (no coordinated omission).
    with MockProcess(MockConfig(ttft_ms=100, itl_ms=50, tokens=5)) as mock:
        result = run(
            RunConfig(base_url=mock.base_url, n=12, rate=20, arrival="constant", max_concurrency=2)
        )
    records = sorted(result.records, key=lambda r: r.index)
    scheduled = [r.scheduled_ns for r in records]
    gaps_ms = [(b - a) / 1e6 for a, b in itertools.pairwise(scheduled)]
    assert all(abs(g - 50.0) < 0.01 for g in gaps_ms)  # the schedule itself is exact
    assert result.summary.ok == 12
    queue = result.summary.metrics["queue_delay_ms"]
    assert queue.max > 500  # the last arrivals waited for a slot
    assert result.outcome.peak_in_flight == 2
    # latency from schedule includes that wait; latency from send does not
    from llmbench_async.results.stats import summarize

    corrected = summarize(result.records, latency_from="schedule")
    assert corrected.metrics["e2e_ms"].max > result.summary.metrics["e2e_ms"].max + 400


def test_closed_loop_queue_delay_is_near_zero(fast_mock: MockProcess) -> None:
    # a slot's next request is due when its last response ended (the arrival of its final
    # bytes): queue delay is the client's own lateness in sending it, a few ms at most on a
    # busy machine; a wait for a slot would be a whole request (over 50 ms) or more
    result = run(RunConfig(base_url=fast_mock.base_url, n=8, concurrency=4))
    queue = result.summary.metrics["queue_delay_ms"]
    assert queue.p50 < 5 and queue.max < 30


def test_duration_and_warmup(fast_mock: MockProcess) -> None:
    # ~90 ms per request (TTFT 50 ms + 7 × 5 ms), 2 workers, 0.2 s warm-up then 0.5 s
    result = run(
        RunConfig(base_url=fast_mock.base_url, n=None, duration_s=0.5, warmup_s=0.2, concurrency=2)
    )
    warm = [r for r in result.records if r.warmup]
    measured = [r for r in result.records if not r.warmup]
    assert warm and measured
    assert result.summary.warmup == len(warm)
    assert result.summary.total == len(measured)
    start = min(r.scheduled_ns for r in result.records)
    assert all(r.scheduled_ns - start < 0.2e9 + 5e6 for r in warm)
    assert all(r.scheduled_ns - start >= 0.2e9 - 5e6 for r in measured)
    assert max(r.scheduled_ns for r in measured) - start < 0.7e9 + 5e6
    assert 8 <= len(measured) <= 14


def test_warmup_by_count(fast_mock: MockProcess) -> None:
    result = run(RunConfig(base_url=fast_mock.base_url, n=5, warmup_requests=3, concurrency=1))
    assert len(result.records) == 8
    assert sorted(r.index for r in result.records if r.warmup) == [0, 1, 2]
    assert result.summary.total == 5 and result.summary.warmup == 3


def test_gamma_schedule_keeps_the_mean_rate_and_cv_is_one_over_sqrt_b() -> None:
    from llmbench_async.pacing import GammaRate

    for burstiness in (0.25, 1.0, 4.0):
        offsets = _take(GammaRate(50.0, burstiness, seed=7), 40001)  # type: ignore[arg-type]
        gaps = [b - a for a, b in itertools.pairwise(offsets)]
        assert all(g >= 0 for g in gaps)
        mean = statistics.fmean(gaps)
        assert abs(mean - 1 / 50) / (1 / 50) < 0.03, (burstiness, mean)  # mean rate within 3%
        cv = statistics.stdev(gaps) / mean
        assert abs(cv - 1 / math.sqrt(burstiness)) < 0.05 / math.sqrt(burstiness), (
            burstiness,
            cv,
        )
    # seeded: reproducible; B = 1 is an exponential (Poisson) process
    assert _take(GammaRate(5.0, 0.5, seed=3), 20) == _take(GammaRate(5.0, 0.5, seed=3), 20)  # type: ignore[arg-type]
    assert str(GammaRate(5, 0.5, seed=3)) == "gamma arrivals at 5 req/s, burstiness 0.5, seed 3"
    shape = make_shape(concurrency=1, rate=5, arrival="gamma", seed=1, burstiness=2.0)
    assert shape == GammaRate(5, 2.0, 1)


def test_burstiness_must_be_positive() -> None:
    import pytest

    from llmbench_async.config import ConfigError

    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ConfigError, match="--burstiness must be more than 0"):
            RunConfig(rate=5, arrival="gamma", burstiness=bad)
    with pytest.raises(ConfigError, match="--burstiness needs --arrival gamma"):
        RunConfig(rate=5, burstiness=0.5)


def test_gamma_arrivals_reach_the_mock_on_schedule(tmp_path: object) -> None:
    # 40 bursty arrivals at 40 req/s: the mock's truth log receives each request at its
    # scheduled instant (within the loop's lag), so the schedule is what was offered
    import json
    from pathlib import Path

    log = Path(str(tmp_path)) / "truth.jsonl"
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, tokens=2, log_path=str(log))) as mock:
        result = run(
            RunConfig(
                base_url=mock.base_url, n=40, rate=40, arrival="gamma", burstiness=0.5, seed=5
            )
        )
    assert result.summary.ok == 40
    received = sorted(json.loads(line)["monotonic"]["received"] for line in log.open())
    scheduled = sorted(r.scheduled_ns / 1e9 for r in result.records)
    late = [got - due for got, due in zip(received, scheduled, strict=True)]
    assert all(-0.001 < d < 0.05 for d in late), late


# --- rates that change over time (--load-shape) ------------------------------------------


def _count_between(offsets: list[float], lo: float, hi: float) -> int:
    return sum(lo <= t < hi for t in offsets)


def _shaped(spec: str, arrival: str = "constant", k: int = 2000) -> list[float]:
    from llmbench_async.pacing import ShapedRate
    from llmbench_async.shapes import parse_load_shape

    pacer = ShapedRate(parse_load_shape(spec), arrival, seed=7)  # type: ignore[arg-type]
    return list(itertools.islice(pacer.offsets(), k))


def test_step_constant_arrivals_follow_each_step_exactly() -> None:
    offsets = _shaped("step:10@0s,40@2s,10@3s")
    assert all(b >= a for a, b in itertools.pairwise(offsets))
    # constant spacing within each step: 10/s for 2 s, 40/s for 1 s, 10/s after
    assert _count_between(offsets, 0, 2) == 20
    assert _count_between(offsets, 2, 3) == 40
    assert _count_between(offsets, 3, 5) == 20
    assert offsets[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert offsets[21] - offsets[20] == pytest.approx(0.025)


def test_spike_poisson_arrivals_follow_the_rate_within_sampling_error() -> None:
    offsets = _shaped("spike:base=50,peak=400,at=10s,for=5s", "poisson", 12000)
    for lo, hi, rate in ((0, 10, 50), (10, 15, 400), (15, 25, 50)):
        expected = rate * (hi - lo)
        # a Poisson count's stdev is its root: within 4 of them
        assert abs(_count_between(offsets, lo, hi) - expected) < 4 * math.sqrt(expected)


def test_a_pause_in_a_step_shape_sends_nothing() -> None:
    offsets = _shaped("step:0@0s,20@1s,0@2s,20@3s", k=60)
    assert offsets[0] == 1.0
    assert _count_between(offsets, 0, 1) == 0
    assert _count_between(offsets, 2.001, 3) == 0  # the 21st of [1, 2] lands at 2.0
    assert _count_between(offsets, 3, 4.001) == 20


def test_linear_and_sine_rates_integrate_to_the_expected_counts() -> None:
    linear = _shaped("linear:0@0s,100@10s")  # the count by t is 5 t²
    assert _count_between(linear, 0, 5) == pytest.approx(125, abs=1)
    assert _count_between(linear, 5, 10) == pytest.approx(375, abs=1)
    sine = _shaped("sine:mean=50,amp=40,period=4s", k=4000)
    # the first half period carries mean·2 + amp·P/π arrivals, the second mean·2 − amp·P/π
    assert _count_between(sine, 0, 2) == pytest.approx(100 + 160 / math.pi, abs=1)
    assert _count_between(sine, 2, 4) == pytest.approx(100 - 160 / math.pi, abs=1)
