"""What to send: prompt sources (fixed text, prompt files, synthetic lengths) → request bodies.

Nothing here knows about time. `Workload.body(index)` is called once per request and is
cheap: fixed prompts are encoded once; synthetic prompts are drawn from a seeded generator
per request index, so a run is reproducible and every worker process agrees.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Api
from .errors import ConfigError

# Common English words, each one token (with its leading space) in the BPE vocabularies of
# GPT-4 (cl100k_base), GPT-4o (o200k_base) and Llama 3, so N words ≈ N input tokens.
_WORD_TEXT = """
    the of and to in is was for on that with as by at from his her they this are be not have
    had has one all which you were their there when what been more would will who into other
    time two out can about some only then also new first made any these may many people years
    could after over most world city state year such part them during under would very well
    because just back down even good high long great little own same small large old right left
    still last next place home life work water day man school house room hand head family group
    country name game power line side point light night book food money music river road market
    party town story week month order form body price color study field game team music paper
    report level voice table letter office plant class answer model value sound plan south
    north east west open close early late young short clear free full hard real simple strong
    true white black green blue red gold stone tree wood fire earth wind rain snow summer
    winter spring morning evening village island garden forest mountain ocean bridge train car
    ship horse bird fish dog cat king queen army war peace church court law art film news data
    system service process number problem question result change
"""
WORDS: tuple[str, ...] = tuple(dict.fromkeys(_WORD_TEXT.split()))


@dataclass(frozen=True, slots=True)
class PromptItem:
    """One prompt: text (sent as a user message or as `prompt`) or chat messages."""

    text: str | None = None
    messages: tuple[Mapping[str, Any], ...] | None = None
    max_tokens: int | None = None  # overrides the run's max_tokens for this prompt


@dataclass(frozen=True, slots=True)
class SyntheticInput:
    """Prompts of about `mean` tokens (normal, `stdev`), built from `WORDS`."""

    mean: int
    stdev: int = 0

    def length(self, rng: random.Random) -> int:
        if not self.stdev:
            return self.mean
        return max(1, round(rng.gauss(self.mean, self.stdev)))


@dataclass(frozen=True, slots=True)
class Workload:
    """The request bodies of a run."""

    api: Api
    model: str
    prompts: tuple[PromptItem, ...]
    max_tokens: int
    stream: bool
    synthetic: SyntheticInput | None = None
    sample: bool = False  # draw prompts at random (seeded) instead of cycling through them
    seed: int = 0
    ignore_eos: bool = False  # vLLM's ignore_eos: generate exactly max_tokens
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    max_tokens_field: str = "max_tokens"  # or OpenAI's newer "max_completion_tokens"
    _encoded: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.prompts and self.synthetic is None:
            raise ConfigError("the workload has no prompts")
        encoded = tuple(self._encode(p) for p in self.prompts)
        object.__setattr__(self, "_encoded", encoded)

    def body(self, index: int) -> bytes:
        """The JSON body of request `index` (fixed prompts are encoded once and reused)."""
        if self.synthetic is not None:
            rng = random.Random(self.seed * 1_000_003 + index)
            words = rng.choices(WORDS, k=self.synthetic.length(rng))
            return self._encode(PromptItem(text=" ".join(words)))
        if self.sample:
            pick = random.Random(self.seed * 1_000_003 + index).randrange(len(self._encoded))
            return self._encoded[pick]
        return self._encoded[index % len(self._encoded)]

    def _encode(self, item: PromptItem) -> bytes:
        body: dict[str, Any] = {"model": self.model}
        if self.api == "chat":
            if item.messages is not None:
                body["messages"] = list(item.messages)
            else:
                body["messages"] = [{"role": "user", "content": item.text or ""}]
        elif item.messages is not None:
            body["prompt"] = "\n".join(str(m.get("content", "")) for m in item.messages)
        else:
            body["prompt"] = item.text or ""
        body[self.max_tokens_field] = item.max_tokens or self.max_tokens
        body["stream"] = self.stream
        if self.stream:
            # ask for the server's own token count in a final usage chunk
            body["stream_options"] = {"include_usage": True}
        if self.ignore_eos:
            body["ignore_eos"] = True
        body.update(self.extra_body)
        return json.dumps(body, separators=(",", ":")).encode()


def load_prompt_file(path: Path) -> tuple[PromptItem, ...]:
    """Prompts from a `.txt` file (one per line) or a `.jsonl` file (one object per line:
    `{"prompt": "..."}` or `{"messages": [...]}`, each with an optional `max_tokens`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"--prompt-file: cannot read {path}: {reason}") from None
    if path.suffix.lower() == ".jsonl":
        items = tuple(_jsonl_item(path, no, line) for no, line in _lines(text))
    else:
        items = tuple(PromptItem(text=line) for _, line in _lines(text))
    if not items:
        raise ConfigError(f"--prompt-file: {path} holds no prompt")
    return items


def _lines(text: str) -> list[tuple[int, str]]:
    return [(no, line.strip()) for no, line in enumerate(text.splitlines(), 1) if line.strip()]


def _jsonl_item(path: Path, no: int, line: str) -> PromptItem:
    where = f"--prompt-file: {path} line {no}"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f'{where}: expected an object with "prompt" or "messages"')
    max_tokens = obj.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ConfigError(f"{where}: max_tokens must be a whole number >= 1")
    prompt = obj.get("prompt")
    messages = obj.get("messages")
    if isinstance(prompt, str) and prompt:
        return PromptItem(text=prompt, max_tokens=max_tokens)
    if isinstance(messages, list) and messages and all(_is_message(m) for m in messages):
        return PromptItem(messages=tuple(messages), max_tokens=max_tokens)
    raise ConfigError(
        f'{where}: expected "prompt" (a non-empty string) or "messages" '
        '(a list of {"role", "content"} objects)'
    )


def _is_message(m: object) -> bool:
    return isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m


def parse_input_tokens(spec: str) -> SyntheticInput:
    """`512` or `512:64` (mean:stdev) → SyntheticInput."""
    mean_text, _, stdev_text = spec.partition(":")
    try:
        mean = int(mean_text)
        stdev = int(stdev_text) if stdev_text else 0
    except ValueError:
        raise ConfigError(
            f"--input-tokens must be N or MEAN:STDEV in tokens (got {spec!r})"
        ) from None
    if mean < 1 or stdev < 0:
        raise ConfigError(f"--input-tokens needs MEAN >= 1 and STDEV >= 0 (got {spec!r})")
    return SyntheticInput(mean, stdev)
