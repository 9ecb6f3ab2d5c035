"""The SLO over time: `--fail-if` judged in each window of due instants, for a load that
changes (`--load-shape`). It says which windows broke the SLO, the share of the run's
time they cover, and how long after the shape's peak ended the SLO held again.

A request belongs to the window of the instant it was due (its scheduled instant), so the
requests a spike offered are judged together, however late they were served. Each window
is judged like the whole run, on its own requests (warm-up and ramp requests left out);
a window with no request due is not judged. The recovery time is measured to the end of
the last violated window at or after the peak's end: its resolution is one window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..records import RequestRecord
from ..shapes import parse_load_shape
from .gate import Threshold, judge
from .stats import SummaryBuilder

__all__ = ["SloOverTime", "SloWindows", "saved_slo_over_time", "window_width"]

MAX_SLO_WINDOWS = 600  # as the time series: a longer run judges wider windows


def window_width(window_s: float, duration_s: float | None) -> float:
    """The judged window: the time series' window, widened so a run of `duration_s` has at
    most `MAX_SLO_WINDOWS` of them."""
    if duration_s is None:
        return window_s
    return max(window_s, duration_s / MAX_SLO_WINDOWS)


@dataclass(frozen=True, slots=True)
class SloOverTime:
    """Which windows broke the SLO, and the recovery after the peak."""

    window_s: float
    judged: int  # windows with at least one request due
    violated_start_s: tuple[float, ...]  # start of each violated window (seconds)
    peak_end_s: float | None  # when the shape's peak ended (None: no single peak)
    recovery_s: float | None  # peak end → end of the last violated window; 0: held at once
    recovered: bool | None  # False: still violated in the last window (None: no peak)

    @property
    def violated_share(self) -> float | None:
        """Share of the judged time (windows) during which the SLO was violated."""
        return None if not self.judged else len(self.violated_start_s) / self.judged

    def to_json(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "windows_judged": self.judged,
            "windows_violated": len(self.violated_start_s),
            "violated_share": self.violated_share,
            "violated_start_s": list(self.violated_start_s),
            "peak_end_s": self.peak_end_s,
            "recovery_s": self.recovery_s,
            "recovered": self.recovered,
        }


class SloWindows:
    """Feeds each record into the builder of its due window; `result()` judges them."""

    def __init__(
        self,
        thresholds: Sequence[Threshold],
        *,
        t0_ns: int,
        window_s: float,
        peak_end_s: float | None,
        builder: Callable[[], SummaryBuilder],
    ) -> None:
        self.thresholds = tuple(thresholds)
        self.t0_ns = t0_ns
        self.width_ns = max(1, int(window_s * 1e9))
        self.peak_end_s = peak_end_s
        self._new = builder
        self._windows: dict[int, SummaryBuilder] = {}

    def add(self, record: RequestRecord) -> None:
        if record.warmup or record.ramp:
            return
        index = max(0, record.scheduled_ns - self.t0_ns) // self.width_ns
        found = self._windows.get(index)
        if found is None:
            found = self._windows[index] = self._new()
        found.add(record)

    def result(self) -> SloOverTime:
        width = self.width_ns / 1e9
        held = {
            i: all(v.passed for v in judge(b.summary(), self.thresholds))
            for i, b in sorted(self._windows.items())
        }
        violated = [i for i, ok in held.items() if not ok]
        recovery: float | None = None
        recovered: bool | None = None
        if self.peak_end_s is not None and held:
            first = int(self.peak_end_s // width)
            after = [i for i in violated if i >= first]
            recovered = held[max(held)] or max(held) < first
            if recovered:
                recovery = max(0.0, (after[-1] + 1) * width - self.peak_end_s) if after else 0.0
        return SloOverTime(
            window_s=width,
            judged=len(held),
            violated_start_s=tuple(round(i * width, 6) for i in violated),
            peak_end_s=self.peak_end_s,
            recovery_s=None if recovery is None else round(recovery, 6),
            recovered=recovered,
        )


def saved_slo_over_time(
    records: Iterable[RequestRecord],
    thresholds: Sequence[Threshold],
    config: Mapping[str, Any],
    window_s: float,
    builder: Callable[[], SummaryBuilder],
) -> SloOverTime | None:
    """The SLO over time of a saved run (`report --fail-if` on a results file whose header
    holds a --load-shape); None without thresholds or a shape. Instants are relative: t0 0."""
    spec = config.get("load_shape")
    if not thresholds or not isinstance(spec, str):
        return None
    try:
        peak_end = parse_load_shape(spec).peak_end()
    except ConfigError:  # a header edited by hand: no judging over time
        return None
    duration = config.get("duration_s")
    span = float(duration) if isinstance(duration, int | float) and duration > 0 else None
    windows = SloWindows(
        thresholds,
        t0_ns=0,
        window_s=window_width(window_s, span),
        peak_end_s=peak_end,
        builder=builder,
    )
    for record in records:
        windows.add(record)
    return windows.result()
