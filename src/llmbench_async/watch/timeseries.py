"""Records → windows over time: how the run moved (starts, ends, errors, latency per window).

Built incrementally: `SeriesBuilder.add(record)` as each record arrives, in bounded memory.
Each window keeps counts and one small log-bucket sketch per latency metric (relative error
under 0.8 %), so per-window percentiles are approximate; the run's own percentiles (`stats`)
stay exact. When a run outgrows `MAX_WINDOWS` windows the width doubles and neighbours merge,
so a 1M-request hour-long run still has at most `MAX_WINDOWS` windows. The result depends
only on the set of records, never on their order, so `report` recomputes it from the JSONL.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..records import RequestRecord

__all__ = [
    "DEFAULT_WINDOW_S",
    "MAX_WINDOWS",
    "TIMESERIES_SCHEMA",
    "LogSketch",
    "SeriesBuilder",
    "timeseries_from_records",
]

TIMESERIES_SCHEMA = "llmbench-async/timeseries/v1"
DEFAULT_WINDOW_S = 1.0
MAX_WINDOWS = 600
LATENCY_KEYS = ("ttft_ms", "itl_ms", "e2e_ms", "queue_delay_ms")

# Buckets are the top bits of a value's IEEE-754 double: 64 per power of two, so a bucket's
# midpoint is within ±0.8 % of every value in it, and the bucket of a whole array of token
# gaps is found by C-level maps (no Python step, no log, per gap).
_SHIFT = 52 - 6
_HALF = 1 << (_SHIFT - 1)
_DOUBLE = struct.Struct("<d")
_INT64 = struct.Struct("<q")
_NS_PER_MS = 1e6
_NS_PER_S = 1e9


def _key(value: float) -> int:
    key: int = _INT64.unpack(_DOUBLE.pack(value))[0] >> _SHIFT
    return key


def _midpoint(key: int) -> float:
    value: float = _DOUBLE.unpack(_INT64.pack((key << _SHIFT) | _HALF))[0]
    return value


class LogSketch:
    """Counts of values in logarithmic buckets (bounded size; merges exactly); values <= 0
    share bucket 0. `scale` multiplies what `quantile` returns (1e-6: added in ns, read in
    ms)."""

    __slots__ = ("buckets", "count", "scale")

    def __init__(self, scale: float = 1.0) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.scale = scale

    def add(self, value: float) -> None:
        self.count += 1
        self.buckets[_key(value) if value > 0.0 else 0] += 1

    def add_many(self, values: Sequence[int]) -> None:
        """Add non-negative integers (token gaps in ns), counted in C: no Python step a value."""
        bits = memoryview(array("d", values)).cast("B").cast("q")
        self.buckets.update(map(_SHIFT.__rrshift__, bits))
        self.count += len(values)

    def merge(self, other: LogSketch) -> None:
        self.count += other.count
        self.buckets.update(other.buckets)

    def quantile(self, q: float) -> float | None:
        """The value at quantile `q` in [0, 1] by nearest rank (bucket midpoint); None when
        empty."""
        if self.count == 0:
            return None
        rank = max(0, math.ceil(q * self.count) - 1)
        seen = 0
        keys = sorted(self.buckets)
        for key in keys:
            seen += self.buckets[key]
            if rank < seen:
                break
        return 0.0 if key <= 0 else _midpoint(key) * self.scale


@dataclass(slots=True)
class _Window:
    scheduled: int = 0  # requests due in the window (the offered load)
    started: int = 0
    finished: int = 0
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    output_tokens: int = 0
    sketches: dict[str, LogSketch] = field(default_factory=dict)

    def sketch(self, key: str) -> LogSketch:
        found = self.sketches.get(key)
        if found is None:
            # token gaps go in as integer ns (add_many), the rest as ms
            found = self.sketches[key] = LogSketch(1 / _NS_PER_MS if key == "itl_ms" else 1.0)
        return found

    def merge(self, other: _Window) -> None:
        self.scheduled += other.scheduled
        self.started += other.started
        self.finished += other.finished
        self.ok += other.ok
        self.output_tokens += other.output_tokens
        for kind, n in other.failed.items():
            self.failed[kind] = self.failed.get(kind, 0) + n
        for key, sk in other.sketches.items():
            self.sketch(key).merge(sk)


class SeriesBuilder:
    """Accumulates records into windows of `window_s` seconds from `t0_ns` (the run start).

    A request counts as scheduled (offered) in the window of its due instant, as started in
    the window of its (first) send instant, and as finished, ok or failed, with its tokens
    and latencies, in the window of its end instant (ok per window is the achieved load).
    """

    def __init__(
        self, t0_ns: int, *, window_s: float = DEFAULT_WINDOW_S, max_windows: int = MAX_WINDOWS
    ) -> None:
        if not window_s > 0:
            raise ValueError(f"window must be > 0 s (got {window_s})")
        if max_windows < 2:
            raise ValueError("max_windows must be at least 2")
        self.t0_ns = t0_ns
        self.base_window_ns = max(1, int(window_s * _NS_PER_S))
        self.window_ns = self.base_window_ns
        self.max_windows = max_windows
        self._windows: dict[int, _Window] = {}
        self._warmup_end_ns: int | None = None
        self._ramp_first_ns: int | None = None  # the first --ramp-up request was due
        self._ramp_last_ns: int | None = None
        self._measured_start_ns: int | None = None

    def _at(self, instant_ns: int) -> _Window:
        index = max(0, instant_ns - self.t0_ns) // self.window_ns
        while index >= self.max_windows:
            self._coarsen()
            index //= 2
        window = self._windows.get(index)
        if window is None:
            window = self._windows[index] = _Window()
        return window

    def _coarsen(self) -> None:
        """Double the window width, merging each pair of neighbours."""
        merged: dict[int, _Window] = {}
        for index in sorted(self._windows):
            target = merged.get(index // 2)
            if target is None:
                merged[index // 2] = self._windows[index]
            else:
                target.merge(self._windows[index])
        self._windows = merged
        self.window_ns *= 2

    def add(self, r: RequestRecord) -> None:
        """Count one record in (any order)."""
        send = r.send_ns if r.first_send_ns is None else r.first_send_ns
        if r.warmup:
            if self._warmup_end_ns is None or r.end_ns > self._warmup_end_ns:
                self._warmup_end_ns = r.end_ns
        elif r.ramp:
            due = r.scheduled_ns
            self._ramp_first_ns = (
                due if self._ramp_first_ns is None else min(self._ramp_first_ns, due)
            )
            self._ramp_last_ns = due if self._ramp_last_ns is None else max(self._ramp_last_ns, due)
        elif self._measured_start_ns is None or r.scheduled_ns < self._measured_start_ns:
            self._measured_start_ns = r.scheduled_ns
        self._at(r.scheduled_ns).scheduled += 1
        self._at(send).started += 1
        w = self._at(r.end_ns)
        w.finished += 1
        if r.error_kind is not None:
            w.failed[r.error_kind] = w.failed.get(r.error_kind, 0) + 1
            w.sketch("queue_delay_ms").add(r.queue_delay_ns / _NS_PER_MS)
            return
        w.ok += 1
        if r.output_tokens:
            w.output_tokens += r.output_tokens
        w.sketch("e2e_ms").add(r.e2e_ns / _NS_PER_MS)
        w.sketch("queue_delay_ms").add(r.queue_delay_ns / _NS_PER_MS)
        if r.ttft_ns is not None:
            w.sketch("ttft_ms").add(r.ttft_ns / _NS_PER_MS)
        if r.token_gaps_ns:
            w.sketch("itl_ms").add_many(r.token_gaps_ns)

    def to_json(
        self,
        *,
        marks: Sequence[Mapping[str, Any]] = (),
        server: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The `timeseries` document (schema `llmbench-async/timeseries/v1`), columnar."""
        width_s = self.window_ns / _NS_PER_S
        count = max(self._windows, default=-1) + 1
        windows = [self._windows.get(i) or _Window() for i in range(count)]
        kinds = sorted({k for w in windows for k in w.failed})
        in_flight: list[int] = []
        running = 0
        for w in windows:
            running += w.started - w.finished
            in_flight.append(max(running, 0))
        latency: dict[str, dict[str, list[float | None]]] = {}
        for key in LATENCY_KEYS:
            sketches = [w.sketches.get(key) for w in windows]
            latency[key] = {
                stat: [_round(None if s is None else s.quantile(q)) for s in sketches]
                for stat, q in (("p50", 0.5), ("p99", 0.99))
            }
        return {
            "schema": TIMESERIES_SCHEMA,
            "window_s": width_s,
            "requested_window_s": self.base_window_ns / _NS_PER_S,
            "marks": list(marks) or self.default_marks(),
            "windows": {
                "start_s": [round(i * width_s, 6) for i in range(count)],
                "scheduled": [w.scheduled for w in windows],
                "started": [w.started for w in windows],
                "finished": [w.finished for w in windows],
                "ok": [w.ok for w in windows],
                "failed": {k: [w.failed.get(k, 0) for w in windows] for k in kinds},
                "in_flight": in_flight,
                "output_tokens_per_s": [round(w.output_tokens / width_s, 3) for w in windows],
                **latency,
            },
            "server": dict(server) if server is not None else None,
        }

    def default_marks(self) -> list[dict[str, Any]]:
        """The warm-up and ramp-up spans the run had (seconds from the run start): warm-up
        from the start to its last request's end (or the first later request's due
        instant); ramp-up from its first request's due instant to the first measured one's
        (or its own last one's)."""
        marks: list[dict[str, Any]] = []
        ramp = self._ramp_first_ns
        later = ramp if ramp is not None else self._measured_start_ns
        if self._warmup_end_ns is not None:
            end = self._warmup_end_ns if later is None else min(self._warmup_end_ns, later)
            marks.append({"label": "warm-up", "start_s": 0.0, "end_s": self._s(end)})
        if self._ramp_first_ns is not None and self._ramp_last_ns is not None:
            measured = self._measured_start_ns
            end = self._ramp_last_ns if measured is None else measured
            start = self._s(self._ramp_first_ns)
            marks.append({"label": "ramp-up", "start_s": start, "end_s": self._s(end)})
        return marks

    def _s(self, instant_ns: int) -> float:
        return max(0, instant_ns - self.t0_ns) / 1e9


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def timeseries_from_records(
    records: Iterable[RequestRecord], *, t0_ns: int = 0, window_s: float = DEFAULT_WINDOW_S
) -> SeriesBuilder:
    """A builder fed with `records` (a results file's instants are relative: t0 = 0)."""
    builder = SeriesBuilder(t0_ns, window_s=window_s)
    for record in records:
        builder.add(record)
    return builder
