"""The HTTP/1.1 server side: one `asyncio.Protocol` per connection and the response heads.

A small parser (keep-alive, pipelining, partial reads, `Expect: 100-continue`) hands whole
requests, in order, to a `Handler` (the app). Request bodies need a Content-Length.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Final, Protocol

from ..wire.rxstamp import install as install_kernel_stamps

__all__ = ["JSON", "SSE", "Connection", "Handler", "Request", "response_head"]

_REASONS: Final = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    499: "Client Closed Request",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}
MAX_HEAD: Final = 64 * 1024
MAX_BODY: Final = 16 * 1024 * 1024
MAX_PIPELINED: Final = 64  # stop reading a connection that queues more requests than this

JSON: Final = b"content-type: application/json\r\n"
SSE: Final = b"content-type: text/event-stream\r\ncache-control: no-cache\r\n"


def response_head(
    status: int,
    content_type: bytes,
    *,
    keep_alive: bool,
    length: int | None = None,
    chunked: bool = False,
    extra: bytes = b"",
) -> bytes:
    """A response head. Without `length` or `chunked` the body ends when the connection does.

    `content_type` and `extra` are whole header lines (CRLF-terminated), e.g. `JSON`, `SSE`.
    """
    reason = _REASONS.get(status, "Unknown").encode()
    if length is not None:
        framing = b"content-length: %d\r\n" % length
    elif chunked:
        framing = b"transfer-encoding: chunked\r\n"
    else:
        framing, keep_alive = b"", False
    connection = b"" if keep_alive else b"connection: close\r\n"
    return b"HTTP/1.1 %d %s\r\n%b%bserver: llmbench-async-mock\r\n%b%b\r\n" % (
        status,
        reason,
        content_type,
        framing,
        extra,
        connection,
    )


@dataclass(frozen=True, slots=True)
class Request:
    """One fully received HTTP request (or a parse failure to answer)."""

    method: str
    path: str
    body: bytes
    keep_alive: bool
    http11: bool
    received: float  # loop.time() when the last byte arrived
    error: tuple[int, str] | None = None
    key: bytes | None = None  # the API key: `Authorization: Bearer K`, `api-key` or `x-api-key`
    version: bytes | None = None  # the `anthropic-version` header
    # the kernel's receive timestamp of the read that completed the request (monotonic
    # seconds, as `received`), where the socket gives one: before `received` by as long as
    # the request waited in the socket for this loop
    arrived: float | None = None
    headers: dict[bytes, bytes] | None = None  # every header, lower-case names (truth log)


def _tokens(value: bytes) -> set[bytes]:
    return {t.strip() for t in value.lower().split(b",")}


def _headers(lines: list[bytes]) -> dict[bytes, bytes] | tuple[int, str]:
    """Header lines -> {lower-case name: value}, or the (status, message) refusing them."""
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            return 400, "Malformed header line."
        name = name.lower()
        value = value.strip()
        if name == b"content-length":
            if not value.isdigit() or headers.get(name, value) != value:
                return 400, "Invalid Content-Length."
            if int(value) > MAX_BODY:
                return 413, "Request body too large."
        elif name == b"transfer-encoding":
            return 411, "Chunked request bodies are not supported; send Content-Length."
        headers[name] = value
    return headers


class Handler(Protocol):
    """What a connection needs from the application it serves."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def connections(self) -> set[Connection]: ...

    async def handle(self, conn: Connection, req: Request) -> None: ...


class Connection(asyncio.Protocol):
    """One client connection: parses requests as bytes arrive and answers them in order."""

    def __init__(self, app: Handler) -> None:
        self._app = app
        self._loop = app.loop
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._scan = 0  # where to resume searching for the end of the head
        self._head: Request | None = None  # the parsed head awaiting its body
        self._need = 0  # body bytes still expected for `_head`
        self._continue = False  # answer "Expect: 100-continue" once the head is parsed
        self._broken = False  # a parse error was queued; ignore further input
        self._pending: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.paused = False
        self._drain: asyncio.Future[None] | None = None
        self._arrived: float | None = None  # the kernel's stamp of the read being parsed

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._app.connections.add(self)
        install_kernel_stamps(transport, self._stamped)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._app.connections.discard(self)
        if self._task is not None:
            self._task.cancel()
        self._pending.clear()
        self._wake()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()

    def _stamped(self, data: bytes, arrived_ns: int) -> None:
        self._arrived = arrived_ns / 1e9
        self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        self._buf += data
        self._parse()
        if self._pending and self._task is None:
            self._task = self._loop.create_task(self._run())
        if len(self._pending) > MAX_PIPELINED and self._transport is not None:
            self._transport.pause_reading()

    # -- output helpers used by the handler

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def close(self) -> None:
        """Close after the bytes already written (FIN), dropping any pipelined requests."""
        self._closed = True
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        while self.paused and not self._closed:
            self._drain = self._loop.create_future()
            await self._drain

    def abort(self) -> asyncio.Task[None] | None:
        """Drop the connection now; returns the cancelled handler task, if any, to await."""
        task = self._task
        if task is not None:
            task.cancel()
        if self._transport is not None:
            self._transport.abort()
        return task

    def _wake(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- parsing

    def _parse(self) -> None:
        buf = self._buf
        while not self._broken:
            if self._head is None:
                while buf[:2] == b"\r\n":  # tolerated empty lines between requests
                    del buf[:2]
                end = buf.find(b"\r\n\r\n", self._scan)
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        self._fail(431, "Request header too large.")
                    else:
                        self._scan = max(0, len(buf) - 3)
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._scan = 0
                if not self._parse_head(head):
                    return
            if len(buf) < self._need:
                if self._continue:
                    self._continue = False
                    self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            parsed = self._head
            assert parsed is not None
            body = bytes(buf[: self._need])
            del buf[: self._need]
            self._pending.append(
                Request(
                    parsed.method,
                    parsed.path,
                    body,
                    parsed.keep_alive,
                    parsed.http11,
                    self._loop.time(),
                    None,
                    parsed.key,
                    parsed.version,
                    self._arrived,
                    parsed.headers,
                )
            )
            self._head, self._need, self._continue = None, 0, False

    def _parse_head(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            self._fail(400, "Malformed request line.")
            return False
        headers = _headers(lines[1:])
        if isinstance(headers, tuple):
            self._fail(*headers)
            return False
        http11 = parts[2] == b"HTTP/1.1"
        keep_alive = http11 and b"close" not in _tokens(headers.get(b"connection", b""))
        length = int(headers.get(b"content-length", b"0"))
        path = parts[1].split(b"?", 1)[0].decode("latin-1")
        method = parts[0].decode("latin-1")
        key = headers.get(b"api-key") or headers.get(b"x-api-key")
        auth = headers.get(b"authorization")
        if auth is not None and auth[:7].lower() == b"bearer ":
            key = auth[7:].strip()
        version = headers.get(b"anthropic-version")
        self._head = Request(
            method, path, b"", keep_alive, http11, 0.0, None, key, version, None, headers
        )
        self._need = length
        expect = headers.get(b"expect", b"").lower() == b"100-continue"
        self._continue = expect and http11 and self._need > 0
        return True

    def _fail(self, status: int, message: str) -> None:
        """Queue an error answer for unparseable input and close after it."""
        self._broken = True
        self._buf.clear()
        error = (status, message)
        self._pending.append(Request("", "", b"", False, True, self._loop.time(), error))

    # -- serving

    async def _run(self) -> None:
        try:
            while self._pending and not self._closed:
                request = self._pending.popleft()
                if self._transport is not None and len(self._pending) == MAX_PIPELINED:
                    self._transport.resume_reading()
                await self._app.handle(self, request)
                if not request.keep_alive:
                    if self._transport is not None:
                        self._transport.close()
                    return
        finally:
            self._task = None
