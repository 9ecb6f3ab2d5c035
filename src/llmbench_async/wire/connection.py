"""One connection of the lean transport and the response on it.

`Connection` is an asyncio protocol: bytes go from the event loop's read callback, stamped
there, into the attached `Response`'s llhttp parser (`httptools`), which frames the head and
the body (Content-Length, chunked, interim 1xx) and hands each read's body piece, with its
arrival instant, either to a synchronous sink (`body_pump`) or to the task iterating it.
`Exchange` carries what the transport saw of one request back to the client."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import httptools
import httpx

from ..redact import safe_excerpt
from .rxstamp import install as install_kernel_stamps

MAX_HEAD_BYTES = 256 * 1024
Origin = tuple[str, str, int]

EXCHANGE_KEY = "llmbench.exchange"  # request extension: an `Exchange` the transport fills in


class Activity(Protocol):
    """Anything with a `last_ns` instant to refresh whenever bytes arrive (a read watchdog)."""

    last_ns: int


Phases = tuple[int, int, int | None]
"""A connection's set-up: name resolution, TCP connect, TLS handshake (None: plain TCP), ns."""


class Exchange:
    """What the transport saw of one request: when the connection was ready, when the request
    went out, and whether the connection was new. Instants are `perf_counter_ns`."""

    __slots__ = (
        "activity",
        "arrived_ns",
        "end_ns",
        "head_ns",
        "last_piece_ns",
        "new_connection",
        "phases",
        "preconnected",
        "ready_ns",
        "send_ns",
        "start_ns",
    )

    def __init__(self, activity: Activity | None = None) -> None:
        self.activity = activity
        self.start_ns = time.perf_counter_ns()  # asking the pool for a connection
        self.ready_ns: int | None = None  # a pooled connection taken, or a new one set up
        self.send_ns: int | None = None  # the request bytes written to that connection
        self.new_connection: bool | None = None
        # the set-up phases of the connection, when this request is the first to use it;
        # `preconnected`: it was opened before the request (--preconnect), not by it
        self.phases: Phases | None = None
        self.preconnected = False
        # when the bytes that completed the response head reached this process, and when the
        # oldest bytes of the body piece last handed over did (the socket read's callback,
        # before any parsing: see `Connection`); None through other transports
        self.head_ns: int | None = None
        self.arrived_ns: int | None = None
        # when the response's final bytes reached this process: the read callback that
        # completed it, or the EOF that ended a read-until-close body; None until then
        self.end_ns: int | None = None
        self.last_piece_ns: int | None = None  # the client's note of the last piece's instant

    @property
    def connect_ns(self) -> int | None:
        """Time to get a ready connection: 0 for a reused one, TCP+TLS set-up for a new one."""
        if self.ready_ns is None:
            return None
        return self.ready_ns - self.start_ns if self.new_connection else 0


BodySink = Callable[[bytes, int], None]
"""A consumer of body pieces called from the read callback: (piece, arrival instant in ns)."""


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection, as its own asyncio protocol: bytes go straight from the
    event loop's read callback (`data_received`, stamped there with `perf_counter_ns`) into
    the attached response's llhttp parser, with no StreamReader buffer or task hop between.

    A single-threaded client that is handed many streams' bytes at once parses them one after
    another; stamping a token after parsing would add that queue (milliseconds at C=512) to
    the token's instant. Bytes that arrive with no response attached (a pooled connection)
    are kept, and make the connection unusable: the server is out of step with us."""

    __slots__ = (
        "_closed_exc",
        "_drain_waiters",
        "_early",
        "_early_bytes",
        "_eof",
        "_lost",
        "_over_ssl",
        "_write_paused",
        "made_ns",
        "phases",
        "response",
        "transport",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self._early: list[tuple[bytes, int]] = []  # bytes nobody asked for yet, with arrival
        self._early_bytes = 0
        self._eof = False  # the server ended its side (EOF, or the connection closed cleanly)
        self._lost = False
        self._closed_exc: BaseException | None = None  # why the connection was lost, if not clean
        self._over_ssl = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self.made_ns: int | None = None  # TCP (and TLS) set up: `connection_made`'s instant
        # (DNS, TCP, TLS) set-up durations in ns (TLS None on plain TCP), until the first
        # request on the connection takes them (`Exchange.phases`)
        self.phases: Phases | None = None

    # asyncio callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made_ns = time.perf_counter_ns()  # over TLS: after the handshake
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._over_ssl = transport.get_extra_info("sslcontext") is not None
        if not self._over_ssl:  # reads then go to `received` with the kernel's arrival
            install_kernel_stamps(transport, self.received)

    def data_received(self, data: bytes) -> None:
        self.received(data, time.perf_counter_ns())

    def received(self, data: bytes, now: int) -> None:
        """One socket read's bytes, which reached the process at `now` (the kernel's receive
        timestamp where `rxstamp` could install it, else the read callback's instant)."""
        response = self.response
        if response is not None and not response.complete:
            response._received(data, now)
            return
        self._early.append((data, now))  # read by a response attached later, if ever
        self._early_bytes += len(data)
        if self._early_bytes > 2 * MAX_HEAD_BYTES and self.transport is not None:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        if self.response is not None:
            self.response._connection_ended(time.perf_counter_ns())
        return not self._over_ssl  # keep a plain socket half-open, as asyncio's streams do

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if exc is None:
            self._eof = True
        else:
            self._closed_exc = exc
        if self.response is not None:
            self.response._connection_ended(time.perf_counter_ns())
        for waiter in self._drain_waiters:
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)

    # the task's side ------------------------------------------------------------------------

    def attach(self, response: Response) -> None:
        """Make `response` the reader of this connection's bytes, starting with any that came
        before it (a new connection whose server spoke first)."""
        self.response = response
        early = self._early
        if early:
            self._early = []
            self._early_bytes = 0
            for data, arrived in early:
                if not response.complete:
                    response._received(data, arrived)
            if self.transport is not None:
                self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the written bytes went to the kernel, as `StreamWriter.drain` does."""
        if self._closed_exc is not None:
            raise self._closed_exc
        assert self.transport is not None
        if self.transport.is_closing():
            await asyncio.sleep(0)  # let connection_lost run
        if self._lost:
            raise ConnectionResetError("Connection lost")
        if not self._write_paused:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        try:
            await waiter
        finally:
            self._drain_waiters.remove(waiter)

    def is_usable(self) -> bool:
        transport = self.transport
        return (
            transport is not None
            and not transport.is_closing()
            and not self._eof
            and not self._lost
            and not self._early  # bytes nobody asked for: a desync
        )

    def close(self) -> None:
        self.response = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class StaleConnection(Exception):
    """A reused keep-alive connection was closed by the server before any response byte."""


class Response(httpx.AsyncByteStream):
    """One response on one connection: llhttp's callbacks, the head, and the body, fed from
    the connection's read callback. The body is read either as an async iterator (httpx's
    byte stream: decoders, error bodies, whole bodies) or by `pump`, which hands each piece
    to a synchronous sink inside the read callback, so a streamed token costs no task switch.
    """

    __slots__ = (
        "_activity",
        "_chunked",
        "_conn",
        "_ended_flag",
        "_ended_ns",
        "_error",
        "_has_length",
        "_head_bytes",
        "_head_done",
        "_info",
        "_keep_alive",
        "_origin",
        "_parser",
        "_parts",
        "_paused",
        "_problem",
        "_release",
        "_sink",
        "_transfer_encoding",
        "_waiter",
        "_waiting",
        "_waiting_bytes",
        "complete",
        "headers",
        "reason",
        "status",
    )

    def __init__(
        self,
        release: Callable[[Origin, Connection], None],
        conn: Connection,
        origin: Origin,
        info: Exchange,
    ) -> None:
        self._release = release  # the pool's: a connection whose response ended cleanly
        self._conn: Connection | None = conn
        self._origin = origin
        self._info = info
        self._activity = info.activity
        self._parser = httptools.HttpResponseParser(self)
        self._parts: list[bytes] = []  # llhttp's body pieces of the read being parsed
        # each read's body, with its arrival, waiting for the reading task
        self._waiting: deque[tuple[bytes, int]] = deque()
        self._waiting_bytes = 0
        self._paused = False  # reading paused while too many body bytes wait
        self._head_bytes = 0
        self._head_done = False
        self._has_length = False
        self._chunked = False
        self._transfer_encoding: bytes | None = None
        self._keep_alive = False
        self._problem: str | None = None  # a framing problem noticed inside a callback
        self._error: Exception | None = None  # a framing or sink failure, for the task
        self._ended_flag = False  # the connection ended (EOF, reset or closed)
        self._ended_ns = 0  # when it did (the callback's instant)
        self._sink: BodySink | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.complete = False
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []

    # llhttp callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # bytes after the response: the connection is out of step
            self._keep_alive = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._head_done:
            return  # trailers
        self.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length":
            self._has_length = True
        elif lower == b"transfer-encoding":
            self._transfer_encoding = value

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # interim response (102 Processing, 103 Early Hints)
            self.headers = []
            self.reason = b""
            self._has_length = False
            self._transfer_encoding = None
            return
        self.status = status
        self._head_done = True
        coding = self._transfer_encoding
        if coding is not None:
            final = coding.rsplit(b",", 1)[-1].strip().lower()
            if final != b"chunked":
                self._problem = f"unsupported Transfer-Encoding {_show(coding)}"
            self._chunked = True

    def on_body(self, body: bytes) -> None:
        self._parts.append(body)

    def on_message_complete(self) -> None:
        if not self._head_done or self.complete:
            return  # the end of an interim response, or of bytes after ours
        self.complete = True
        self._keep_alive = self._parser.should_keep_alive()

    # the connection's side (read callback) ------------------------------------------------

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            raise httpx.RemoteProtocolError(
                "invalid response framing: the server switched protocols"
            ) from exc
        except httptools.HttpParserError as exc:
            if not self.complete:
                raise httpx.RemoteProtocolError(
                    f"invalid response framing: {_parser_message(exc)}"
                ) from exc
            self._keep_alive = False  # garbage after a complete response
        if self._problem is not None:
            raise httpx.RemoteProtocolError(f"invalid response framing: {self._problem}")

    def _received(self, data: bytes, now: int) -> None:
        """Bytes that reached the process at `now`: parse them; hand body pieces to the sink,
        or keep them for the reading task; wake that task when it has something to do."""
        if self._error is not None:
            return  # failed already: the task closes the connection
        parts = self._parts
        head_was_done = self._head_done
        if not head_was_done:
            self._info.head_ns = self._info.arrived_ns = now
            if self._activity is not None:
                self._activity.last_ns = now
            self._head_bytes += len(data)
        try:
            self._feed(data)
            if not self._head_done and self._head_bytes > MAX_HEAD_BYTES:
                raise httpx.RemoteProtocolError("response head too large")
        except Exception as exc:
            parts.clear()  # the pieces of a read that failed are not handed over
            self._fail(exc)
            return
        if self.complete:  # these bytes ended the response: the end of E2E, at arrival
            self._info.end_ns = now
        sink = self._sink
        body = bool(parts)
        if body:
            if sink is not None:
                self._info.arrived_ns = now
                try:
                    sink(_join(parts), now)
                except Exception as exc:
                    self._fail(exc)
                    return
            else:
                self._keep(_join(parts), now)
        if self.complete or (self._head_done and (not head_was_done or body)):
            self._wake()

    def _keep(self, piece: bytes, now: int) -> None:
        """A read's body waits for the task, with its arrival; reading pauses while too many
        bytes wait."""
        self._waiting.append((piece, now))
        self._waiting_bytes += len(piece)
        conn = self._conn
        if self._waiting_bytes > 2 * MAX_HEAD_BYTES and not self._paused and conn is not None:
            self._paused = True
            if conn.transport is not None:
                conn.transport.pause_reading()

    def _fail(self, exc: Exception) -> None:
        self._error = exc
        self._wake()

    def _connection_ended(self, now: int) -> None:
        if not self._ended_flag:
            self._ended_flag = True
            self._ended_ns = now
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _take(self) -> tuple[bytes, int]:
        """The oldest waiting read's body and its arrival (also left in `arrived_ns`);
        reading resumes, if it was paused, once nothing waits."""
        piece, arrived = self._waiting.popleft()
        self._info.arrived_ns = arrived
        self._waiting_bytes -= len(piece)
        if self._paused and not self._waiting:
            self._paused = False
            conn = self._conn
            if conn is not None and conn.transport is not None:
                conn.transport.resume_reading()
        return piece, arrived

    # the task's side ------------------------------------------------------------------------

    async def read_head(self) -> None:
        """Wait until the final (non-1xx) response head is parsed; body bytes that came
        with it wait in `_waiting`."""
        while not self._head_done:
            if self._error is not None:
                raise self._error
            lost = None if self._conn is None else self._conn._closed_exc
            if lost is not None:
                if isinstance(lost, ConnectionResetError) and not self._head_bytes:
                    raise StaleConnection() from lost
                raise lost
            if self._ended_flag:
                if not self._head_bytes:
                    raise StaleConnection()
                raise httpx.RemoteProtocolError("connection closed inside the response head")
            await self._wait()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._conn is None:
            return
        waiting = self._waiting
        try:
            while True:
                if waiting:  # one read's body at a time; `_take` sets `arrived_ns` to its arrival
                    yield self._take()[0]
                elif self.complete or self._ended():
                    break
                else:
                    await self._wait()
        finally:
            self._finish()

    async def pump(self, sink: BodySink) -> None:
        """Read the body by calling `sink(piece, arrival_ns)` from the read callback for each
        piece, until the response ends; the sink's exceptions, framing errors and a lost
        connection are raised here, as the iterator raises them. The connection is released
        (or closed) at the end; cancelling the wait closes it."""
        if self._conn is None:
            return
        try:
            while self._waiting:  # reads that came before the sink
                sink(*self._take())
            while True:
                if self._error is not None:  # also when the failing piece completed the body
                    raise self._error
                if self.complete or self._ended():
                    break
                self._sink = sink
                await self._wait()
        finally:
            self._sink = None
            self._finish()

    def _ended(self) -> bool:
        """Raise a failure the read callback noted (framing, the sink's, a lost connection);
        True when the connection ended (a read-until-close body is then complete)."""
        if self._error is not None:
            raise self._error
        conn = self._conn
        lost = None if conn is None else conn._closed_exc
        if lost is not None:
            if isinstance(lost, OSError):
                raise httpx.ReadError(f"connection lost mid-response: {lost}") from lost
            raise lost
        if self._ended_flag:
            self._at_eof()
            return True
        return False

    def _at_eof(self) -> None:
        """The server closed the connection: the end of a read-until-close body, or a cut."""
        if self._has_length or self._chunked:
            what = "chunked body" if self._chunked else "body shorter than its Content-Length"
            raise httpx.ReadError(f"server closed the connection mid-response ({what})")
        self.complete = True
        self._keep_alive = False
        self._info.end_ns = self._ended_ns  # the EOF's arrival ended the body

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.response is self:
            conn.response = None
        if self.complete and self._keep_alive:
            self._release(self._origin, conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        self._finish()


def body_pump(stream: object) -> Callable[[BodySink], Awaitable[None]] | None:
    """The sink-driven reader of `stream` when it is a lean transport's own (undecoded) body:
    `await pump(sink)` calls `sink(piece, arrival_ns)` from the read callback for each body
    piece and returns when the response ended. None for any other stream (httpx's transports,
    decoded bodies): iterate those."""
    return stream.pump if isinstance(stream, Response) else None


def _join(parts: list[bytes]) -> bytes:
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    parts.clear()
    return data


# no secrets known here: the client redacts the whole message again, which catches any
# piece of a secret that these cuts left (`safe_excerpt`: one printable line, then the cut)
def _parser_message(exc: Exception) -> str:
    return safe_excerpt(str(exc).strip() or type(exc).__name__, (), 120)


def _show(value: bytes) -> str:
    return "'" + safe_excerpt(value[:160].decode("latin-1"), (), 40) + "'"
