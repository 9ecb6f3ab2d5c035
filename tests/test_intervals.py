"""results/intervals.py: the order-statistic ranks of a percentile's 95 % interval against
known tables and a direct binomial sum, its coverage by simulation, and the interval read
back from saved summaries of any age."""

from __future__ import annotations

import math
import random

import pytest

from llmbench_async.results import intervals
from llmbench_async.results.intervals import Interval, interval, ranks, saved_interval


def _cdf(n: int, p: float, k: int) -> float:
    """P(Binomial(n, p) <= k), summed directly with exact integers (k < 0: 0)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


@pytest.mark.parametrize(
    ("n", "p", "expected"),
    [
        (20, 0.5, (6, 15)),  # the textbook median interval of 20 samples
        (100, 0.5, (40, 61)),
        (5, 0.5, (0, 6)),  # 5 samples: P(all on one side) = 3.1 % > 2.5 %: both open
        (6, 0.5, (1, 6)),  # from 6 samples the median is bounded by min and max
        (20, 0.99, (19, 21)),  # p99 of 20: a lower bound only
        (367, 0.99, (359, 368)),  # p99 needs 368 samples for an upper bound
        (368, 0.99, (360, 368)),  # ... and from 368 its maximum is one
    ],
)
def test_ranks_of_known_cases(n: int, p: float, expected: tuple[int, int]) -> None:
    assert ranks(n, p) == expected


@pytest.mark.parametrize("n", [1, 2, 7, 30, 99, 250, 1000])
@pytest.mark.parametrize("p", [0.5, 0.9, 0.95, 0.99])
def test_exact_ranks_are_the_equal_tailed_ones(n: int, p: float) -> None:
    low, high = ranks(n, p)
    # l - 1 is the last k with F(k) <= 2.5 %, u - 1 the first with F(k) >= 97.5 %
    assert _cdf(n, p, low - 1) <= 0.025 + 1e-12
    if low <= n - 1:
        assert _cdf(n, p, low) > 0.025
    if high <= n:
        assert _cdf(n, p, high - 1) >= 0.975 - 1e-9
        assert high == 1 or _cdf(n, p, high - 2) < 0.975
    else:
        assert _cdf(n, p, n - 1) < 0.975  # open: even X_(n) is not high enough
    assert _cdf(n, p, high - 1) - _cdf(n, p, low - 1) >= 0.95 - 1e-9


def test_normal_approximation_above_the_exact_range_is_close() -> None:
    n = intervals.EXACT_MAX_N + 1000
    for p in (0.5, 0.9, 0.99):
        exact = intervals._exact_ranks(n, p)
        approx = ranks(n, p)
        assert approx[0] <= exact[0] and approx[1] >= exact[1]  # rounded outward
        assert exact[0] - approx[0] <= 2 and approx[1] - exact[1] <= 2


@pytest.mark.parametrize(
    ("n", "q", "true"),
    [(50, 90.0, -math.log(0.1)), (400, 99.0, -math.log(0.01)), (12, 50.0, math.log(2))],
)
def test_coverage_by_simulation(n: int, q: float, true: float) -> None:
    """Exponential samples (a skewed latency-like law; its quantiles known exactly): the
    interval holds the true percentile in at least 95 % of 2000 seeded trials, and is not
    trivially wide (it misses it sometimes)."""
    rng = random.Random(23)
    hits = closed = 0
    trials = 2000
    for _ in range(trials):
        values = sorted(rng.expovariate(1.0) for _ in range(n))
        found = interval(values, q)
        assert found is not None
        hits += found.contains(true)
        closed += not found.open
    assert closed == trials
    coverage = hits / trials
    # 2000 trials: the binomial standard error at 95 % is 0.5 %, so 94 % is 2 errors below
    assert 0.94 <= coverage <= 0.995, coverage


def test_interval_uses_the_order_statistics_and_says_when_open() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    median = interval(values, 50)
    assert median == Interval(point=10.5, lower=6.0, upper=15.0, n=20, method="exact")
    assert not median.open and median.contains(10.5) and not median.contains(15.5)
    assert median.relative_half_width == pytest.approx(4.5 / 10.5)
    assert median.wide  # ± 43 %
    p99 = interval(values, 99)
    assert p99 is not None and (p99.lower, p99.upper, p99.open) == (19.0, None, True)
    assert p99.wide and p99.relative_half_width is None and p99.contains(1e9)
    assert interval([], 50) is None
    tight = interval([100.0 + i / 1000 for i in range(200)], 50)
    assert tight is not None and not tight.wide


def test_saved_interval_reads_new_files_and_tolerates_old_or_odd_ones() -> None:
    doc = {
        "intervals": {
            "ttft_ms": {"p99": {"value": 5.0, "lower": 4.0, "upper": None, "n": 20}},
            "e2e_ms": {"p50": {"value": "x", "n": 3}},
        }
    }
    found = saved_interval(doc, "ttft_ms", "p99")
    assert found == Interval(point=5.0, lower=4.0, upper=None, n=20, method="exact")
    assert saved_interval(doc, "ttft_ms", "p50") is None
    assert saved_interval(doc, "e2e_ms", "p50") is None  # not a number
    assert saved_interval({}, "ttft_ms", "p99") is None  # saved before intervals existed
    assert saved_interval({"intervals": [1]}, "ttft_ms", "p99") is None


def test_ranks_refuse_a_quantile_outside_zero_one() -> None:
    with pytest.raises(ValueError):
        ranks(10, 1.0)
    assert ranks(0, 0.5) == (0, 1)


def test_overlap_rule_by_simulation() -> None:
    """compare's "same within noise": two runs of one server (400 exponential samples
    each) have overlapping p50 intervals nearly always; one twice as slow almost never."""
    rng = random.Random(7)

    def p50(scale: float) -> Interval:
        found = interval(sorted(rng.expovariate(1.0) * scale for _ in range(400)), 50)
        assert found is not None
        return found

    alike = sum(p50(1.0).overlaps(p50(1.0)) for _ in range(500)) / 500
    apart = sum(p50(1.0).overlaps(p50(2.0)) for _ in range(500)) / 500
    assert alike >= 0.98, alike
    assert apart <= 0.02, apart
    low = Interval(point=1.0, lower=0.5, upper=None, n=9, method="exact")
    assert low.overlaps(Interval(point=9.0, lower=8.0, upper=10.0, n=9, method="exact"))
    assert not low.overlaps(Interval(point=0.3, lower=0.2, upper=0.4, n=9, method="exact"))


@pytest.mark.parametrize("n", [1, 5, 20, 100, 1000, 6000, 20000])
@pytest.mark.parametrize("q", [1.0, 10.0, 50.0, 90.0, 99.0, 99.9])
def test_interval_of_unsorted_values_selects_what_it_needs(n: int, q: float) -> None:
    """--until-stable's check reads only the order statistics it needs (a heap over a tail);
    it must give exactly the interval of the sorted samples."""
    rng = random.Random(n * 1000 + int(q * 10))
    values = [rng.lognormvariate(3.0, 0.5) for _ in range(n)]
    values[n // 2] = values[0]  # a tie
    assert intervals.interval_of(values, q) == interval(sorted(values), q)
    assert intervals.interval_of([], q) is None
