"""ASCII histogram of one distribution, in the style of oha and hey (knows no metric names)."""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections.abc import Sequence
from itertools import islice

from ..results.stats import percentile

__all__ = ["MIN_WIDTH", "render_histogram"]

MIN_WIDTH = 40  # narrower widths are widened to this
_SIGNIFICANT = 3  # significant digits of the largest label
_MAX_DECIMALS = 9
_OUTLIER_Q = 99.0  # the robust upper bound, as a percentile
_OUTLIER_STRETCH = 3.0  # overflow bucket when max - min exceeds this x (p99 - min)


def render_histogram(
    values: Sequence[float],
    *,
    width: int = 80,
    bins: int = 10,
    unit: str = "ms",
    bar_char: str = "■",
) -> list[str]:
    """Lines `  <upper bound> [<count>] |<bar>`, the longest bar filling `width` (≥ 40).

    Buckets are linear from min to max, each labelled by its upper bound. When the top 1% would
    stretch that axis more than 3x (max - min > 3 x (p99 - min)), the linear buckets span min to
    p99 instead, and a last bucket `> p99` holds the rest; `bins` counts it. Equal values give
    one bucket, no values one "no data" line, and any non-empty bucket gets at least one bar.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if len(bar_char) != 1:
        raise ValueError(f"bar_char must be one character, got {bar_char!r}")
    if len(values) == 0:
        return ["  no data"]
    xs = values if _is_sorted(values) else sorted(values)
    if not all(map(math.isfinite, xs)):
        raise ValueError("histogram values must be finite")

    edges, counts, overflow = _buckets(xs, bins)
    step = edges[1] - edges[0] if len(edges) > 1 else 0.0
    decimals = _decimals(max(abs(xs[0]), abs(edges[-1])), step)
    suffix = f" {unit}" if unit else ""
    labels = [f"{e:.{decimals}f}{suffix}" for e in edges]
    if overflow is not None:
        labels.append(f"> {edges[-1]:.{decimals}f}{suffix}")
        counts.append(overflow)

    tags = [f"[{c}]" for c in counts]
    label_w = max(map(len, labels))
    tag_w = max(map(len, tags))
    bar_room = max(max(width, MIN_WIDTH) - (2 + label_w + 1 + tag_w + 2), 0)
    top = max(counts)
    lines = []
    for label, tag, count in zip(labels, tags, counts, strict=True):
        bar = 0 if count == 0 else max(1, (count * bar_room * 2 + top) // (top * 2))
        lines.append(f"  {label:>{label_w}} {tag:>{tag_w}} |{bar_char * min(bar, bar_room)}")
    return lines


def _buckets(xs: Sequence[float], bins: int) -> tuple[list[float], list[int], int | None]:
    """Upper edges and counts of the linear buckets, and the overflow count (None if none)."""
    lo, hi = xs[0], xs[-1]
    if lo == hi:
        return [hi], [len(xs)], None
    upper, linear = hi, bins
    overflow = False
    if bins >= 2:
        robust = percentile(xs, _OUTLIER_Q)
        if hi - lo > _OUTLIER_STRETCH * (robust - lo):
            upper, linear, overflow = robust, bins - 1, True
    if upper == lo:
        linear = 1
    step = (upper - lo) / linear
    edges = [lo + step * (i + 1) for i in range(linear - 1)] + [upper]
    counts: list[int] = []
    below = 0
    for edge in edges:
        upto = bisect_right(xs, edge)
        counts.append(upto - below)
        below = upto
    return edges, counts, (len(xs) - below) if overflow else None


def _decimals(magnitude: float, step: float) -> int:
    """Decimals that show the largest label to 3 significant digits and the step to 2."""
    decimals = 0
    if magnitude > 0:
        decimals = max(decimals, _SIGNIFICANT - 1 - math.floor(math.log10(magnitude)))
    if step > 0:
        step = float(f"{step:.2g}")  # 0.0998 → 0.1, which needs 2 decimals, not 3
        decimals = max(decimals, 1 - math.floor(math.log10(step)))
    return min(decimals, _MAX_DECIMALS)


def _is_sorted(values: Sequence[float]) -> bool:
    return all(map(operator.le, values, islice(values, 1, None)))
