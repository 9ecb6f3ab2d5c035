"""The live view on a terminal: a header before the first request, then, beside tqdm's bar,
ok/failed, in flight, req/s, TTFT p50/p99 so far, and elapsed/remaining time.

Off (and free) when stderr is not a terminal, with --quiet, and in CI (`$CI` set): the
runner then passes no `LiveView` at all. On, each record costs a few additions; the
percentiles and the bar's text are recomputed at most `max_redraws_per_s` times a second.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TextIO

import anyio

from .. import outbound
from ..results.facts import endpoint_text
from .timeseries import LogSketch

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..records import RequestRecord

__all__ = ["LiveView", "live_enabled", "planned_seconds", "print_header"]


class _Bar(Protocol):
    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...


def live_enabled(progress: bool) -> bool:
    """The live view runs where the progress bar does (a terminal, not --quiet), never in CI."""
    return progress and not os.environ.get("CI")


def print_header(config: RunConfig, stream: TextIO) -> None:
    """Target, model and load shape, before the first request is sent."""
    stream.write(f"llmbench-async → {outbound.terminal(endpoint_text(config))}\n")
    stream.write(f"model {outbound.terminal(config.model)} · {config.load_description()}\n")
    stream.flush()


class LiveView:
    """Running tallies of a run, shown as the postfix of the runner's progress bar."""

    def __init__(
        self,
        *,
        planned_s: float | None = None,
        max_redraws_per_s: float = 4.0,
    ) -> None:
        self.planned_s = planned_s  # the run's planned length (--duration, or --n / --rate)
        self.min_gap_ns = int(1e9 / max_redraws_per_s)
        self.started_ns = time.perf_counter_ns()
        self.ok = 0
        self.failed = 0
        self.ttft = LogSketch()
        self._next_ns = 0

    def update(self, bar: _Bar, record: RequestRecord, in_flight: int) -> None:
        """Count one record in; refresh the bar's text when the last refresh is old enough."""
        if record.error_kind is None:
            self.ok += 1
            ttft = record.ttft_ns
            if ttft is not None:
                self.ttft.add(ttft / 1e6)
        else:
            self.failed += 1
        now = time.perf_counter_ns()
        if now < self._next_ns:
            return
        self._next_ns = now + self.min_gap_ns
        bar.set_postfix_str(self.text(in_flight, now), refresh=False)

    async def tick(self, bar: _Bar, in_flight: Callable[[], int]) -> None:
        """Forever: refresh the bar's text twice a second, so the clock moves between records."""
        while True:
            await anyio.sleep(0.5)
            now = time.perf_counter_ns()
            self._next_ns = now + self.min_gap_ns
            bar.set_postfix_str(self.text(in_flight(), now), refresh=True)

    def text(self, in_flight: int, now_ns: int) -> str:
        """`12 ok · 0 failed · 8 in flight · 3.9 req/s · TTFT p50 201 ms p99 230 ms · …`"""
        elapsed = max(1e-9, (now_ns - self.started_ns) / 1e9)
        parts = [
            f"{self.ok} ok",
            f"{self.failed} failed",
            f"{in_flight} in flight",
            f"{self.ok / elapsed:.1f} req/s",
        ]
        p50, p99 = self.ttft.quantile(0.5), self.ttft.quantile(0.99)
        if p50 is not None and p99 is not None:
            parts.append(f"TTFT p50 {p50:.0f} ms p99 {p99:.0f} ms")
        if self.planned_s is not None:
            left = max(0.0, self.planned_s - elapsed)
            parts.append(f"{_clock(elapsed)} elapsed, {_clock(left)} left")
        return " · ".join(parts)


def planned_seconds(config: RunConfig) -> float | None:
    """How long the run should take: --duration (plus time warm-up), or for an open-loop
    --n run the arrivals' span (n / rate); None for closed-loop --n runs."""
    if config.duration_s is not None:
        return config.warmup_s + config.duration_s
    if config.rate is not None and config.n is not None:
        return config.warmup_s + (config.n + config.warmup_requests) / config.rate
    return None


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Bar(Protocol):
    """A progress bar: tqdm's, or none."""

    def update(self, n: float | None = 1) -> bool | None: ...

    def close(self) -> None: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...


class _NoBar:
    """No progress bar (-q, or output that is not a terminal): nothing per request."""

    def update(self, n: float | None = 1) -> bool | None:
        return None

    def close(self) -> None:
        return None

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        return None


def progress_bar(total: int | None, *, enabled: bool) -> Bar:
    """tqdm's bar on stderr when enabled; else a no-op, and tqdm is never imported (it costs
    start-up time before the first request)."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    bar: Bar = tqdm(total=total, file=sys.stderr, unit="req", leave=False)
    return bar
