"""The truth log: one JSON line per finished completion request, of what the server did.

Instants are wall-clock seconds anchored once at start (so they never jump), plus the same
instants on CLOCK_MONOTONIC, which on Linux is the clock of the client's perf_counter_ns.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import IO, Any

__all__ = ["Marks", "TruthLog"]


class Marks:
    """How far one response got (loop times), for the truth log; the writers fill it in."""

    __slots__ = ("content", "content_from", "first", "headers", "k", "last", "running", "slot")

    def __init__(self, content_from: int = 0) -> None:
        self.k = 0  # tokens written
        self.content_from = content_from  # index of the first content token
        self.headers: float | None = None
        self.first: float | None = None  # first token (reasoning or content)
        self.content: float | None = None  # first content token
        self.last: float | None = None
        self.slot: float | None = None  # when a `capacity` slot was taken
        self.running = False  # generating: admitted, not (or no longer) waiting for a slot


class TruthLog:
    """Appends one JSON line per finished completion request.

    Lines written in one turn of the event loop are flushed together at the start of the
    next, not one write(2) each: a wave of 512 streams ending at once would otherwise keep
    the loop busy for milliseconds while the next requests wait to be read, and their
    `received` instants would come late."""

    def __init__(self, path: str | None, mono0: float, loop: asyncio.AbstractEventLoop) -> None:
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._wall0 = time.time()
        self._mono0 = mono0
        self._loop = loop
        self._flush_due = False

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def wall(self, mono: float | None) -> float | None:
        """Wall-clock seconds for a loop.time() instant, anchored once so it never jumps."""
        return None if mono is None else self._wall0 + (mono - self._mono0)

    def write(
        self,
        *,
        rid: str,
        path: str,
        status: int,
        received: float,
        arrived: float | None = None,
        headers_sent: float | None,
        first_token: float | None,
        last_token: float | None,
        tokens: int,
        prompt_tokens: int,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if self._file is None:
            return
        record = {
            "id": rid,
            "received": self.wall(received),
            "headers_sent": self.wall(headers_sent),
            "first_token": self.wall(first_token),
            "last_token": self.wall(last_token),
            "tokens": tokens,
            "prompt_tokens": prompt_tokens,
            "status": status,
            "path": path,
            # the same instants on CLOCK_MONOTONIC (time.monotonic), which on Linux is the
            # clock of the client's time.perf_counter_ns: comparable across processes
            # `arrived`: the kernel's receive timestamp of the request, where there is one
            # (`received` is when this loop read it; the schedule starts there)
            "monotonic": {
                "received": received,
                "arrived": arrived,
                "headers_sent": headers_sent,
                "first_token": first_token,
                "last_token": last_token,
            },
        }
        if extra:
            record.update(extra)
        self._file.write(json.dumps(record) + "\n")
        if not self._flush_due:
            self._flush_due = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
