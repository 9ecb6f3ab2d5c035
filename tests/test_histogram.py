"""report/histogram.py: shapes, widths and counts."""

from __future__ import annotations

import random
import re

import pytest

from llmbench_async.report.histogram import render_histogram

LINE = re.compile(r"^  +(>\s)?(-?\d+(?:\.\d+)?)( \w+)? +\[(\d+)\] \|(■*)$")


def _parse(lines: list[str]) -> list[tuple[bool, float, int, int]]:
    """(is_overflow, bound, count, bar length) per line; fails on any malformed line."""
    rows = []
    for line in lines:
        m = LINE.match(line)
        assert m, line
        rows.append((m.group(1) is not None, float(m.group(2)), int(m.group(4)), len(m.group(5))))
    return rows


def _outliers() -> list[float]:
    return [90 + 20 * i / 998 for i in range(999)] + [100000.0]


def test_empty() -> None:
    lines = render_histogram([])
    assert len(lines) == 1
    assert "no data" in lines[0]


def test_one_value() -> None:
    lines = render_histogram([42.0])
    assert lines == ["  42.0 ms [1] |" + "■" * (80 - len("  42.0 ms [1] |"))]


def test_all_equal_is_one_bucket() -> None:
    lines = render_histogram([5.0] * 37, width=60)
    rows = _parse(lines)
    assert len(rows) == 1
    assert rows[0][:3] == (False, 5.0, 37)
    assert len(lines[0]) == 60


def test_heavy_outlier_gets_overflow_bucket() -> None:
    values = _outliers()
    lines = render_histogram(values, bins=10)
    rows = _parse(lines)
    assert len(rows) == 10
    overflow = rows[-1]
    assert overflow[0] and overflow[2] >= 1 and overflow[3] >= 1
    assert 100 < overflow[1] < 111  # labelled by p99, not by the outlier
    assert not any(r[0] for r in rows[:-1])
    assert sum(1 for r in rows[:-1] if r[2] > 0) >= 8  # the body is spread, not squashed
    assert sum(r[2] for r in rows) == len(values)
    assert all(len(line) <= 80 for line in lines)


def test_outlier_over_constant_body() -> None:
    rows = _parse(render_histogram([100.0] * 999 + [100000.0], unit=""))
    assert [(r[0], r[1], r[2]) for r in rows] == [(False, 100.0, 999), (True, 100.0, 1)]


def test_mild_tail_stays_linear() -> None:
    rng = random.Random(3)
    values = [rng.uniform(10, 20) for _ in range(1000)]
    rows = _parse(render_histogram(values))
    assert not any(r[0] for r in rows)
    assert len(rows) == 10
    assert rows[-1][1] == pytest.approx(max(values), abs=0.05)


@pytest.mark.parametrize("width", [40, 41, 57, 80, 120, 200])
def test_width_respected_and_filled(width: int) -> None:
    rng = random.Random(width)
    values = [rng.lognormvariate(4, 0.6) for _ in range(5000)]
    lines = render_histogram(values, width=width)
    assert all(len(line) <= width for line in lines)
    rows = _parse(lines)
    top = max(r[2] for r in rows)
    assert max(len(line) for line in lines) == width  # the largest bucket fills the width
    for (_, _, count, bar), line in zip(rows, lines, strict=True):
        assert (count == top) == (len(line) == width)
        assert (count > 0) == (bar > 0)


def test_narrow_width_is_widened_to_minimum() -> None:
    lines = render_histogram([1.0, 2.0, 3.0], width=10)
    assert max(len(line) for line in lines) == 40


def test_columns_are_aligned() -> None:
    lines = render_histogram(_outliers())
    assert len({line.index("[") + line[line.index("[") :].index("]") for line in lines}) == 1
    assert len({line.index("|") for line in lines}) == 1


@pytest.mark.parametrize("seed", range(8))
def test_counts_sum_to_len(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(1, 3000)
    values = [rng.expovariate(1 / rng.uniform(0.001, 5000)) for _ in range(n)]
    if seed % 2:
        values += [rng.uniform(1e5, 1e7) for _ in range(rng.randrange(3))]
    bins = rng.randrange(1, 25)
    lines = render_histogram(values, bins=bins, width=rng.randrange(40, 160))
    rows = _parse(lines)
    assert len(rows) <= bins
    assert sum(r[2] for r in rows) == len(values)
    bounds = [r[1] for r in rows if not r[0]]
    assert bounds == sorted(bounds)
    assert len(set(bounds)) == len(bounds)  # labels are precise enough to tell buckets apart


def test_unsorted_input_same_as_sorted() -> None:
    rng = random.Random(5)
    values = [rng.gauss(100, 15) for _ in range(500)]
    assert render_histogram(values) == render_histogram(sorted(values))


def test_label_precision() -> None:
    line = render_histogram([0.0001234, 0.0002], bins=1, unit="s")[0]
    assert "0.000200 s" in line
    lines = render_histogram([1000.0 + i / 1000 for i in range(500)], bins=5)
    assert [_parse([x])[0][1] for x in lines] == [1000.1, 1000.2, 1000.3, 1000.4, 1000.5]
    lines = render_histogram([float(i) for i in range(0, 1_000_001, 1000)], bins=4)
    assert "e+" not in "".join(lines)
    assert lines[0].strip().startswith("250000 ms")


def test_negative_values_and_custom_bar() -> None:
    lines = render_histogram([-5.0, -1.0, 0.0, 3.0, 7.0], bins=4, bar_char="#")
    assert sum(int(x) for x in re.findall(r"\[(\d+)\]", "".join(lines))) == 5
    assert all("■" not in line and line.endswith("#") for line in lines)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        render_histogram([1.0], bins=0)
    with pytest.raises(ValueError):
        render_histogram([1.0], bar_char="==")
    with pytest.raises(ValueError):
        render_histogram([1.0, float("nan")])
    with pytest.raises(ValueError):
        render_histogram([1.0, float("inf")])
