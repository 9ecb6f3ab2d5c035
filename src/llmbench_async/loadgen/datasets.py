"""Datasets from local files: ShareGPT, OpenAI-style JSONL requests, conversation JSONL.

Files are read as a stream of JSON objects (`json.JSONDecoder.raw_decode` over 1 MiB
chunks), whether they are one big JSON array (ShareGPT) or one object a line, so memory
holds one chunk plus the sample kept, never the whole file. Entries are filtered by length
and a seeded reservoir sample of at most `keep` entries is kept.

Lengths are ESTIMATES without a tokenizer: tokens ≈ characters / 4 (rounded up), the usual
rule of thumb for English text with GPT-style BPE vocabularies.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..config import DATASET_FORMATS
from ..errors import ConfigError
from ..inbound import check_file, check_json, refuse_constant
from ..limits import MAX_DATASET_FILE_BYTES, MAX_JSON_DEPTH
from .workload import Conversation, PromptItem, prompt_item

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = [
    "SAMPLES",
    "DatasetSpec",
    "dataset_spec",
    "estimate_tokens",
    "iter_objects",
    "load_dataset",
    "resolve_dataset",
]

_CHUNK_CHARS = 1 << 20
_MAX_OBJECT_CHARS = 64 << 20  # one entry larger than this is an error, not a memory blow-up
_SEPARATORS = frozenset(" \t\r\n,[]")
_USER_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
_USER_ROLES |= {"chatgpt": "assistant", "bard": "assistant", "bing": "assistant"}
_USER_ROLES |= {"model": "assistant", "system": "system"}
DEFAULT_KEEP = 10_000
# small files shipped in the package, one per format: `--dataset sample:NAME` works from an
# installed tool in any folder (the README's examples use them)
SAMPLE_PREFIX = "sample:"
SAMPLES = {
    "sharegpt": "sharegpt.json",
    "openai-jsonl": "openai-jsonl.jsonl",
    "conversations": "conversations.jsonl",
}
_SAMPLE_DIR = Path(__file__).resolve().parent.parent / "samples"  # the package's samples/


def resolve_dataset(path: Path) -> Path:
    """The file `--dataset` names: `sample:NAME` is a sample shipped with the tool, any
    other value a path as given. ConfigError (one line) for an unknown sample name."""
    text = str(path)
    if not text.startswith(SAMPLE_PREFIX):
        return path
    name = text[len(SAMPLE_PREFIX) :]
    if name not in SAMPLES:
        choices = ", ".join(SAMPLE_PREFIX + n for n in SAMPLES)
        raise ConfigError(f"--dataset: no sample named {name[:64]!r}; the samples: {choices}")
    return _SAMPLE_DIR / SAMPLES[name]


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """Which file, in which format, which entries, and how many to keep."""

    path: Path
    format: str | None = None  # None: detected
    min_input: int | None = None  # estimated tokens of the (first) user message
    max_input: int | None = None
    min_output: int | None = None  # estimated tokens of the dataset's (first) reply
    max_output: int | None = None
    seed: int = 0
    keep: int = DEFAULT_KEEP  # reservoir size: entries kept after filtering


def dataset_spec(config: RunConfig) -> DatasetSpec:
    """The dataset part of a run's config (keep: as many entries as requests, at most 10k)."""
    assert config.dataset is not None
    keep = min(DEFAULT_KEEP, (config.n or DEFAULT_KEEP) + config.warmup_requests)
    return DatasetSpec(
        path=config.dataset,
        format=config.dataset_format,
        min_input=config.input_token_range[0],
        max_input=config.input_token_range[1],
        min_output=config.output_token_range[0],
        max_output=config.output_token_range[1],
        seed=config.seed or 0,
        keep=max(1, keep),
    )


def estimate_tokens(text: str) -> int:
    """Tokens of `text`, estimated as characters / 4 rounded up (no tokenizer)."""
    return math.ceil(len(text) / 4)


def load_dataset(spec: DatasetSpec) -> tuple[tuple[PromptItem, ...], tuple[Conversation, ...]]:
    """(prompts, conversations): openai-jsonl gives prompts, the other formats conversations.
    ConfigError (one line, naming the line) for an unreadable or malformed file.

    A run checks its file before the first request, then builds its workload from the same
    sample: the result is cached per spec and file version (size and modification time)."""
    path = resolve_dataset(spec.path)
    if path != spec.path:
        spec = dataclasses.replace(spec, path=path)
    try:
        stat = spec.path.stat()
    except OSError as exc:
        raise ConfigError(f"--dataset: cannot read {spec.path}: {exc.strerror or exc}") from None
    return _load(spec, (stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _load(
    spec: DatasetSpec, version: tuple[int, int]
) -> tuple[tuple[PromptItem, ...], tuple[Conversation, ...]]:
    fmt = spec.format or detect_format(spec.path)
    if fmt not in DATASET_FORMATS:
        raise ConfigError(f"--dataset-format must be one of {', '.join(DATASET_FORMATS)}")
    rng = random.Random(spec.seed)
    kept: list[PromptItem | Conversation] = []
    seen = 0
    for line, obj in iter_objects(spec.path):
        entry = _entry(fmt, obj, f"--dataset: {spec.path} line {line}")
        if entry is None or not _passes(entry, spec):
            continue
        seen += 1
        if len(kept) < spec.keep:
            kept.append(entry)
        else:  # reservoir sampling (Algorithm R): every entry kept with probability keep/seen
            slot = rng.randrange(seen)
            if slot < spec.keep:
                kept[slot] = entry
    if not kept:
        raise ConfigError(f"--dataset: no entry of {spec.path} is usable after the filters")
    prompts = tuple(e for e in kept if isinstance(e, PromptItem))
    conversations = tuple(e for e in kept if isinstance(e, Conversation))
    return prompts, conversations


def detect_format(path: Path) -> str:
    """sharegpt (a JSON array, or objects with "conversations"), conversations (objects with
    "turns"), or openai-jsonl (objects with "messages" or "prompt")."""
    for line, obj in iter_objects(path):
        if not isinstance(obj, dict):
            break
        if "conversations" in obj:
            return "sharegpt"
        if "turns" in obj:
            return "conversations"
        if "messages" in obj or "prompt" in obj:
            return "openai-jsonl"
        raise ConfigError(
            f"--dataset: cannot tell the format of {path} from line {line} "
            '(no "conversations", "turns", "messages" or "prompt"); give --dataset-format'
        )
    raise ConfigError(f"--dataset: {path} holds no JSON object; give a dataset file")


def iter_objects(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each top-level JSON value of a JSONL file or JSON array."""
    check_file(path, "--dataset", MAX_DATASET_FILE_BYTES)
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--dataset: cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        yield from _ObjectStream(fh, f"--dataset: {path}")


class _ObjectStream:
    """Incremental JSON values over a text file, with the line each one starts on."""

    def __init__(self, fh: IO[str], where: str) -> None:
        self._fh = fh
        self._where = where
        self._buf = ""
        self._pos = 0
        self._line = 1  # the line number at `_line_pos`
        self._line_pos = 0
        self._eof = False
        # strict: NaN and Infinity refused (the depth is checked on each value)
        self._decode = json.JSONDecoder(parse_constant=refuse_constant).raw_decode

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        while self._skip():
            start = self._line_at(self._pos)
            try:
                value, end = self._decode(self._buf, self._pos)
                check_json(value, f"{self._where} line {start}")
            except RecursionError:
                raise ConfigError(
                    f"{self._where} line {start}: JSON nested deeper than {MAX_JSON_DEPTH} levels"
                ) from None
            except json.JSONDecodeError as exc:
                if self._incomplete(exc):
                    self._fill()
                    continue
                line = self._line_at(min(exc.pos, len(self._buf)))
                where = f"line {line}" if line == start else f"line {start} (at line {line})"
                reason = f"not valid JSON ({exc.msg})"
                raise ConfigError(f"{self._where} {where}: {reason}") from None
            except ValueError as exc:  # NaN or Infinity
                raise ConfigError(f"{self._where} line {start}: {exc}") from None
            self._pos = end
            yield start, value

    def _skip(self) -> bool:
        """Move past whitespace and array punctuation; False at the end of the file."""
        while True:
            buf, pos, n = self._buf, self._pos, len(self._buf)
            while pos < n and buf[pos] in _SEPARATORS:
                pos += 1
            self._pos = pos
            if pos < n:
                return True
            if self._eof:
                return False
            self._fill()

    def _incomplete(self, exc: json.JSONDecodeError) -> bool:
        """Whether the error may be the chunk ending mid-value (so: read more, try again)."""
        if self._eof:
            return False
        if len(self._buf) - self._pos > _MAX_OBJECT_CHARS:
            line = self._line_at(self._pos)
            raise ConfigError(
                f"{self._where} line {line}: an entry over {_MAX_OBJECT_CHARS >> 20} MiB "
                "(or an unterminated one)"
            )
        return exc.pos >= len(self._buf) - 8 or exc.msg.startswith("Unterminated string")

    def _fill(self) -> None:
        """Drop what was consumed and read the next chunk."""
        self._line = self._line_at(self._pos)
        self._buf = self._buf[self._pos :]
        self._pos = self._line_pos = 0
        try:
            chunk = self._fh.read(_CHUNK_CHARS)
        except UnicodeDecodeError:
            raise ConfigError(f"{self._where} near line {self._line}: not UTF-8 text") from None
        except OSError as exc:  # a read error mid-file (EIO: /proc/self/mem, a bad disk)
            reason = exc.strerror or exc
            raise ConfigError(
                f"{self._where} near line {self._line}: cannot read: {reason}"
            ) from None
        if not chunk:
            self._eof = True
        self._buf += chunk

    def _line_at(self, pos: int) -> int:
        """The line number at `pos` (counted forward from the last position asked)."""
        if pos >= self._line_pos:
            self._line += self._buf.count("\n", self._line_pos, pos)
        else:
            self._line -= self._buf.count("\n", pos, self._line_pos)
        self._line_pos = pos
        return self._line


def _entry(fmt: str, obj: Any, where: str) -> PromptItem | Conversation | None:
    """One dataset entry; None for an entry that has no user turn (skipped)."""
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    if fmt == "openai-jsonl":
        return prompt_item(obj, where)
    key = "conversations" if fmt == "sharegpt" else ("turns" if "turns" in obj else "messages")
    turns = obj.get(key)
    if not isinstance(turns, list):
        raise ConfigError(f'{where}: expected "{key}": a list of messages')
    return _conversation(turns, where, sharegpt=fmt == "sharegpt")


def _conversation(turns: list[Any], where: str, *, sharegpt: bool) -> Conversation | None:
    """User messages, each paired with the assistant reply that follows it."""
    role_key, text_key = ("from", "value") if sharegpt else ("role", "content")
    users: list[str] = []
    replies: list[str | None] = []
    system: list[str] = []
    for turn in turns:
        if not isinstance(turn, dict) or not isinstance(turn.get(text_key), str):
            raise ConfigError(f'{where}: each message needs "{role_key}" and "{text_key}" text')
        role = _USER_ROLES.get(str(turn.get(role_key)).lower())
        text = turn[text_key]
        if role == "system":
            system.append(text)
        elif role == "user":
            users.append(text)
            replies.append(None)
        elif role == "assistant" and users and replies[-1] is None:
            replies[-1] = text
    if not users:
        return None
    return Conversation(tuple(users), tuple(replies), "\n".join(system) or None)


def _passes(entry: PromptItem | Conversation, spec: DatasetSpec) -> bool:
    if isinstance(entry, Conversation):
        prompt, reply = entry.users[0], entry.reply(0)
    else:
        prompt = entry.text or "\n".join(str(m.get("content", "")) for m in entry.messages or ())
        reply = None
    tokens = estimate_tokens(prompt)
    if (spec.min_input is not None and tokens < spec.min_input) or (
        spec.max_input is not None and tokens > spec.max_input
    ):
        return False
    if spec.min_output is None and spec.max_output is None:
        return True
    if reply is None:  # an output filter needs the dataset's reply to judge by
        return False
    out = estimate_tokens(reply)
    return (spec.min_output is None or out >= spec.min_output) and (
        spec.max_output is None or out <= spec.max_output
    )
