"""What to send: prompt sources (fixed text, prompt files, synthetic lengths) → request bodies.

Nothing here knows about time. `Workload.body(index)` is called once per request and is
cheap: fixed prompts are encoded once; synthetic prompts are drawn from a seeded generator
per request index, so a run is reproducible and every worker process agrees.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import ConfigError
from ..inbound import check_file, loads
from ..limits import (
    MAX_BODY_BYTES,
    MAX_INPUT_TOKENS,
    MAX_PROMPT_BYTES,
    MAX_PROMPT_FILE_BYTES,
    MAX_TOKENS_HIGH,
)
from ..wire.apis import Message, api_spec, flatten
from .images import Image, attach, images_of
from .models import ModelMix

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
        return min(MAX_INPUT_TOKENS, max(1, round(rng.gauss(self.mean, self.stdev))))


@dataclass(frozen=True, slots=True)
class Conversation:
    """A session's script: the user message of each turn, and the dataset's replies."""

    users: tuple[str, ...]
    replies: tuple[str | None, ...] = ()  # the dataset's assistant replies, when it has them
    system: str | None = None

    def reply(self, turn: int) -> str | None:
        """The dataset's reply to turn `turn` (0-based), if any."""
        return self.replies[turn] if turn < len(self.replies) else None


@dataclass(frozen=True, slots=True)
class Workload:
    """The request bodies of a run."""

    api: str
    model: str
    prompts: tuple[PromptItem, ...]
    max_tokens: int
    stream: bool
    synthetic: SyntheticInput | None = None
    sample: bool = False  # draw prompts at random (seeded) instead of cycling through them
    seed: int = 0
    ignore_eos: bool = False  # vLLM's ignore_eos: generate exactly max_tokens
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    max_tokens_field: str | None = None  # None: the API's own; or "max_completion_tokens"
    # embeddings batches and shared prefixes
    batch: int = 1  # embeddings: inputs per request
    prefix_tokens: int = 0  # shared prefixes: words (≈ tokens) in each prefix; 0 = none
    prefix_groups: int = 1  # shared prefixes: distinct prefixes, request i uses i % groups
    conversations: tuple[Conversation, ...] = ()  # a conversation dataset (multi-turn)
    turns: int | None = None  # turns per session (None: 1, or each conversation's own)
    mix: ModelMix | None = None  # several models: which one request (or session) i asks for
    # tools, tool_choice, response_format (or text.format) in the API's shape
    request_fields: Mapping[str, Any] = field(default_factory=dict)
    images: tuple[Image, ...] = ()  # the run's image pool
    images_per_request: int = 0  # images each request carries, drawn from the pool
    _encoded: dict[str, tuple[bytes, ...]] = field(init=False, repr=False, compare=False)
    _prefixes: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.prompts and self.synthetic is None and not self.conversations:
            raise ConfigError("the workload has no prompts")
        if self.images_per_request and self.multi_turn:
            raise ConfigError("--images and --image-dir work with single-turn requests")
        plain = not self.prefix_tokens and self.batch == 1 and not self.images_per_request
        encoded = {
            m: tuple(self._encode(_messages(p), p.max_tokens, m) for p in self.prompts)
            for m in (self.mix.models if self.mix is not None else (self.model,))
        }
        object.__setattr__(self, "_encoded", encoded if plain and self.prompts else {})
        object.__setattr__(self, "_prefixes", self._make_prefixes())
        if self.images_per_request:  # a body over its cap is a usage error before the run
            self._check_image_budget()

    def _check_image_budget(self) -> None:
        """ConfigError when the request carrying the largest images would pass 16 MiB:
        request 0's body, with its images swapped for the pool's largest."""
        first = self.body(0)  # itself checked
        carried = images_of(self.images, self.images_per_request, 0)
        largest = sorted((len(i.b64) for i in self.images), reverse=True)
        worst = len(first) - sum(len(i.b64) for i in carried)
        worst += sum(largest[: self.images_per_request])
        if worst > MAX_BODY_BYTES:
            raise ConfigError(
                f"a request carrying the largest {self.images_per_request} image(s) would be "
                f"{worst / 2**20:.1f} MiB; at most 16 MiB (fewer or smaller images)"
            )

    @property
    def multi_turn(self) -> bool:
        """Whether requests come in sessions of several turns."""
        return bool(self.conversations) or (self.turns or 1) > 1

    def model_of(self, index: int) -> str:
        """The model request (or multi-turn session) `index` asks for."""
        return self.model if self.mix is None else self.mix.model_of(index)

    def body(self, index: int) -> bytes:
        """The JSON body of request `index` (fixed prompts are encoded once and reused)."""
        model = self.model_of(index)
        if self._encoded and self.synthetic is None:
            encoded = self._encoded[model]
            if self.sample:
                pick = random.Random(self.seed * 1_000_003 + index).randrange(len(encoded))
                return encoded[pick]
            return encoded[index % len(encoded)]
        if self.batch > 1:
            first = index * self.batch
            texts = [self._text(first + k) for k in range(self.batch)]
            return self._encode([{"role": "user", "content": t} for t in texts], None, model)
        item = self.item(index)
        messages = _messages(item)
        if self.prefix_tokens:
            messages = self._with_prefix(messages, self.group_of(index))
        if self.images_per_request:
            carried = images_of(self.images, self.images_per_request, index)
            messages = attach(self.api, messages, carried)
        return self._encode(messages, item.max_tokens, model)

    def tags(self, index: int) -> dict[str, int]:
        """Record fields that say where request `index` sits: prefix group, batch size."""
        tags: dict[str, int] = {}
        if self.prefix_tokens:
            tags["group"] = self.group_of(index)
        if self.api == "embeddings":
            tags["inputs"] = self.batch
        return tags

    def group_of(self, index: int) -> int:
        """The shared-prefix group of request (or session) `index`."""
        return index % self.prefix_groups

    def item(self, index: int, prefixed: bool = True) -> PromptItem:
        """The prompt of request `index`: synthetic, sampled or cycled. A synthetic prompt
        that goes behind a shared prefix (`prefixed`) is shorter by the prefix's length."""
        if self.synthetic is not None:
            rng = random.Random(self.seed * 1_000_003 + index)
            length = self.synthetic.length(rng)
            if self.prefix_tokens and prefixed:  # the prefix is part of the asked length
                length = max(1, length - self.prefix_tokens)
            return PromptItem(text=" ".join(rng.choices(WORDS, k=length)))
        if self.sample:
            pick = random.Random(self.seed * 1_000_003 + index).randrange(len(self.prompts))
            return self.prompts[pick]
        return self.prompts[index % len(self.prompts)]

    def conversation(self, session: int) -> Conversation:
        """The script of session `session`: a dataset conversation (capped at `turns`), or
        `turns` prompts of the run's own source."""
        if self.conversations:
            if self.sample:
                pick = random.Random(self.seed * 1_000_003 + session)
                conv = self.conversations[pick.randrange(len(self.conversations))]
            else:
                conv = self.conversations[session % len(self.conversations)]
            if self.turns is None or self.turns >= len(conv.users):
                return conv
            n = self.turns
            return Conversation(conv.users[:n], conv.replies[:n], conv.system)
        turns = self.turns or 1
        users = tuple(self._text(session * turns + t, t == 0) for t in range(turns))
        return Conversation(users)

    def turn_user(self, session: int, conv: Conversation, turn: int) -> dict[str, Any]:
        """The user message of turn `turn` (0-based); the first sits behind the session's
        shared prefix, if any."""
        user = conv.users[turn]
        if turn == 0 and self.prefix_tokens:
            user = f"{self._prefixes[self.group_of(session)]} {user}"
        return {"role": "user", "content": user}

    def turn_body(
        self, conv: Conversation, messages: Sequence[Message], model: str | None = None
    ) -> bytes:
        """The body of one turn: the conversation's system prompt, then `messages` (the
        history so far and the new user message), to `model` (None: the run's model)."""
        if conv.system:
            messages = [{"role": "system", "content": conv.system}, *messages]
        return self._encode(messages, None, model)

    def text_body(self, text: str, max_tokens: int) -> bytes:
        """The body of one request of `text` asking for `max_tokens` (a trace row)."""
        return self._encode([{"role": "user", "content": text}], max_tokens)

    def _text(self, index: int, prefixed: bool = False) -> str:
        return flatten(_messages(self.item(index, prefixed)))

    def _make_prefixes(self) -> tuple[str, ...]:
        if not self.prefix_tokens:
            return ()
        return tuple(
            " ".join(random.Random(f"prefix:{self.seed}:{g}").choices(WORDS, k=self.prefix_tokens))
            for g in range(self.prefix_groups)
        )

    def _with_prefix(self, messages: list[Message], group: int) -> list[Message]:
        """The prefix of `group` in front of the first user message."""
        out = list(messages)
        for i, m in enumerate(out):
            if m.get("role") == "user":
                content = flatten([m])
                out[i] = {**m, "content": f"{self._prefixes[group]} {content}"}
                break
        return out

    def _encode(
        self, messages: Sequence[Message], max_tokens: int | None, model: str | None = None
    ) -> bytes:
        body = api_spec(self.api).body(
            model or self.model,
            messages,
            max_tokens or self.max_tokens,
            self.stream,
            self.max_tokens_field,
        )
        if self.ignore_eos and self.api != "embeddings":
            body["ignore_eos"] = True
        body.update(self.request_fields)
        body.update(self.extra_body)
        data = json.dumps(body, separators=(",", ":")).encode()
        if len(data) > MAX_BODY_BYTES:
            raise ConfigError(
                f"a request body would be {len(data) / 2**20:.1f} MiB; at most 16 MiB "
                "(shorten the prompt, --extra-body or the images)"
            )
        return data


def _messages(item: PromptItem) -> list[Message]:
    if item.messages is not None:
        return list(item.messages)
    return [{"role": "user", "content": item.text or ""}]


def load_prompt_file(path: Path) -> tuple[PromptItem, ...]:
    """Prompts from a `.txt` file (one per line) or a `.jsonl` file (one object per line:
    `{"prompt": "..."}` or `{"messages": [...]}`, each with an optional `max_tokens`).
    Read line by line: the file may hold at most 256 MiB, one line at most 8 MiB."""
    jsonl = path.suffix.lower() == ".jsonl"
    items: list[PromptItem] = []
    try:
        check_file(path, "--prompt-file", MAX_PROMPT_FILE_BYTES)
        with path.open("rb") as fh:
            for no, line in _lines(path, fh):
                items.append(_jsonl_item(path, no, line) if jsonl else PromptItem(text=line))
    except OSError as exc:
        raise ConfigError(f"--prompt-file: cannot read {path}: {exc.strerror or exc}") from None
    if not items:
        raise ConfigError(f"--prompt-file: {path} holds no prompt")
    return tuple(items)


def _lines(path: Path, fh: Any) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of each non-blank line; one-line errors for a line over
    8 MiB, bad UTF-8, or a file that grew past 256 MiB while read."""
    total = 0
    for no in count(1):
        raw: bytes = fh.readline(MAX_PROMPT_BYTES + 1)
        if not raw:
            return
        total += len(raw)
        if len(raw) > MAX_PROMPT_BYTES:
            raise ConfigError(f"--prompt-file: {path} line {no} is longer than 8 MiB")
        if total > MAX_PROMPT_FILE_BYTES:
            raise ConfigError(f"--prompt-file: {path} is larger than 256 MiB")
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"--prompt-file: {path} line {no} is not UTF-8 text") from None
        if line:
            yield no, line


def _jsonl_item(path: Path, no: int, line: str) -> PromptItem:
    where = f"--prompt-file: {path} line {no}"
    obj = loads(line.encode("utf-8", "surrogatepass"), where)
    if not isinstance(obj, dict):
        raise ConfigError(f'{where}: expected an object with "prompt" or "messages"')
    return prompt_item(obj, where)


def prompt_item(obj: dict[str, Any], where: str) -> PromptItem:
    """One request object of a prompt file or an openai-jsonl dataset: `prompt` or
    `messages`, optional `max_tokens`; one-line ConfigErrors naming `where`."""
    max_tokens = obj.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= MAX_TOKENS_HIGH
    ):
        raise ConfigError(
            f"{where}: max_tokens must be a whole number from 1 to {MAX_TOKENS_HIGH:,}"
        )
    prompt = obj.get("prompt")
    messages = obj.get("messages")
    if isinstance(prompt, str) and len(prompt.encode("utf-8", "surrogatepass")) > MAX_PROMPT_BYTES:
        raise ConfigError(f"{where}: prompt is longer than 8 MiB")
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


def load_prompts(config: RunConfig) -> tuple[PromptItem, ...]:
    """The run's prompts: the prompt file's, or --prompt."""
    if config.prompt_file is not None:
        return load_prompt_file(config.prompt_file)
    return (PromptItem(text=config.prompt),)
