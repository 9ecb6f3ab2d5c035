"""When to send: the load shapes. Each is a small frozen value with a readable `__str__`.

A pacer answers one question, the vegeta way: after `sent` requests, how many seconds
from the start of the run is the next one due? Closed loop has no schedule (a request is
due when a worker is free); open-loop pacers give absolute offsets, so arrivals keep to
their schedule whatever the server does, and a saturated client shows up as queue delay
instead of hiding it (no coordinated omission).
"""

from __future__ import annotations

import itertools
import math
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol

from .errors import ConfigError
from .inbound import check_header_name
from .limits import MAX_SHAPE_POINTS, MAX_SHAPE_RATE, MAX_SHAPE_TIME_S
from .units import parse_duration, parse_time

Arrival = Literal["poisson", "constant", "gamma"]


class Pacer(Protocol):
    """An open-loop arrival schedule."""

    def offsets(self) -> Iterator[float]:
        """Seconds from the start at which request 0, 1, 2... is due (non-decreasing)."""
        ...

    def __str__(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ClosedLoop:
    """C slots (tasks); each sends its next request as soon as its last one ended."""

    concurrency: int  # requests in flight; MUST BE >= 1

    def __str__(self) -> str:
        return f"closed loop, concurrency {self.concurrency}"


@dataclass(frozen=True, slots=True)
class ConstantRate:
    """Arrivals exactly 1/rate seconds apart."""

    rate: float  # requests per second; MUST BE > 0
    phase: float = 0.0  # seconds added to every arrival (interleaves several workers)

    def offsets(self) -> Iterator[float]:
        k = 0
        while True:
            yield self.phase + k / self.rate
            k += 1

    def __str__(self) -> str:
        return f"constant rate {self.rate:g} req/s"


@dataclass(frozen=True, slots=True)
class PoissonRate:
    """A Poisson process: exponential gaps with mean 1/rate seconds, reproducible by seed."""

    rate: float  # requests per second; MUST BE > 0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rng", random.Random(self.seed))

    def offsets(self) -> Iterator[float]:
        rng = random.Random(self.seed) if self.seed is not None else self._rng
        t = 0.0
        while True:
            yield t
            # inverse-CDF sampling of Exp(rate); 1 - random() is in (0, 1]
            t += -math.log(1.0 - rng.random()) / self.rate

    def __str__(self) -> str:
        seed = "" if self.seed is None else f", seed {self.seed}"
        return f"Poisson arrivals at {self.rate:g} req/s{seed}"


@dataclass(frozen=True, slots=True)
class GammaRate:
    """Gamma-distributed gaps with mean 1/rate seconds: burstier than Poisson for B < 1,
    smoother for B > 1, Poisson at B = 1 (vLLM's `--burstiness`). Gap CV is 1/sqrt(B)."""

    rate: float  # requests per second; MUST BE > 0
    burstiness: float = 1.0  # gamma shape B; MUST BE > 0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rng", random.Random(self.seed))

    def offsets(self) -> Iterator[float]:
        rng = random.Random(self.seed) if self.seed is not None else self._rng
        shape = self.burstiness
        scale = 1.0 / (self.rate * shape)  # mean gap = shape * scale = 1/rate
        t = 0.0
        while True:
            yield t
            t += rng.gammavariate(shape, scale)

    def __str__(self) -> str:
        seed = "" if self.seed is None else f", seed {self.seed}"
        return f"gamma arrivals at {self.rate:g} req/s, burstiness {self.burstiness:g}{seed}"


# --- rates that change over time (--load-shape) ------------------------------------------

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


@dataclass(frozen=True, slots=True)
class ShapedRate:
    """Arrivals whose rate follows a profile over time (`--load-shape`): a unit-rate process
    (Poisson, constant or gamma gaps) time-changed through the profile's cumulative count,
    so a Poisson process stays a (non-homogeneous) Poisson process and constant spacing
    tightens and widens with the rate."""

    profile: RateProfile
    arrival: Arrival = "poisson"
    seed: int | None = None
    scale: float = 1.0  # multiplies every rate of the profile (workers share it out); > 0
    phase: float = 0.0  # arrivals (a fraction of one) added to the count: interleaves workers
    burstiness: float = 1.0  # gamma arrivals: shape B

    @property
    def rate(self) -> float:
        """The peak rate (requests/s): what sizes the pool and the in-flight cap."""
        return self.profile.peak * self.scale

    def _unit(self) -> Iterator[float]:
        """A unit-rate arrival process: expected arrivals so far at each arrival."""
        rng = random.Random(self.seed)
        u = self.phase
        while True:
            yield u
            if self.arrival == "constant":
                u += 1.0
            elif self.arrival == "gamma":
                u += rng.gammavariate(self.burstiness, 1.0 / self.burstiness)
            else:
                u += -math.log(1.0 - rng.random())

    def offsets(self) -> Iterator[float]:
        inverse = self.profile.inverse
        for u in self._unit():
            yield inverse(u / self.scale)

    def __str__(self) -> str:
        seed = "" if self.seed is None or self.arrival == "constant" else f", seed {self.seed}"
        scaled = "" if self.scale == 1.0 else f" × {self.scale:g}"
        return f"{self.profile}{scaled}, {self.arrival} arrivals{seed}"


@dataclass(frozen=True, slots=True)
class TraceReplay:
    """Arrivals read from a trace file (loadgen/traces.py): each row at its own timestamp,
    relative to the first row, divided by `speed`."""

    name: str  # the trace file's name
    format: str | None  # mooncake, burstgpt, azure (None: detected when read)
    speed: float = 1.0  # MUST BE > 0; 2 replays twice as fast
    start_s: float = 0.0  # the slice replayed, in the trace's own seconds
    end_s: float | None = None

    def __str__(self) -> str:
        fmt = f" ({self.format})" if self.format else ""
        speed = "" if self.speed == 1 else f" at {self.speed:g}× speed"
        end = "its end" if self.end_s is None else f"{self.end_s:g} s"
        window = "" if not self.start_s and self.end_s is None else f", {self.start_s:g} s to {end}"
        return f"trace replay of {self.name}{fmt}{speed}{window}"


LoadShape = ClosedLoop | ConstantRate | PoissonRate | GammaRate | ShapedRate | TraceReplay


@dataclass(frozen=True, slots=True)
class Ramp:
    """A linear ramp-up over `seconds` (vLLM's `--ramp-up-strategy linear`): closed loop,
    the slots start one after another so concurrency climbs from 1 to C; open loop, the rate
    climbs from `start_rate` to the target. Requests due inside the ramp are marked `ramp`."""

    seconds: float  # MUST BE > 0
    start_rate: float = 1.0  # open loop: requests per second at the start of the ramp

    def slot_offsets(self, slots: int) -> tuple[float, ...]:
        """Seconds from the start at which closed-loop slot 0, 1, … sends its first request:
        evenly spread over the ramp, the first at 0 and the last at its end."""
        if slots <= 1:
            return (0.0,) * slots
        return tuple(self.seconds * k / (slots - 1) for k in range(slots))

    def warp(self, offsets: Iterator[float], rate: float) -> Iterator[float]:
        """An open-loop schedule at `rate`, time-changed so the rate climbs linearly from
        `start_rate` (or `rate`, if lower) to `rate` over the ramp. A Poisson process stays a
        (non-homogeneous) Poisson process; constant spacing becomes linearly tightening."""
        d = self.seconds
        s = min(self.start_rate, rate) / rate  # start rate as a share of the target
        ramp_tau = d * (1.0 + s) / 2.0  # full-rate seconds the ramp's arrivals take
        for tau in offsets:
            if tau >= ramp_tau:
                yield d + (tau - ramp_tau)
            elif s >= 1.0:
                yield tau
            else:  # solve s·t + (1 − s)·t² / 2d = tau for t in [0, d]
                a = (1.0 - s) / d
                yield (math.sqrt(s * s + 2.0 * a * tau) - s) / a

    def __str__(self) -> str:
        return f"linear ramp-up over {self.seconds:g} s"


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """Everything the runner needs to know about *when* to send: the shape, how many
    requests or for how long, the warm-up, and the cap on requests in flight."""

    shape: LoadShape
    count: int | None = 10  # measured requests (None: no count limit)
    duration_s: float | None = None  # measured seconds of sending (None: no time limit)
    warmup_requests: int = 0  # extra requests first, marked warm-up
    warmup_s: float = 0.0  # or: seconds of warm-up first
    max_in_flight: int | None = None  # open loop: cap on requests in flight (None: no cap)
    ramp: Ramp | None = None  # a ramp-up first: its requests are extra, marked `ramp`

    def __post_init__(self) -> None:
        if self.count is None and self.duration_s is None and not self.replay:
            raise ValueError("a run needs a request count, a duration or both")

    @property
    def replay(self) -> bool:
        """Whether arrivals come from a trace (its rows, not a pacer, say when and what)."""
        return isinstance(self.shape, TraceReplay)

    @property
    def ramp_s(self) -> float:
        """Seconds of ramp-up before the measured run (0: none)."""
        return 0.0 if self.ramp is None else self.ramp.seconds

    def slot_offsets(self, slots: int) -> tuple[float, ...]:
        """Closed loop: when each slot sends its first request (seconds from the start)."""
        return (0.0,) * slots if self.ramp is None else self.ramp.slot_offsets(slots)

    def arrivals(self) -> Iterator[float]:
        """Open loop: the due offsets (seconds from the start), ramp included."""
        shape = self.shape
        if isinstance(shape, ClosedLoop | TraceReplay):
            raise TypeError(f"{shape} has no pacer schedule")
        if self.ramp is None:
            return shape.offsets()
        return self.ramp.warp(shape.offsets(), shape.rate)

    @property
    def total(self) -> int | None:
        """Requests to send, warm-up included (None: until the duration ends)."""
        return None if self.count is None else self.warmup_requests + self.count

    @property
    def slots(self) -> int | None:
        """Tasks sending requests: the concurrency (closed loop) or the cap (open loop)."""
        if isinstance(self.shape, ClosedLoop):
            return self.shape.concurrency
        return self.max_in_flight


def make_shape(
    *,
    concurrency: int,
    rate: float | None,
    arrival: str,
    seed: int | None,
    phase: float = 0.0,
    burstiness: float = 1.0,
    load_shape: str | None = None,
) -> LoadShape:
    """The load shape the flags describe (`load_shape`: a rate over time peaking at `rate`)."""
    if not burstiness > 0 or math.isinf(burstiness):
        raise ValueError(f"--burstiness must be more than 0 (got {burstiness:g})")
    if rate is None:
        return ClosedLoop(concurrency)
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"--rate must be more than 0 requests/s (got {rate:g})")
    if load_shape is not None:
        profile = parse_load_shape(load_shape)
        return ShapedRate(
            profile,
            arrival,  # type: ignore[arg-type]  # checked by RunConfig
            seed,
            scale=rate / profile.peak,
            phase=phase * rate,
            burstiness=burstiness,
        )
    if arrival == "constant":
        return ConstantRate(rate, phase)
    if arrival == "poisson":
        return PoissonRate(rate, seed)
    if arrival == "gamma":
        return GammaRate(rate, burstiness, seed)
    raise ValueError(f"--arrival must be poisson, constant or gamma (got {arrival!r})")


def check_shape_run(spec: str, *, ramp_s: float, warmup: float) -> None:
    """A --load-shape run: a valid shape, with no --ramp-up or --warmup before it."""
    parse_load_shape(spec)
    for given, flag in ((ramp_s, "--ramp-up"), (warmup, "--warmup")):
        if given:
            raise ConfigError(
                f"--load-shape and {flag} exclude each other: the shape starts the run "
                "itself (begin it with a low step instead)"
            )


def new_run_id() -> str:
    """A run's id: 8 random hex digits, shared by its workers (the session header's prefix)."""
    return secrets.token_hex(4)


# flags whose load a trace replaces (the rows say when and what): (RunConfig field, flag);
# each must keep its default with --trace
_NOT_WITH_TRACE: tuple[tuple[str, str], ...] = (
    ("rate", "--rate"),
    ("concurrency", "-c/--concurrency"),
    ("duration_s", "--duration"),
    ("warmup_requests", "--warmup"),
    ("warmup_s", "--warmup"),
    ("ramp_up_s", "--ramp-up"),
    ("dataset", "--dataset"),
    ("prompt", "--prompt"),
    ("prompt_file", "--prompt-file"),
    ("sample_prompts", "--sample-prompts"),
    ("input_tokens", "--input-tokens"),
    ("turns", "--turns"),
    ("prefix_tokens", "--prefix-tokens"),
    ("batch", "--batch"),
    ("max_tokens", "--max-tokens"),
    ("workers", "--workers"),
    ("ray_address", "--ray"),
)


def check_replay(config: Any) -> None:
    """The rules of --trace and --session-header on a RunConfig (one-line ConfigErrors)."""
    name = config.session_header
    if name is not None:
        check_header_name(name, "--session-header")
        if config.is_secret_header(name):
            raise ConfigError("--session-header must not name a credential header")
        if name.lower() in {h.lower() for h in config.headers}:
            raise ConfigError(f"--session-header {name} is also given by -H")
    if config.trace is None:
        for name, flag in (("trace_format", "--trace-format"), ("trace_speed", "--trace-speed")):
            if getattr(config, name) not in (None, 1.0):
                raise ConfigError(f"{flag} needs --trace")
        if config.trace_window != (0.0, None):
            raise ConfigError("--trace-window needs --trace")
        multi = config.dataset is not None or (config.turns or 1) > 1
        if config.session_header is not None and not multi:
            raise ConfigError(
                "--session-header needs sessions: --turns N, a conversation --dataset, "
                "or a --trace with a session column"
            )
        return
    defaults = {f.name: f.default for f in fields(config)}
    for name, flag in _NOT_WITH_TRACE:
        if getattr(config, name) != defaults[name]:
            raise ConfigError(
                f"--trace sets when each request is sent and its lengths, so {flag} does not "
                "apply (scale time with --trace-speed, cap requests with --max-requests)"
            )
    if config.api == "embeddings":
        raise ConfigError("--trace replays completions; --api embeddings has no output length")
    if not 0 < config.trace_speed <= 1e6:
        raise ConfigError(
            f"--trace-speed must be more than 0 and at most 1e6 (got {config.trace_speed!r})"
        )
    if not 1 <= config.trace_block_tokens <= 65_536:
        raise ConfigError(
            f"--trace-block-tokens must be from 1 to 65536 (got {config.trace_block_tokens!r})"
        )
