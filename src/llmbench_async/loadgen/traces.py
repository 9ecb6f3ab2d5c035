"""Trace replay: production request traces, read as a stream, each row one request.

Three public formats, detected from the first line (or named with `--trace-format`):

* `mooncake`: JSONL, `{"timestamp": ms, "input_length": n, "output_length": n,
  "hash_ids": [...]}`; each hash id names one block of `--trace-block-tokens` prompt tokens,
  so rows sharing leading ids share a prompt prefix. An optional `session_id` (AIPerf's
  multi-turn traces) names the row's session.
* `burstgpt`: CSV `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`,
  timestamps in seconds; a `SessionID` (or `Session ID`) column, where present, names each
  row's session. Rows with 0 response tokens are the trace's failed requests: skipped.
* `azure`: the Azure LLM inference trace CSV, `TIMESTAMP,ContextTokens,GeneratedTokens`,
  TIMESTAMP a date-time such as `2023-11-16 18:15:46.6805900` (UTC).

Rows are read lazily: a bounded reordering window (`REORDER_ROWS`) puts slightly
out-of-order timestamps in order; a row earlier than one already replayed is an error
naming its line. Nothing here knows about HTTP; the runner sends what `rows` yields.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import heapq
import math
import random
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..config import RunConfig
from ..errors import ConfigError
from ..inbound import check_file, lines, loads
from ..limits import MAX_INPUT_TOKENS, MAX_TOKENS_HIGH
from .workload import WORDS

__all__ = [
    "MAX_TRACE_FILE_BYTES",
    "REORDER_IDS",
    "REORDER_ROWS",
    "TRACE_FORMATS",
    "TracePrompts",
    "TraceRow",
    "TraceSpec",
    "check_trace",
    "detect_trace_format",
    "parse_window",
    "rows",
    "trace_spec",
]

TRACE_FORMATS = ("mooncake", "burstgpt", "azure")
MAX_TRACE_FILE_BYTES = 8 * 1024**3  # read as a stream: the cap bounds the reading time
MAX_TRACE_LINE_BYTES = 4 * 1024**2  # one row (a Mooncake row's hash_ids included)
MAX_HASH_IDS = 100_000  # blocks of one Mooncake row
REORDER_ROWS = 4096  # rows held to put out-of-order timestamps in order
REORDER_IDS = 1_000_000  # and at most this many hash ids in them (memory stays bounded)
_BLOCK_CACHE_WORDS = 2_000_000  # words of prefix blocks kept built (16 MB of references)

_IN, _OUT = MAX_INPUT_TOKENS, MAX_TOKENS_HIGH  # caps of a row's input and output lengths
_BURSTGPT = ("timestamp", "request tokens", "response tokens")
_AZURE = ("timestamp", "contexttokens", "generatedtokens")
_SESSION_COLUMNS = ("sessionid", "session id", "session_id")


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One request of a trace. `at_s`: seconds after the replay's start (speed and window
    applied); `line`: the file's line number (1-based) the row came from."""

    line: int
    at_s: float
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] = ()
    session: int | None = None  # a stable number for the row's session (None: none)


@dataclass(frozen=True, slots=True)
class TraceSpec:
    """A trace to replay and how: its format, time scale, slice and request cap."""

    path: Path
    format: str
    speed: float = 1.0  # 2.0: twice as fast (gaps halved)
    start_s: float = 0.0  # the slice, in the trace's own seconds from its first row
    end_s: float | None = None
    limit: int | None = None  # at most this many requests (None: every row in the slice)
    block_tokens: int = 512  # Mooncake: tokens per hash id


def parse_window(text: str) -> tuple[float, float | None]:
    """`--trace-window START:END`, durations from the trace's first row; either side may be
    empty (`:5m`, `10m:`)."""
    from ..units import parse_time

    start_text, sep, end_text = text.partition(":")
    if not sep:
        raise ConfigError(f"--trace-window must be START:END, e.g. 0s:10m (got {text!r})")
    start = parse_time(start_text, "--trace-window") if start_text.strip() else 0.0
    end = parse_time(end_text, "--trace-window") if end_text.strip() else None
    if not 0 <= start < math.inf or (end is not None and not start < end < math.inf):
        raise ConfigError(
            f"--trace-window needs 0 <= START < END, both finite durations (got {text!r})"
        )
    return start, end


def detect_trace_format(path: Path, named: str | None = None) -> str:
    """The trace's format: `named` when given (checked), else from its first line."""
    check_file(path, "--trace", MAX_TRACE_FILE_BYTES)
    if named is not None:
        if named not in TRACE_FORMATS:
            raise ConfigError(
                f"--trace-format must be one of {', '.join(TRACE_FORMATS)} (got {named!r})"
            )
        return named
    first = _first_line(path).strip()
    if first.startswith(b"{"):
        return "mooncake"
    header = _header(first)
    if all(c in header for c in _BURSTGPT):
        return "burstgpt"
    if all(c in header for c in _AZURE):
        return "azure"
    raise ConfigError(
        f"--trace: {path} line 1 is neither a Mooncake JSON row nor a BurstGPT or Azure CSV "
        "header; name the format with --trace-format"
    )


def has_sessions(path: Path, fmt: str) -> bool:
    """Whether the trace names a session per row: a BurstGPT `SessionID` column, or a
    `session_id` in a Mooncake-style row (AIPerf's multi-turn traces); Azure's never."""
    if fmt == "azure":
        return False
    first = _first_line(path)
    if fmt == "mooncake":
        obj = loads(first, f"--trace: {path} line 1")
        return isinstance(obj, dict) and obj.get("session_id") is not None
    return any(c in _header(first) for c in _SESSION_COLUMNS)


def trace_spec(config: RunConfig) -> TraceSpec | None:
    """The trace `config` replays (its format detected now, if not named), or None."""
    if config.trace is None:
        return None
    start, end = config.trace_window
    return TraceSpec(
        path=config.trace,
        format=detect_trace_format(config.trace, config.trace_format),
        speed=config.trace_speed,
        start_s=start,
        end_s=end,
        limit=config.n,
        block_tokens=config.trace_block_tokens,
    )


def check_trace(spec: TraceSpec) -> int:
    """Read the replay's rows once, before the run, so a malformed row is one line and exit
    2 before any request is sent (streamed: memory stays bounded); the rows it will send."""
    return sum(1 for _ in rows(spec))


def _header(line: bytes) -> list[str]:
    """A CSV header line's column names, unquoted, in lower case ([] for no CSV line)."""
    try:
        cells = next(csv.reader([line.decode("utf-8", "replace")]), [])
    except csv.Error:
        return []
    return [c.strip().lower() for c in cells]


def _first_line(path: Path) -> bytes:
    """The file's first line (at most the line cap), without a UTF-8 byte order mark."""
    try:
        with path.open("rb") as fh:
            line = fh.readline(MAX_TRACE_LINE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"--trace: cannot read {path}: {exc.strerror or exc}") from None
    if len(line) > MAX_TRACE_LINE_BYTES:
        raise ConfigError(f"--trace: {path} line 1 is longer than 4 MiB")
    return line.lstrip(b"\xef\xbb\xbf")


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Raw:
    """A row as read: its absolute timestamp in seconds, before ordering and slicing."""

    t: float
    line: int
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...]
    session: int | None


def rows(spec: TraceSpec) -> Iterator[TraceRow]:
    """The replay's rows in time order: lazily, holding at most `REORDER_ROWS` rows."""
    where = f"--trace: {spec.path}"
    check_file(spec.path, "--trace", MAX_TRACE_FILE_BYTES)
    try:
        yield from _rows(spec, where)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it: {exc.strerror or exc}") from None


def _rows(spec: TraceSpec, where: str) -> Iterator[TraceRow]:
    sent = 0
    with spec.path.open("rb") as fh:
        t0: float | None = None
        for raw in _ordered(_read(spec, fh), where):
            if t0 is None:
                t0 = raw.t
            at = raw.t - t0
            if at < spec.start_s:
                continue
            if spec.end_s is not None and at >= spec.end_s:
                return
            if spec.limit is not None and sent >= spec.limit:
                return
            sent += 1
            yield TraceRow(
                raw.line,
                (at - spec.start_s) / spec.speed,
                raw.input_tokens,
                raw.output_tokens,
                raw.hash_ids,
                raw.session,
            )


def _ordered(raws: Iterator[_Raw], where: str) -> Iterator[_Raw]:
    """`raws` in timestamp order (ties: file order), through a window of `REORDER_ROWS`."""
    heap: list[tuple[float, int, _Raw]] = []
    last: _Raw | None = None
    ids = 0  # hash ids held: rows with very many of them shorten the window
    for raw in raws:
        if last is not None and raw.t < last.t:
            raise ConfigError(
                f"{where} line {raw.line}: timestamp earlier than line {last.line}'s, which "
                f"was already replayed (rows are put in order within {REORDER_ROWS} rows); "
                "sort the trace by time"
            )
        heapq.heappush(heap, (raw.t, raw.line, raw))
        ids += len(raw.hash_ids)
        while len(heap) > REORDER_ROWS or ids > REORDER_IDS:
            last = heapq.heappop(heap)[2]
            ids -= len(last.hash_ids)
            yield last
    while heap:
        yield heapq.heappop(heap)[2]


def _read(spec: TraceSpec, fh: IO[bytes]) -> Iterator[_Raw]:
    where = f"--trace: {spec.path}"
    numbered = lines(fh, where, MAX_TRACE_LINE_BYTES, MAX_TRACE_FILE_BYTES)
    if spec.format == "mooncake":
        for no, line in numbered:
            if line.strip():
                raw = _mooncake(line, f"{where} line {no}", no)
                if raw is not None:
                    yield raw
        return
    yield from _csv_rows(spec.format, numbered, where)


def _mooncake(line: bytes, where: str, no: int) -> _Raw | None:
    obj = loads(line, where)
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    t = _number(obj.get("timestamp"), where, "timestamp") / 1000.0
    n_in = _count(obj.get("input_length"), where, "input_length", MAX_INPUT_TOKENS)
    n_out = _count(obj.get("output_length"), where, "output_length", MAX_TOKENS_HIGH)
    ids = obj.get("hash_ids", [])
    if not isinstance(ids, list) or len(ids) > MAX_HASH_IDS:
        raise ConfigError(f"{where}: hash_ids must be a list of at most {MAX_HASH_IDS:,} ids")
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise ConfigError(f"{where}: hash_ids must hold whole numbers >= 0 (got {i!r})")
    if n_out == 0:
        return None
    session = obj.get("session_id")
    if session is not None and (isinstance(session, bool) or not isinstance(session, str | int)):
        raise ConfigError(f"{where}: session_id must be a string or a whole number")
    return _Raw(t, no, n_in, n_out, tuple(ids), None if session is None else _session(str(session)))


def _csv_rows(fmt: str, numbered: Iterator[tuple[int, bytes]], where: str) -> Iterator[_Raw]:
    header: dict[str, int] | None = None
    for no, line in numbered:
        try:
            text = line.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError:
            raise ConfigError(f"{where} line {no} is not UTF-8 text") from None
        if not text.strip():
            continue
        try:
            cells = next(csv.reader([text]))
        except csv.Error as exc:
            raise ConfigError(f"{where} line {no}: not a CSV row ({exc})") from None
        if header is None:
            header = {c.strip().lower(): k for k, c in enumerate(cells)}
            wanted = _BURSTGPT if fmt == "burstgpt" else _AZURE
            missing = [c for c in wanted if c not in header]
            if missing:
                raise ConfigError(
                    f"{where} line {no}: a {fmt} header needs the column(s) {', '.join(missing)}"
                )
            continue
        raw = _csv_row(fmt, header, cells, f"{where} line {no}", no)
        if raw is not None:
            yield raw


def _csv_row(
    fmt: str, header: dict[str, int], cells: list[str], where: str, no: int
) -> _Raw | None:
    def cell(name: str) -> str:
        k = header[name]
        if k >= len(cells):
            raise ConfigError(f"{where}: has {len(cells)} columns, the header more")
        return cells[k].strip()

    if fmt == "burstgpt":
        t = _number(_float(cell("timestamp"), where, "Timestamp"), where, "Timestamp")
        n_in = _count(
            _int(cell("request tokens"), where), where, "Request tokens", MAX_INPUT_TOKENS
        )
        n_out = _count(
            _int(cell("response tokens"), where), where, "Response tokens", MAX_TOKENS_HIGH
        )
        session = next((_session(cell(c)) for c in _SESSION_COLUMNS if c in header), None)
    else:
        t = _datetime(cell("timestamp"), where)
        n_in = _count(_int(cell("contexttokens"), where), where, "ContextTokens", MAX_INPUT_TOKENS)
        n_out = _count(
            _int(cell("generatedtokens"), where), where, "GeneratedTokens", MAX_TOKENS_HIGH
        )
        session = None
    if n_out == 0:  # BurstGPT: a failed request (no response); nothing to replay
        return None
    return _Raw(t, no, n_in, n_out, (), session)


def _session(text: str) -> int | None:
    """A session's stable number: 61 bits of its name's BLAKE2b (its text is never sent:
    only this number, in the session header)."""
    if not text:
        return None
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest()) >> 3


def _int(text: str, where: str) -> object:
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{where}: {text[:40]!r} is not a number") from None
        return int(value) if value.is_integer() else value


def _float(text: str, where: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{where}: {name} {text[:40]!r} is not a number") from None


def _datetime(text: str, where: str) -> float:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{where}: TIMESTAMP {text[:40]!r} is not a date-time like 2023-11-16 18:15:46.68"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _number(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {name} must be a finite number (got {value!r})")
    if value < 0:
        raise ConfigError(f"{where}: {name} must be 0 or more (got {value!r})")
    return float(value)


def _count(value: Any, where: str, name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ConfigError(
            f"{where}: {name} must be a whole number from 0 to {high:,} (got {value!r})"
        )
    return value


# --- prompts ----------------------------------------------------------------------------


class TracePrompts:
    """The prompt text of each row: about `input_tokens` one-token words (see WORDS).

    A Mooncake row's prompt is its hash ids' blocks in order, each `block_tokens` words drawn
    from a generator seeded by (seed, id), so the same id is the same text in every request
    and a prefix cache sees the trace's reuse; the last block is cut to the row's length,
    and words past the blocks are the row's own. Rows without hash ids get text of their
    own, drawn from a generator seeded by (seed, line)."""

    def __init__(self, block_tokens: int, seed: int) -> None:
        self.block_tokens = block_tokens
        self.seed = seed
        self._blocks: OrderedDict[int, tuple[str, ...]] = OrderedDict()
        self._cache_blocks = max(1, _BLOCK_CACHE_WORDS // block_tokens)  # least recently used go

    def text(self, row: TraceRow) -> str:
        n = max(1, row.input_tokens)  # an empty prompt is refused by every API
        words: list[str] = []
        size = self.block_tokens
        for k, block_id in enumerate(row.hash_ids):
            room = n - k * size
            if room <= 0:
                break
            block = self.block(block_id)
            words.extend(block if room >= size else block[:room])
        if len(words) < n:
            words.extend(self._own(row.line, n - len(words)))
        return " ".join(words)

    def block(self, block_id: int) -> tuple[str, ...]:
        """The words of one prefix block (built once, kept in a bounded cache)."""
        blocks = self._blocks
        words = blocks.get(block_id)
        if words is not None:
            blocks.move_to_end(block_id)
            return words
        rng = random.Random(f"trace-block:{self.seed}:{block_id}")
        words = tuple(rng.choices(WORDS, k=self.block_tokens))
        blocks[block_id] = words
        if len(blocks) > self._cache_blocks:
            blocks.popitem(last=False)
        return words

    def _own(self, line: int, n: int) -> list[str]:
        """Words of the row's own, drawn from a generator seeded by (seed, line)."""
        return random.Random(f"trace-row:{self.seed}:{line}").choices(WORDS, k=n)
