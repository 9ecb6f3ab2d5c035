"""Distribution-free 95 % confidence intervals of percentiles, from order statistics.

For n samples of a continuous quantity, the number B of samples at or below the true
percentile q_p is Binomial(n, p). The order statistics X_(l) and X_(u) (1-based ranks) bound
q_p with probability P(l <= B <= u - 1) = F(u - 1) - F(l - 1), whatever the distribution.
The interval is equal-tailed: l is the largest rank with F(l - 1) <= 2.5 % and u the smallest
with F(u - 1) >= 97.5 %, so its coverage is at least 95 %. F is the exact binomial CDF up to
EXACT_MAX_N samples and the normal approximation above (ranks rounded outward). A rank
outside 1..n means too few samples for that side: the bound is open (None).

Pure functions; nothing here prints. docs/intervals.md states the method and the rules.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, overload

from .stats import percentile

__all__ = [
    "CONFIDENCE",
    "EXACT_MAX_N",
    "INTERVAL_PERCENTILES",
    "WIDE_RELATIVE",
    "Interval",
    "interval",
    "interval_of",
    "intervals_json",
    "ranks",
    "saved_interval",
]

CONFIDENCE = 0.95
_TAIL = (1.0 - CONFIDENCE) / 2.0
_Z = 1.959963984540054  # the standard normal's 97.5 % quantile
EXACT_MAX_N = 5000  # exact binomial ranks up to this many samples; normal approximation above
# the percentiles every summary gives an interval for (those the JSON's metrics hold)
INTERVAL_PERCENTILES: tuple[str, ...] = ("p50", "p90", "p95", "p99")
# an interval whose half-width exceeds this share of its point is "wide" (or an open one)
WIDE_RELATIVE = 0.10


@dataclass(frozen=True, slots=True)
class Interval:
    """A percentile with its 95 % interval; a bound is None when it is open (too few
    samples for that side)."""

    point: float
    lower: float | None
    upper: float | None
    n: int
    method: str  # "exact" (binomial) or "normal" (approximation)

    @property
    def open(self) -> bool:
        """Too few samples for a two-sided 95 % interval."""
        return self.lower is None or self.upper is None

    @property
    def unbounded(self) -> bool:
        """Neither bound: too few samples to say anything at 95 %."""
        return self.lower is None and self.upper is None

    @property
    def relative_half_width(self) -> float | None:
        """(upper - lower) / 2 / |point|; None when a bound is open or the point is 0."""
        if self.lower is None or self.upper is None or self.point == 0:
            return None
        return (self.upper - self.lower) / 2.0 / abs(self.point)

    @property
    def wide(self) -> bool:
        """Open, or a half-width above WIDE_RELATIVE of the point (the console's `~`)."""
        if self.lower is None or self.upper is None:
            return True
        rel = self.relative_half_width
        return rel is not None and rel > WIDE_RELATIVE

    def contains(self, value: float) -> bool:
        """Whether `value` lies inside (an open side reaches to infinity)."""
        return (self.lower is None or value >= self.lower) and (
            self.upper is None or value <= self.upper
        )

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share a value (an open side reaches to infinity)."""
        below = self.lower is None or other.upper is None or self.lower <= other.upper
        above = other.lower is None or self.upper is None or other.lower <= self.upper
        return below and above

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.point,
            "lower": self.lower,
            "upper": self.upper,
            "n": self.n,
            "method": self.method,
            "open": self.open,
        }


@lru_cache(maxsize=1024)
def ranks(n: int, p: float) -> tuple[int, int]:
    """The 1-based ranks (l, u) of the 95 % interval of the `p` quantile (0 < p < 1) of n
    samples; l == 0 means an open lower bound, u == n + 1 an open upper one."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if n <= 0:
        return 0, n + 1
    if n > EXACT_MAX_N:
        sigma = math.sqrt(n * p * (1.0 - p))
        low = math.floor(n * p - _Z * sigma)
        high = math.ceil(n * p + _Z * sigma) + 1
        return max(low, 0), min(high, n + 1)
    return _exact_ranks(n, p)


def _exact_ranks(n: int, p: float) -> tuple[int, int]:
    """Walk the exact binomial CDF: l - 1 is the last k with F(k) <= 2.5 %, u - 1 the first
    k with F(k) >= 97.5 %."""
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    cdf = 0.0
    low = 0  # ranks l: F(l - 1) <= tail; F(-1) = 0, so l = 0 always qualifies
    high = n + 1
    for k in range(n + 1):
        log_pmf = log_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p
        cdf += math.exp(log_pmf + (n - k) * log_q)
        if cdf <= _TAIL:
            low = k + 1
        if cdf >= 1.0 - _TAIL - 1e-12:
            high = k + 1
            break
    return low, high


def interval(sorted_values: Sequence[float], q: float) -> Interval | None:
    """The percentile `q` (0 < q < 100) of sorted values with its 95 % interval; None
    without values."""
    n = len(sorted_values)
    if n == 0:
        return None
    low, high = ranks(n, q / 100.0)
    return Interval(
        point=percentile(sorted_values, q),
        lower=float(sorted_values[low - 1]) if low >= 1 else None,
        upper=float(sorted_values[high - 1]) if high <= n else None,
        n=n,
        method="exact" if n <= EXACT_MAX_N else "normal",
    )


def interval_of(values: Sequence[float], q: float) -> Interval | None:
    """`interval` of unsorted values, selecting only the order statistics it needs: a tail
    percentile of a million samples reads its top (or bottom) few thousand in one pass
    instead of sorting them all (--until-stable checks while the run goes on)."""
    n = len(values)
    if n == 0:
        return None
    low, high = ranks(n, q / 100.0)
    at = math.floor((n - 1) * q / 100.0) + 1  # the point's lower rank (1-based)
    needed = [r for r in (low, high, at, at + 1) if 1 <= r <= n]
    first, last = min(needed), max(needed)
    part = n // 8
    if n - first + 1 <= part:
        top = heapq.nlargest(n - first + 1, values)  # rank r is top[n - r]
        return interval(_Ranked(n, lambda i: top[n - 1 - i]), q)
    if last <= part:
        bottom = heapq.nsmallest(last, values)
        return interval(_Ranked(n, bottom.__getitem__), q)
    return interval(sorted(values), q)


class _Ranked(Sequence[float]):
    """n sorted values of which only some are known: item i is the (i+1)-th smallest."""

    def __init__(self, n: int, item: Callable[[int], float]) -> None:
        self._n, self._item = n, item

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> float: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[float]: ...
    def __getitem__(self, i: int | slice) -> float | Sequence[float]:
        if isinstance(i, slice):
            raise TypeError("a partly known ranking cannot be sliced")
        return self._item(i if i >= 0 else self._n + i)


def intervals_json(samples: Mapping[str, Sequence[float]]) -> dict[str, dict[str, Any]]:
    """The summary JSON's `intervals`: metric key → pNN → {value, lower, upper, n, method,
    open}, for the metrics with samples."""
    out: dict[str, dict[str, Any]] = {}
    for key, values in samples.items():
        if not values:
            continue
        per: dict[str, Any] = {}
        for stat in INTERVAL_PERCENTILES:
            found = interval(values, float(stat[1:]))
            if found is not None:
                per[stat] = found.to_json()
        out[key] = per
    return out


def saved_interval(document: Mapping[str, Any], key: str, stat: str) -> Interval | None:
    """A percentile's interval from a saved summary JSON; None when the file has none (saved
    before intervals existed, or no sample)."""
    section = document.get("intervals")
    entry = section.get(key) if isinstance(section, Mapping) else None
    found = entry.get(stat) if isinstance(entry, Mapping) else None
    if not isinstance(found, Mapping):
        return None
    point, n = _num(found.get("value")), found.get("n")
    if point is None or not isinstance(n, int) or isinstance(n, bool):
        return None
    method = found.get("method")
    return Interval(
        point=point,
        lower=_num(found.get("lower")),
        upper=_num(found.get("upper")),
        n=n,
        method=method if method in ("exact", "normal") else "exact",
    )


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
