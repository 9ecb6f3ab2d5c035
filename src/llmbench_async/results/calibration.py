"""How much error the client adds to each clock, from a run against the built-in mock and
the mock's truth log: every record is matched to the log's line by response id, and each of
our clocks is compared with the mock's own instants. Pure functions: nothing here sends,
prints or starts anything (session/calibrate.py runs the calibration; docs/calibrate.md).

Instants: a record's are perf_counter_ns (CLOCK_MONOTONIC on Linux, in memory; a results
file's are relative to its t0, so pass `offset_ns`), the log's are seconds on the same
clock. The truth of every latency starts at the request's arrival at the mock (the kernel's
receive timestamp, SO_TIMESTAMPNS), not when the mock's loop read it: the mock's own
lateness is real latency that the client rightly sees, so it is not the client's error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..metrics import CLIENT_ERROR_CLOCKS
from ..records import RequestRecord
from .facts import CPU_WARN_PERCENT, LAG_WARN_MS
from .stats import Summary, percentile

__all__ = [
    "CLOCKS",
    "DETAIL_CLOCKS",
    "ClientError",
    "Replay",
    "clock_errors",
    "measure",
    "read_truth",
    "replay_of_summary",
    "replay_requests",
]

# the clocks whose error the report shows and the gate reads (client_error.CLOCK.STAT)
CLOCKS: dict[str, str] = CLIENT_ERROR_CLOCKS
# where the error comes from: each side of the exchange apart (the JSON's `detail`)
DETAIL_CLOCKS: dict[str, str] = {
    "reached_server": "reached the mock after",  # our send → the kernel's arrival there
    "first_token_late": "first token seen late",  # our first-token instant − its write
    "end_late": "end seen late",  # our end instant − the last write
    "server_read": "mock read it after",  # the mock's own lateness (not ours)
}
STATS = ("count", "mean", "p50", "p90", "p99", "max")
# the clocks split by wave (a closed loop): the first C requests sent, and the rest
WAVES = ("first_wave", "rest")
_WAVE_CLOCKS = ("ttft", "e2e")
_WAVE_KEYS = tuple(f"{clock}:{wave}" for clock in _WAVE_CLOCKS for wave in WAVES)
SHARE = 0.01  # the verdict: the client's p99 error is at most 1 % of the latency replayed
# what a calibration replays against the mock at most: a slow target's shape is replayed
# at these caps, so a calibration ends in seconds (docs/calibrate.md)
MAX_TTFT_MS = 2000.0
MAX_ITL_MS = 100.0
MAX_TOKENS = 4096
MIN_REQUESTS = 40
OPEN_LOOP_SECONDS = 10.0  # an open loop replays about this long at its rate
_MAX_TRUTH_BYTES = 1 << 30
_MAX_TRUTH_LINE = 1 << 16


@dataclass(frozen=True, slots=True)
class Replay:
    """The timing the mock answers with during a calibration."""

    ttft_ms: float
    itl_ms: float
    tokens: int
    source: str = "flags"  # "flags": given to `calibrate`; "target": the run's own medians

    @property
    def e2e_ms(self) -> float:
        return self.ttft_ms + self.itl_ms * max(0, self.tokens - 1)

    @property
    def reference_ms(self) -> float:
        """The smallest latency replayed: the TTFT, or the E2E when the TTFT is 0."""
        return self.ttft_ms if self.ttft_ms > 0 else self.e2e_ms

    def text(self) -> str:
        shown = f"TTFT {self.ttft_ms:g} ms, ITL {self.itl_ms:g} ms, {self.tokens} tokens"
        return shown + (" (the target's medians)" if self.source == "target" else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "ttft_ms": self.ttft_ms,
            "itl_ms": self.itl_ms,
            "tokens": self.tokens,
            "from": self.source,
        }


def replay_of_summary(summary: Summary, max_tokens: int) -> Replay | None:
    """The shape the target showed: its TTFT p50, ITL p50 (per gap) and output tokens per
    successful request, each capped (MAX_*); without a TTFT (no streaming) its E2E p50 as
    the TTFT, the whole answer at once. None when nothing succeeded."""
    e2e = summary.percentile("e2e_ms", 50)
    if not summary.ok or e2e is None:
        return None
    ttft = summary.percentile("ttft_ms", 50)
    itl = (summary.percentile("itl_ms", 50) or 0.0) if ttft is not None else 0.0
    ttft = e2e if ttft is None else ttft
    tokens = round(summary.total_output_tokens / summary.ok) if summary.total_output_tokens else 1
    return Replay(
        ttft_ms=round(min(max(ttft, 0.0), MAX_TTFT_MS), 1),
        itl_ms=round(min(max(itl, 0.0), MAX_ITL_MS), 1),
        tokens=max(1, min(tokens, max_tokens, MAX_TOKENS)),
        source="target",
    )


def replay_requests(
    concurrency: int, rate: float | None, max_concurrency: int | None, measured: int
) -> int:
    """How many requests a `--calibrate` replays: four waves of the closed loop's slots (or
    about ten seconds of an open loop's arrivals), at least MIN_REQUESTS, at most as many
    as the run measured."""
    if rate is None:
        wanted = 4 * concurrency
    else:
        wanted = max(4 * (max_concurrency or 0), math.ceil(rate * OPEN_LOOP_SECONDS))
    wanted = max(MIN_REQUESTS, wanted)
    return min(wanted, measured) if measured > 0 else wanted


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def clock_errors(
    r: RequestRecord,
    truth: Mapping[str, Any],
    offset_ns: int = 0,
    *,
    from_schedule: bool = False,
) -> dict[str, float]:
    """One request's error per clock, in ms: ours − the mock's truth (its log line). Clocks
    that either side lacks are left out. `from_schedule` (--latency-from schedule): our
    latencies start at the scheduled instant, so their error holds the queue delay."""
    mono = truth.get("monotonic")
    mono = mono if isinstance(mono, Mapping) else {}
    got = {k: _seconds(mono.get(k)) for k in ("arrived", "received", "first_token", "last_token")}
    came = got["arrived"] or got["received"]  # the kernel's arrival, else the loop's read
    ms = 1e6
    send = r.scheduled_ns if from_schedule else r.send_ns
    out: dict[str, float] = {"queue_delay": r.queue_delay_ns / ms}
    if came is None:
        return out
    first, last = got["first_token"], got["last_token"]
    if r.first_token_ns is not None and first is not None:
        out["ttft"] = (r.first_token_ns - send) / ms - (first - came) * 1e3
        out["first_token_late"] = (offset_ns + r.first_token_ns) / ms - first * 1e3
    if last is not None:
        out["e2e"] = (r.end_ns - send) / ms - (last - came) * 1e3
        out["end_late"] = (offset_ns + r.end_ns) / ms - last * 1e3
    if r.first_token_ns is not None and r.last_token_ns is not None and None not in (first, last):
        ours = (r.last_token_ns - r.first_token_ns) / ms
        out["token_span"] = ours - (float(last or 0) - float(first or 0)) * 1e3
    out["reached_server"] = came * 1e3 - (offset_ns + r.send_ns) / ms
    if got["received"] is not None:
        out["server_read"] = (got["received"] - came) * 1e3
    headers = _seconds(mono.get("headers_sent"))
    if r.headers_ns is not None and headers is not None:
        out["headers"] = (r.headers_ns - send) / ms - (headers - came) * 1e3
    elif r.headers_ns is not None:  # an older log: wall-clock instants, anchored once
        sent, read = _seconds(truth.get("headers_sent")), _seconds(truth.get("received"))
        if sent is not None and read is not None:
            out["headers"] = (r.headers_ns - send) / ms - (sent - read) * 1e3
    return out


def read_truth(path: Path) -> dict[str, dict[str, Any]]:
    """The mock's truth log, by response id: its 200 lines, each read through the inbound
    boundary (bounded file and lines, strict JSON)."""
    from ..inbound import check_file, lines, loads

    check_file(path, "the mock's truth log", _MAX_TRUTH_BYTES)
    out: dict[str, dict[str, Any]] = {}
    with path.open("rb") as fh:
        for number, raw in lines(fh, str(path), _MAX_TRUTH_LINE, _MAX_TRUTH_BYTES):
            if not raw.strip():
                continue
            try:
                line = loads(raw, f"truth log line {number}")
            except ConfigError:
                continue  # a line cut by the mock's exit: that request stays unmatched
            if isinstance(line, dict) and line.get("status") == 200 and line.get("id"):
                out[str(line["id"])] = line
    return out


@dataclass(frozen=True, slots=True)
class ClientError:
    """The error the client added to each clock in a calibration, and the verdict."""

    samples: Mapping[str, Sequence[float]] = field(repr=False)  # clock → sorted errors, ms
    matched: int
    unmatched: int  # successful records with no truth line (or no response id)
    replay: Replay
    loop_lag_ms: Mapping[str, float]
    cpu_percent: float
    workers: int
    verdict: str
    fine: bool
    suggestions: tuple[str, ...] = ()

    def value(self, clock: str, stat: str | None) -> float | None:
        """One statistic (mean, min, max, stdev, pNN) of one clock's error; None without
        samples."""
        values = self.samples.get(clock)
        if not values or stat is None:
            return None
        if stat.startswith("p"):
            return percentile(values, float(stat[1:]))
        if stat == "min":
            return float(values[0])
        if stat == "max":
            return float(values[-1])
        mean = math.fsum(values) / len(values)
        if stat == "mean":
            return mean
        if stat == "stdev":
            if len(values) < 2:
                return 0.0
            return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
        return None

    def stats(self, clock: str) -> dict[str, float] | None:
        values = self.samples.get(clock)
        if not values:
            return None
        out: dict[str, float] = {"count": len(values)}
        for stat in STATS[1:]:
            out[stat] = self.value(clock, stat) or 0.0
        return out

    def _waves(self) -> dict[str, Any] | None:
        """`{"first_wave": {"ttft": stats, "e2e": stats}, "rest": {...}}`; None unsplit."""
        if not any(self.samples.get(k) for k in _WAVE_KEYS):
            return None
        return {
            wave: {clock: self.stats(f"{clock}:{wave}") for clock in _WAVE_CLOCKS} for wave in WAVES
        }

    def to_json(self) -> dict[str, Any]:
        """The summary JSON's `client_error` object (docs/calibrate.md)."""
        return {
            "replayed": self.replay.to_json(),
            "requests": {"matched": self.matched, "unmatched": self.unmatched},
            "clocks": {clock: self.stats(clock) for clock in CLOCKS},
            "detail": {clock: self.stats(clock) for clock in DETAIL_CLOCKS},
            "waves": self._waves(),
            "loop_lag_ms": dict(self.loop_lag_ms),
            "cpu_percent": self.cpu_percent,
            "workers": self.workers,
            "fine": self.fine,
            "verdict": self.verdict,
            "suggestions": list(self.suggestions),
        }


def measure(
    records: Iterable[RequestRecord],
    truth: Mapping[str, Mapping[str, Any]],
    replay: Replay,
    client: Mapping[str, Any],
    *,
    workers: int = 1,
    cpus: int = 1,
    offset_ns: int = 0,
    from_schedule: bool = False,
    first_wave: int = 0,
) -> ClientError:
    """The client's error over every measured, successful record that matches a truth line;
    `client` is the calibration run's self-check (`loop_lag_ms`, `cpu_percent`). With
    `first_wave` (a closed loop's C), TTFT and E2E also apart for the first C sent and the
    rest (`WAVES`): the wave boundary is where a loaded client is latest."""
    columns: dict[str, list[float]] = {k: [] for k in (*CLOCKS, *DETAIL_CLOCKS, *_WAVE_KEYS)}
    matched = unmatched = 0
    for r in sorted(records, key=lambda r: r.send_ns):
        if not r.ok or r.warmup or r.ramp:
            continue
        line = truth.get(r.response_id or "")
        if line is None:
            unmatched += 1
            continue
        errors = clock_errors(r, line, offset_ns, from_schedule=from_schedule)
        wave = "first_wave" if matched < first_wave else "rest"
        matched += 1
        for clock, value in errors.items():
            columns[clock].append(value)
            if first_wave and clock in _WAVE_CLOCKS:
                columns[f"{clock}:{wave}"].append(value)
    samples = {k: tuple(sorted(v)) for k, v in columns.items() if v}
    lag = client.get("loop_lag_ms")
    lag = {k: float(v) for k, v in lag.items()} if isinstance(lag, Mapping) else {}
    cpu = float(client.get("cpu_percent") or 0.0)
    partial = ClientError(samples, matched, unmatched, replay, lag, cpu, workers, "", True)
    fine, verdict, hints = judge(partial, cpus=cpus)
    return ClientError(samples, matched, unmatched, replay, lag, cpu, workers, verdict, fine, hints)


def judge(err: ClientError, *, cpus: int) -> tuple[bool, str, tuple[str, ...]]:
    """The verdict: fine when the worse p99 error of TTFT and E2E is at most 1 % of the
    smallest latency replayed (its TTFT, or its E2E when the TTFT is 0); the line says
    above which latencies the client's error stays under 1 %, and, when too high, the
    flags that would lower it."""
    p99 = {c: err.value(c, "p99") for c in ("ttft", "e2e")}
    known = {c: v for c, v in p99.items() if v is not None}
    if not known:
        return False, "no request of the calibration matched the mock's log: no error measured", ()
    worst = max(0.0, *known.values())
    shown = ", ".join(f"{CLOCKS[c]} p99 {v:.2f} ms" for c, v in known.items())
    floor = worst / SHARE
    fine = worst <= SHARE * err.replay.reference_ms
    if fine:
        return True, f"client error {shown}: fine for latencies above ~{_ms_text(floor)}", ()
    hints = _suggestions(err, cpus)
    verdict = (
        f"client error {shown}: too high for the {_ms_text(err.replay.reference_ms)} "
        f"replayed (over 1 %); fine only for latencies above ~{_ms_text(floor)}"
    )
    return False, verdict + (f"; try {' or '.join(hints)}" if hints else ""), hints


def _suggestions(err: ClientError, cpus: int) -> tuple[str, ...]:
    """The flags that would lower the error: more worker processes while cores are left
    (the mock needs one), else less load per process or a client machine of its own."""
    hints: list[str] = []
    busy = (
        err.loop_lag_ms.get("p99", 0.0) > LAG_WARN_MS
        or err.cpu_percent / max(1, err.workers) > CPU_WARN_PERCENT
    )
    if err.workers < cpus:
        hints.append(f"--workers {min(cpus, 2 * err.workers)}")
    if busy or not hints:
        hints.append("a lower -c / --rate per process (or the client on a machine of its own)")
    return tuple(hints)


def _ms_text(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.3g} s"
    return f"{ms:.2g} ms" if ms < 10 else f"{ms:.0f} ms"
