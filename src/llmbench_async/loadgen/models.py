"""Many models behind one endpoint: `--model a,b,c` with `--model-mix`.

Which model request (or multi-turn session) `index` asks for is a pure function of the
index, so every worker process, Ray actor and re-run picks the same one:
`round-robin` cycles through the names; `random` draws one per index from `--seed`;
`a=3,b=1` spreads by weights, deterministically (smooth weighted round robin: every
window of sum(weights) consecutive requests holds each model exactly its weight).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..limits import MAX_MODEL_WEIGHT as MAX_WEIGHT
from ..limits import MAX_MODELS

__all__ = ["MAX_MODELS", "ModelMix", "parse_model_mix", "split_models"]

MIXES = ("round-robin", "random")


def split_models(text: str) -> tuple[str, ...]:
    """`--model a,b,c` → ("a", "b", "c"); one name stays one name. Each 1 to 200 printable
    characters, no repeats, at most MAX_MODELS."""
    names = tuple(n.strip() for n in text.split(","))
    if len(names) > MAX_MODELS:
        raise ConfigError(f"--model takes at most {MAX_MODELS} names (got {len(names)})")
    for name in names:
        if not name or len(name) > 200 or not name.isprintable():
            raise ConfigError(
                "--model takes a name or a comma list of names, each 1 to 200 printable "
                f"characters (got {text[:80]!r})"
            )
    if len(set(names)) < len(names):
        raise ConfigError(f"--model names a model twice (got {text[:80]!r})")
    return names


@dataclass(frozen=True, slots=True)
class ModelMix:
    """How requests spread over several models."""

    models: tuple[str, ...]  # at least 2
    kind: str = "round-robin"  # round-robin | random | weights
    weights: tuple[int, ...] = ()  # weights: one per model, > 0 (0: never asked)
    seed: int = 0
    _cycle: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cycle", _smooth_cycle(self.weights) if self.weights else ())

    def model_of(self, index: int) -> str:
        """The model request (or session) `index` asks for."""
        if self.kind == "random":
            pick = random.Random(self.seed * 1_000_003 + index + 7).randrange(len(self.models))
            return self.models[pick]
        if self._cycle:
            return self.models[self._cycle[index % len(self._cycle)]]
        return self.models[index % len(self.models)]

    def __str__(self) -> str:
        if self.weights:
            shown = ",".join(f"{m}={w}" for m, w in zip(self.models, self.weights, strict=True))
            return f"models {shown} (weighted)"
        return f"models {','.join(self.models)} ({self.kind})"


def _smooth_cycle(weights: tuple[int, ...]) -> tuple[int, ...]:
    """Nginx's smooth weighted round robin over one period of sum(weights) picks."""
    total = sum(weights)
    current = [0] * len(weights)
    picks = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: current[i])
        current[best] -= total
        picks.append(best)
    return tuple(picks)


def parse_model_mix(spec: str, models: tuple[str, ...], seed: int | None) -> ModelMix:
    """`round-robin`, `random` or `a=3,b=1` over `models`; one-line ConfigError otherwise."""
    text = spec.strip()
    if len(models) < 2:
        raise ConfigError("--model-mix spreads requests over several models: give --model a,b")
    if text.lower() in MIXES:
        return ModelMix(models, text.lower(), seed=seed or 0)
    weights = dict.fromkeys(models, 0)
    for part in text.split(","):
        name, eq, value = part.strip().rpartition("=")
        name = name.strip()
        if not eq or name not in weights:
            raise ConfigError(
                "--model-mix must be round-robin, random or weights like a=3,b=1 over the "
                f"--model names ({', '.join(models)[:120]}) (got {part.strip()[:60]!r})"
            )
        try:
            weight = int(value.strip())
        except ValueError:
            weight = -1
        if not 0 <= weight <= MAX_WEIGHT:
            raise ConfigError(
                f"--model-mix: a weight is a whole number from 0 to {MAX_WEIGHT} "
                f"(got {part.strip()[:60]!r})"
            )
        weights[name] = weight
    if not any(weights.values()):
        raise ConfigError("--model-mix: at least one weight must be more than 0")
    return ModelMix(models, "weights", tuple(weights.values()), seed=seed or 0)
