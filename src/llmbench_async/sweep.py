"""Sweeps: one run per load level (`--concurrency 1,4,16` or `--rate 1,2,4`), each judged
against the thresholds, and the capacity under SLO: the highest level that meets them all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .config import RunConfig
from .gate import Verdict
from .stats import Summary


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a sweep and its config."""

    label: str  # "c=4" or "rate=2"
    value: float  # the concurrency or the rate
    config: RunConfig


@dataclass(frozen=True, slots=True)
class LevelResult:
    """What one level measured and how it fared against the thresholds."""

    level: Level
    summary: Summary
    verdicts: tuple[Verdict, ...]
    problem: str | None = None  # the target looked unusable at this level
    interrupted_by: str | None = None

    @property
    def passed(self) -> bool:
        """Every threshold held, and the level had requests that succeeded."""
        return self.summary.ok > 0 and self.problem is None and all(v.passed for v in self.verdicts)


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


def capacity_under_slo(results: Sequence[LevelResult]) -> LevelResult | None:
    """The highest level, counting up from the lowest, before the first one that fails.

    A level above a failing one is not trusted even if it passes (noise, or a server that
    sheds load): capacity is where the SLO still held at every level below it.
    """
    best: LevelResult | None = None
    for result in sorted(results, key=lambda r: r.level.value):
        if not result.passed:
            break
        best = result
    return best
