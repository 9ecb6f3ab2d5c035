"""Incremental Server-Sent Events decoding: bytes in, each event's data payload out.

Follows the WHATWG event-stream rules, keeping only the ``data`` field. The common case
(``data: {...}\\n\\n`` with ``\\n`` line endings) costs one ``split`` and a short loop per chunk;
``\\r`` line endings are normalised only when a chunk contains one.
"""

from __future__ import annotations

from ..errors import BadStreamError

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder"]

DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    """Incremental Server-Sent Events decoder (WHATWG rules) that yields each event's data.

    Output is independent of how the input is split into chunks. A line or an event's data
    longer than ``max_event_bytes`` raises BadStreamError, so memory stays bounded.
    """

    __slots__ = (
        "_bom",
        "_data",
        "_data_len",
        "_error_event",
        "_max",
        "_skip_lf",
        "_tail",
        "_tail_len",
        "errors",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be > 0, got {max_event_bytes}")
        self._max = max_event_bytes
        self.errors: list[bytes] = []  # data of `event: error` events (kept out of feed's)
        self._reset()

    def _reset(self) -> None:
        self._tail: list[bytes] = []  # pieces of the incomplete last line (never a CR or LF)
        self._tail_len = 0
        self._data: list[bytes] = []  # data field values of the pending event
        self._data_len = 0  # sum of len(value) + 1 over self._data
        self._skip_lf = False  # the input so far ended in CR: a LF next is part of that CRLF
        self._bom = True  # no byte seen yet: a leading UTF-8 BOM is still to be skipped
        self._error_event = False  # the pending event is named `error`

    def feed(self, chunk: bytes) -> list[bytes]:
        """Consume the next bytes of the stream; return the data of the events they complete."""
        lines = self._complete_lines(chunk)
        if not lines:
            return []
        events: list[bytes] = []
        data = self._data
        size = self._data_len
        limit = self._max + 1  # size counts one separator too many
        for line in lines:
            if not line:
                if data:
                    if self._error_event:
                        self.errors.append(b"\n".join(data))
                    else:
                        events.append(b"\n".join(data))  # a single item is returned as is
                    data.clear()
                    size = 0
                self._error_event = False
                continue
            if line.startswith(b"data: "):
                value = line[6:]
            elif line.startswith(b"data:"):
                value = line[5:]
            elif line == b"data":  # a field without colon has an empty value
                value = b""
            elif line.startswith(b"event:"):
                self._error_event = line[6:].strip() == b"error"
                continue
            else:  # comment (":..."), id, retry or an unknown field
                continue
            data.append(value)
            size += len(value) + 1
            if size > limit:
                self._too_large()
        self._data_len = size
        return events

    def _complete_lines(self, chunk: bytes) -> list[bytes]:
        """The lines `chunk` completes, after any kept partial line, CRLF or CR endings made
        LF and the BOM dropped; the last, unfinished line is kept for the next piece."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []
        tail = self._tail
        if tail:
            if chunk.find(b"\n") < 0 and chunk.find(b"\r") < 0 and not self._bom:
                # Still inside one long line: keep the pieces, join them once it ends.
                tail.append(chunk)
                self._tail_len += len(chunk)
                if self._tail_len > self._max:
                    self._too_large()
                return []
            tail.append(chunk)
            chunk = b"".join(tail)
            tail.clear()
        if self._bom:
            if len(chunk) < 3 and _BOM.startswith(chunk):
                tail.append(chunk)
                self._tail_len = len(chunk)
                return []
            self._bom = False
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
        # `x in bytes` first tries x as an int (raising internally): find() is 2x faster.
        if chunk.find(b"\r") >= 0:
            self._skip_lf = chunk[-1] == 0x0D
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        last = lines.pop()
        if len(chunk) > self._max and max(map(len, lines), default=0) > self._max:
            self._too_large()
        if last:
            tail.append(last)
            self._tail_len = len(last)
            if self._tail_len > self._max:
                self._too_large()
        return lines

    def close(self) -> list[bytes]:
        """End of stream: return the pending event if it has data (lenient), then reset."""
        self._skip_lf = False
        try:
            return self.feed(b"\n\n")  # ends the pending line, then dispatches the event
        finally:
            self._reset()

    def _too_large(self) -> None:
        self._reset()
        raise BadStreamError(f"SSE event larger than {self._max} bytes")
