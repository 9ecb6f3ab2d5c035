"""Rates that change over time (`--load-shape`): step, linear, spike and sine profiles,
each a small frozen value with a readable `__str__` and its spec in the flag's grammar, and
that grammar's parser. pacing.py turns a profile into arrivals (`ShapedRate`)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Literal

from .errors import ConfigError
from .limits import MAX_SHAPE_POINTS, MAX_SHAPE_RATE, MAX_SHAPE_TIME_S
from .units import parse_duration, parse_time

SHAPE_KINDS = ("step", "linear", "spike", "sine")


def _fmt_s(seconds: float) -> str:
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class RatePoints:
    """A rate over time from (seconds, requests/s) points, the first at 0 s: `step` holds
    each rate until the next point, `linear` goes in a straight line between points; after
    the last point its rate holds until the run ends."""

    kind: Literal["step", "linear"]
    points: tuple[tuple[float, float], ...]  # times strictly increasing; rates >= 0
    _cum: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cum = [0.0]
        for (t0, r0), (t1, r1) in itertools.pairwise(self.points):
            end = r0 if self.kind == "step" else r1
            cum.append(cum[-1] + (t1 - t0) * (r0 + end) / 2.0)
        object.__setattr__(self, "_cum", tuple(cum))

    @property
    def peak(self) -> float:
        return max(r for _, r in self.points)

    def inverse(self, u: float) -> float:
        """The instant by which `u` arrivals are expected (the cumulative rate's inverse)."""
        cum = self._cum
        lo, hi = 0, len(cum) - 1
        j = 0
        while lo <= hi:  # the last point whose cumulative count is below u
            mid = (lo + hi) // 2
            if cum[mid] < u or mid == 0:
                j, lo = mid, mid + 1
            else:
                hi = mid - 1
        t0, r0 = self.points[j]
        left = u - cum[j]
        if j + 1 == len(self.points) or self.kind == "step":
            if r0 > 0:
                return t0 + left / r0
            return self.points[j + 1][0]  # a pause: the next arrival when the rate resumes
        t1, r1 = self.points[j + 1]
        a = (r1 - r0) / (t1 - t0)  # rate(t0 + s) = r0 + a·s; solve r0·s + a·s²/2 = left
        if abs(a) < 1e-12:
            return t0 + left / r0 if r0 > 0 else t0
        return t0 + (math.sqrt(max(0.0, r0 * r0 + 2.0 * a * left)) - r0) / a

    def peak_end(self) -> float | None:
        """When the rate last leaves its peak: a step's last peak stretch ends at the next
        point, a linear shape falls from its last peak point (None: the peak lasts to the
        run's end)."""
        peak = self.peak
        last = max(i for i, (_, r) in enumerate(self.points) if r == peak)
        if last + 1 == len(self.points):
            return None
        return self.points[last + 1 if self.kind == "step" else last][0]

    def spec(self) -> str:
        """The shape in `--load-shape` grammar (what a file of points is saved as)."""
        return f"{self.kind}:" + ",".join(f"{r:g}@{_fmt_s(t)}" for t, r in self.points)

    def __str__(self) -> str:
        if len(self.points) > 6:
            low = min(r for _, r in self.points)
            return (
                f"{self.kind} rate over {len(self.points)} points, {low:g} to "
                f"{self.peak:g} req/s, last at {_fmt_s(self.points[-1][0])}"
            )
        shown = ", ".join(f"{r:g} req/s at {_fmt_s(t)}" for t, r in self.points)
        return f"{self.kind} rate: {shown}"


@dataclass(frozen=True, slots=True)
class Spike:
    """`base` requests/s, `peak` from `at` seconds for `length` seconds, then `base` again."""

    base: float  # requests/s; >= 0
    peak: float  # requests/s; > base
    at: float  # seconds from the start; >= 0
    length: float  # seconds; > 0

    @property
    def steps(self) -> RatePoints:
        points = ((0.0, self.base),) if self.at > 0 else ()
        rest = ((self.at, self.peak), (self.at + self.length, self.base))
        return RatePoints("step", (*points, *rest))

    def inverse(self, u: float) -> float:
        return self.steps.inverse(u)

    def peak_end(self) -> float | None:
        return self.at + self.length

    def spec(self) -> str:
        return (
            f"spike:base={self.base:g},peak={self.peak:g},at={_fmt_s(self.at)},"
            f"for={_fmt_s(self.length)}"
        )

    def __str__(self) -> str:
        return (
            f"spike: {self.base:g} req/s, {self.peak:g} req/s from {_fmt_s(self.at)} for "
            f"{_fmt_s(self.length)}"
        )


@dataclass(frozen=True, slots=True)
class Sine:
    """mean + amp · sin(2π t / period) requests/s: starts at the mean, rising."""

    mean: float  # requests/s; > 0
    amp: float  # requests/s; 0 <= amp <= mean
    period: float  # seconds; > 0

    @property
    def peak(self) -> float:
        return self.mean + self.amp

    def _cumulative(self, t: float) -> float:
        w = 2.0 * math.pi / self.period
        return self.mean * t + self.amp / w * (1.0 - math.cos(w * t))

    def inverse(self, u: float) -> float:
        # Newton's method on the cumulative count, kept inside a bracket that shrinks on
        # every step (bisection where Newton would leave it or the rate is near 0): the
        # count grows at most at mean+amp and at least as mean·t
        lo, hi = u / self.peak, u / self.mean
        w = 2.0 * math.pi / self.period
        t = min(max(u / self.mean, lo), hi)
        tolerance = 1e-9 * max(1.0, u)  # arrivals: far below one, at any count
        for _ in range(100):
            f = self._cumulative(t) - u
            if abs(f) < tolerance:
                return t
            if f < 0:
                lo = t
            else:
                hi = t
            rate = self.mean + self.amp * math.sin(w * t)
            step = t - f / rate if rate > 1e-12 else math.nan
            t = step if lo < step < hi else (lo + hi) / 2.0
            if hi - lo < 1e-12 * max(1.0, hi):
                break
        return t

    def peak_end(self) -> float | None:
        return None  # a sine has no one peak; the report gives the violated share

    def spec(self) -> str:
        return f"sine:mean={self.mean:g},amp={self.amp:g},period={_fmt_s(self.period)}"

    def __str__(self) -> str:
        return f"sine: {self.mean:g} ± {self.amp:g} req/s, period {_fmt_s(self.period)}"


RateProfile = RatePoints | Spike | Sine


def parse_load_shape(spec: str) -> RateProfile:
    """`step:10@0s,40@60s`, `linear:…`, `spike:base=10,peak=80,at=30s,for=10s` or
    `sine:mean=20,amp=10,period=60s` → its profile; one-line ConfigError otherwise."""
    kind, sep, body = spec.strip().partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in SHAPE_KINDS:
        raise ConfigError(
            "--load-shape must be step:RATE@TIME,…, linear:RATE@TIME,…, "
            "spike:base=R,peak=R,at=T,for=T, sine:mean=R,amp=R,period=T or a .csv/.json "
            f"file of (time, rate) points (got {spec[:80]!r})"
        )
    if kind in ("step", "linear"):
        points = []
        for part in body.split(","):
            rate, at, when = part.partition("@")
            if not at:
                raise ConfigError(
                    f"--load-shape {kind}: each point is RATE@TIME, e.g. 10@0s (got {part!r})"
                )
            points.append((parse_time(when.strip(), "--load-shape time"), _rate(rate)))
        return check_points("step" if kind == "step" else "linear", points, "--load-shape")
    args = _named(kind, body)
    if kind == "spike":
        spike = Spike(
            _rate(args["base"]),
            _rate(args["peak"]),
            _time(args["at"], "at", zero=True),
            _time(args["for"], "for"),
        )
        if not spike.peak > spike.base:
            raise ConfigError("--load-shape spike: peak must be more than base")
        return spike
    sine = Sine(_rate(args["mean"]), _rate(args["amp"]), _time(args["period"], "period"))
    if not sine.mean > 0 or sine.amp > sine.mean:
        raise ConfigError("--load-shape sine: mean must be more than 0 and amp at most mean")
    return sine


_NAMES = {"spike": ("base", "peak", "at", "for"), "sine": ("mean", "amp", "period")}


def _named(kind: str, body: str) -> dict[str, str]:
    names = _NAMES[kind]
    args: dict[str, str] = {}
    for part in body.split(","):
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq or name not in names or name in args:
            raise ConfigError(
                f"--load-shape {kind} takes {', '.join(n + '=' for n in names)} once each "
                f"(got {part.strip()[:40]!r})"
            )
        args[name] = value.strip()
    missing = [n for n in names if n not in args]
    if missing:
        raise ConfigError(f"--load-shape {kind} needs {', '.join(n + '=' for n in missing)}")
    return args


def _rate(text: str) -> float:
    try:
        value = float(text.strip().removesuffix("/s"))
    except ValueError:
        raise ConfigError(
            f"--load-shape: a rate is a number of requests/s (got {text!r})"
        ) from None
    return check_rate(value, "--load-shape")


def check_rate(value: float, where: str) -> float:
    """A rate in requests/s: finite, 0 or more and at most `MAX_SHAPE_RATE`."""
    if not 0 <= value <= MAX_SHAPE_RATE:  # NaN fails too
        raise ConfigError(
            f"{where}: a rate must be 0 to {MAX_SHAPE_RATE:,.0f} requests/s (got {value!r})"
        )
    return value


def _time(text: str, name: str, *, zero: bool = False) -> float:
    where = f"--load-shape {name}"
    seconds = parse_time(text, where) if zero else parse_duration(text, where)
    return check_time(seconds, where)


def check_time(seconds: float, where: str) -> float:
    """A time in seconds: finite, 0 or more and at most `MAX_SHAPE_TIME_S`."""
    if not 0 <= seconds <= MAX_SHAPE_TIME_S:
        raise ConfigError(f"{where}: a time must be 0 s to 7 days (got {seconds!r})")
    return seconds


def check_points(
    kind: Literal["step", "linear"], points: list[tuple[float, float]], where: str
) -> RatePoints:
    """Points as RatePoints: the first at 0 s, times increasing, at most MAX_SHAPE_POINTS,
    a last rate above 0 (it holds until the run ends)."""
    if not points or len(points) > MAX_SHAPE_POINTS:
        raise ConfigError(f"{where}: 1 to {MAX_SHAPE_POINTS:,} points (got {len(points):,})")
    for t, r in points:
        check_time(t, where)
        check_rate(r, where)
    if points[0][0] != 0:
        raise ConfigError(f"{where}: the first point must be at 0s (got {points[0][0]:g}s)")
    for (t0, _), (t1, _) in itertools.pairwise(points):
        if not t1 > t0:
            raise ConfigError(f"{where}: times must increase (got {t1:g}s after {t0:g}s)")
    if not points[-1][1] > 0:
        raise ConfigError(f"{where}: the last rate must be more than 0 (it holds to the end)")
    return RatePoints(kind, tuple(points))


def check_shape_run(spec: str, *, ramp_s: float, warmup: float) -> None:
    """A --load-shape run: a valid shape, with no --ramp-up or --warmup before it."""
    parse_load_shape(spec)
    for given, flag in ((ramp_s, "--ramp-up"), (warmup, "--warmup")):
        if given:
            raise ConfigError(
                f"--load-shape and {flag} exclude each other: the shape starts the run "
                "itself (begin it with a low step instead)"
            )
