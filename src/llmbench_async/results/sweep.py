"""Sweeps: one run per load level (`--concurrency 1,4,16` or `--rate 1,2,4`), each judged
against the thresholds and against the load it was offered, and the capacity under SLO: the
highest level that meets them all, with whether that is exact or only a lower bound."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ..config import RunConfig
from .gate import Threshold, Verdict
from .stats import Summary

# a rate level whose completions keep up with less than this share of its arrivals is saturated
DEFAULT_MIN_ACHIEVED = 0.9


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a sweep and its config."""

    label: str  # "c=4" or "rate=2"
    value: float  # the concurrency or the rate
    config: RunConfig

    @property
    def kind(self) -> Literal["concurrency", "rate"]:
        return "rate" if self.label.startswith("rate=") else "concurrency"


@dataclass(frozen=True, slots=True)
class Load:
    """The load a level offered against the load it achieved.

    Concurrency: the target against the peak number of requests in flight. Rate: the rate
    asked for, the rate of the arrivals actually scheduled (Poisson draws scatter around the
    rate asked for), and the rate of successful completions. `ratio` is achieved / scheduled
    arrivals for a rate, reached / target for a concurrency; None when it cannot be told
    (fewer than two requests)."""

    kind: Literal["concurrency", "rate"]
    offered: float
    achieved: float | None
    arrivals: float | None = None  # rate levels: scheduled arrivals per second
    ratio: float | None = None

    @staticmethod
    def of(level: Level, summary: Summary, peak_in_flight: int | None) -> Load:
        if level.kind == "concurrency":
            ratio = None if peak_in_flight is None else peak_in_flight / level.value
            return Load("concurrency", level.value, peak_in_flight, ratio=ratio)
        gaps = summary.total - 1
        if gaps < 1 or summary.arrival_span_s <= 0 or summary.completion_span_s <= 0:
            return Load("rate", level.value, None)
        arrivals = gaps / summary.arrival_span_s
        achieved = summary.ok / summary.total * gaps / summary.completion_span_s
        return Load("rate", level.value, achieved, arrivals, achieved / arrivals)

    def text(self) -> str:
        """`offered 16 req/s, achieved 8.36 req/s (52 %)` or `reached 4 of 4 in flight`."""
        if self.kind == "concurrency":
            reached = "?" if self.achieved is None else f"{self.achieved:g}"
            return f"reached {reached} of {self.offered:g} in flight"
        if self.achieved is None or self.ratio is None:
            return f"offered {self.offered:g} req/s, achieved: too few requests to tell"
        return (
            f"offered {self.offered:g} req/s, achieved {self.achieved:.2f} req/s "
            f"({self.ratio * 100:.0f} % of the arrivals)"
        )


@dataclass(frozen=True, slots=True)
class LevelResult:
    """What one level measured and how it fared against the thresholds and its load."""

    level: Level
    summary: Summary
    verdicts: tuple[Verdict, ...]
    problem: str | None = None  # the target looked unusable at this level
    interrupted_by: str | None = None
    peak_in_flight: int | None = None
    min_achieved: float = DEFAULT_MIN_ACHIEVED

    @property
    def load(self) -> Load:
        return Load.of(self.level, self.summary, self.peak_in_flight)

    @property
    def saturated(self) -> bool:
        """A rate level whose successful completions fell behind its arrivals by more than
        `min_achieved` allows: the server did not keep up with the offered load."""
        load = self.load
        return load.kind == "rate" and load.ratio is not None and load.ratio < self.min_achieved

    @property
    def passed(self) -> bool:
        """Every threshold held, the level kept up with its offered rate, and it had
        requests that succeeded."""
        return (
            self.summary.ok > 0
            and self.problem is None
            and not self.saturated
            and all(v.passed for v in self.verdicts)
        )

    def failure_reasons(self) -> list[str]:
        """Why the level failed, one phrase each (empty when it passed)."""
        reasons = [
            f"{v.threshold} (observed {v.observed_text}, limit {v.threshold.limit_text})"
            for v in self.verdicts
            if not v.passed
        ]
        if self.saturated:
            reasons.append(
                f"saturated: {self.load.text()}, under --min-achieved {self.min_achieved * 100:g}%"
            )
        if self.summary.ok == 0:
            reasons.append("no request succeeded")
        if self.problem is not None and not reasons:
            reasons.append(self.problem)
        return reasons


@dataclass(frozen=True, slots=True)
class Capacity:
    """The capacity under SLO.

    `exact`: `value` passed and the next level up failed (`first_failing`), so capacity lies
    between the two. `lower`: every level run passed, so capacity is at least `value` and was
    not reached. `value` None: the lowest level already failed."""

    value: LevelResult | None
    bound: Literal["exact", "lower"] | None
    first_failing: LevelResult | None

    def text(self) -> str:
        """The one line the console and Markdown reports print (the HTML page states the
        same words, from the JSON: facts.capacity_text)."""
        from .facts import capacity_text

        return f"Capacity under SLO: {capacity_text(self.to_json(), judged=True)}"

    def to_json(self) -> dict[str, object]:
        return {
            "value": None if self.value is None else self.value.level.value,
            "label": None if self.value is None else self.value.level.label,
            "bound": self.bound,
            "first_failing_level": None
            if self.first_failing is None
            else self.first_failing.level.label,
            "requests_per_s": None if self.value is None else self.value.summary.requests_per_s,
            "output_tokens_per_s": None
            if self.value is None
            else self.value.summary.output_tokens_per_s,
            # good requests/s at the capacity (--goodput)
            "goodput_per_s": None if self.value is None else self.value.summary.goodput_per_s,
        }


def is_judged(levels: Sequence[Level], thresholds: Sequence[Threshold]) -> bool:
    """Whether a sweep's levels are judged: thresholds were given, or it is a rate sweep
    (each level judged by the rate it achieved against the rate offered)."""
    return bool(thresholds) or any(level.kind == "rate" for level in levels)


def sweep_configs(
    config: RunConfig, *, concurrency: Sequence[int], rate: Sequence[float] | None
) -> list[Level]:
    """One config per level; with -o, each level writes its own file (`r.jsonl` → `r.c4.jsonl`)."""
    levels: list[Level] = []
    if rate is not None and len(rate) > 1:
        for value in rate:
            level = replace(config, rate=value, output=_tagged(config.output, f"r{value:g}"))
            levels.append(Level(f"rate={value:g}", value, level))
    else:
        for c in concurrency:
            level = replace(config, concurrency=c, output=_tagged(config.output, f"c{c}"))
            levels.append(Level(f"c={c}", c, level))
    return levels


def _tagged(output: Path | None, tag: str) -> Path | None:
    if output is None:
        return None
    return output.with_name(f"{output.stem}.{tag}{output.suffix or '.jsonl'}")


def capacity(results: Sequence[LevelResult]) -> Capacity:
    """Counting up from the lowest level, the last one before the first that fails.

    A level above a failing one is not trusted even if it passes (noise, or a server that
    sheds load): capacity is where the SLO still held at every level below it."""
    best: LevelResult | None = None
    for result in sorted(results, key=lambda r: r.level.value):
        if not result.passed:
            return Capacity(best, None if best is None else "exact", result)
        best = result
    return Capacity(best, None if best is None else "lower", None)
