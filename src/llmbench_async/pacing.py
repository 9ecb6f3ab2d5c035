"""When to send: the load shapes. Each is a small frozen value with a readable `__str__`.

A pacer answers one question, the vegeta way: after `sent` requests, how many seconds
from the start of the run is the next one due? Closed loop has no schedule (a request is
due when a worker is free); open-loop pacers give absolute offsets, so arrivals keep to
their schedule whatever the server does, and a saturated client shows up as queue delay
instead of hiding it (no coordinated omission).
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol

from .errors import ConfigError
from .inbound import check_header_name
from .shapes import RateProfile, parse_load_shape

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
