"""The results file's writer: one header line, one JSON line per finished request as it
finishes, a footer; secrets scrubbed from every line (records.py holds each line's form
and the reader)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from ..records import RESULTS_SCHEMA, RequestRecord, record_to_json
from ..redact import needs_scrub, scrub, secret_pieces


class ResultsWriter:
    """Writes the JSONL results file: one header line, then one line per finished request.

    Each line is flushed as it is written, so a crash keeps everything already done. A write
    that fails (a full disk, a vanished directory) does not stop the run: the writer stops
    writing and `failure` holds one line saying why, for the run to report at its end.
    """

    def __init__(
        self, path: Path, header: Mapping[str, Any], t0_ns: int, secrets: tuple[str, ...] = ()
    ) -> None:
        self._t0_ns = t0_ns
        self._secrets = secrets  # scrubbed from every line (defence in depth)
        # whether scrubbing a record's texts is what scrubbing its whole line would do
        # (`texts_are_enough`), and, per set of field names, whether none holds a piece
        self._texts_only = bool(secrets) and texts_are_enough(secrets)
        self._names_clear: dict[tuple[str, ...], bool] = {}
        self._path = path
        self.failure: str | None = None
        self._file: IO[str] | None = None
        try:
            self._file = path.open("w", encoding="utf-8")
        except OSError as exc:
            self._fail(exc)
        head = {"type": "header", "schema": RESULTS_SCHEMA, **header}
        self._write(head)

    def _fail(self, exc: OSError) -> None:
        if self.failure is None:
            self.failure = f"cannot write {self._path}: {exc.strerror or exc}"

    def write(self, record: RequestRecord) -> None:
        line = record_to_json(record, self._t0_ns)
        if self._texts_only and "extra" not in line and "retry_causes" not in line:
            names = tuple(line)
            names_clear = self._names_clear.get(names)
            if names_clear is None:
                names_clear = self._names_clear[names] = not needs_scrub(
                    " ".join(names), self._secrets
                )
            if names_clear:
                self._write(self._scrub_texts(line), scrubbed=True)
                return
        self._write(line)

    def _scrub_texts(self, line: dict[str, Any]) -> dict[str, Any]:
        """`line` with its texts scrubbed: most of a record's line is numbers (the token
        gaps), which a whole-line scrub searches for every piece of every secret. One look
        at the texts joined by a byte no piece holds tells whether any needs it."""
        texts = [value for value in line.values() if type(value) is str]
        if needs_scrub("\x00".join(texts), self._secrets):
            for name, value in line.items():
                if type(value) is str:
                    line[name] = scrub(value, self._secrets)
        return line

    def write_footer(self, footer: Mapping[str, Any]) -> None:
        self._write({"type": "footer", **footer})

    def _write(self, obj: Mapping[str, Any], *, scrubbed: bool = False) -> None:
        if self._file is None or self.failure is not None:
            return
        line = dumps_line(obj)
        try:
            self._file.write((line if scrubbed else scrub(line, self._secrets)) + "\n")
            self._file.flush()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            try:
                self._file.close()
            except OSError as exc:  # the last buffered bytes did not fit
                self._fail(exc)


_STRUCTURE = frozenset('"{}[]:,\\')  # what joins a JSON line's names, numbers and texts
_DIGITS = frozenset("0123456789-")  # what a record's numbers are made of


def texts_are_enough(secrets: tuple[str, ...]) -> bool:
    """Whether scrubbing a record line's texts (and checking its field names) masks all a
    whole-line scrub would. True when no piece of a secret (nor a secret of 4 to 7
    characters) holds a JSON structure character, which would let it span a name, a
    number and a text, or is made only of digits and `-`, which would let it lie in a
    number: a key of letters, digits, `-` and `_` (and its other forms) qualifies unless it
    has 8 digits in a row."""
    pieces, short = secret_pieces(secrets)
    for piece in (*pieces, *short):
        chars = set(piece)
        if chars & _STRUCTURE or chars <= _DIGITS:
            return False
    return True


def dumps_line(obj: Mapping[str, Any]) -> str:
    """One compact JSON line: orjson (a few µs a record, against about 12 for the stdlib),
    or the stdlib for what orjson refuses (integers past 64 bits, non-text keys in `extra`,
    lone surrogates). A non-finite float is written as null by orjson: the file stays strict
    JSON, as its readers require."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(obj, separators=(",", ":"))
