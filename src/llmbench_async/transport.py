"""A lean HTTP/1.1 `httpx.AsyncBaseTransport` over asyncio streams.

httpcore's connection pool costs CPU that grows with the number of connections and a
per-read overhead that dominates on chunked SSE streams (see ../shared/MEASUREMENTS.md).
This transport keeps httpx's API but replaces the pool with a plain LIFO list of idle
keep-alive connections per origin and decodes chunked bodies from its own buffer, yielding
everything that arrived in one socket read as one piece.

Scope: HTTP/1.1 over TCP or TLS; no proxies, no HTTP/2, no request body streaming. The
number of connections is bounded by the caller's concurrency, not by the transport.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import certifi
import httpx

_READ_SIZE = 256 * 1024
_MAX_HEAD_BYTES = 256 * 1024
_Origin = tuple[str, str, int]


class _Connection:
    """One TCP (or TLS) connection: its reader and writer."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def is_usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive transport with minimal per-request and per-read work."""

    def __init__(self, *, verify: bool | str = True) -> None:
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._ssl = _ssl_context(verify)
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        host = url.host
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, host, port)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        head = _request_head(request, len(body))
        payload = head + body if len(body) < 65536 else None

        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.is_usable():
                conn.close()
                continue
            try:
                return await self._exchange(conn, origin, request, head, body, payload)
            except _StaleConnection:
                continue  # the server closed an idle connection: use a fresh one
        conn = await self._connect(scheme, host, port, timeouts.get("connect"))
        try:
            return await self._exchange(conn, origin, request, head, body, payload)
        except _StaleConnection as exc:
            raise httpx.RemoteProtocolError(
                "server closed the connection without sending a response"
            ) from exc

    async def _connect(
        self, scheme: str, host: str, port: int, timeout: float | None
    ) -> _Connection:
        tls = self._ssl if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                    limit=_MAX_HEAD_BYTES,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out") from exc
        except ssl.SSLCertVerificationError as exc:
            raise httpx.ConnectError(
                f"certificate verify failed for host {host}: {exc.verify_message}"
            ) from exc
        except ssl.SSLError as exc:
            raise httpx.ConnectError(f"TLS handshake with {host}:{port} failed: {exc}") from exc
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {reason}") from exc
        return _Connection(reader, writer)

    async def _exchange(
        self,
        conn: _Connection,
        origin: _Origin,
        request: httpx.Request,
        head: bytes,
        body: bytes,
        payload: bytes | None,
    ) -> httpx.Response:
        writer = conn.writer
        try:
            if payload is not None:
                writer.write(payload)
            else:
                writer.write(head)
                writer.write(body)
            await writer.drain()
            status, reason, headers, leftover = await _read_head(conn.reader)
        except _StaleConnection:
            conn.close()
            raise
        except (OSError, asyncio.IncompleteReadError) as exc:
            conn.close()
            raise httpx.ReadError(f"connection lost before the response: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        stream = _ResponseStream(self, conn, origin, request.method, status, headers, leftover)
        return httpx.Response(
            status,
            headers=headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def _release(self, origin: _Origin, conn: _Connection) -> None:
        if self._closed or not conn.is_usable():
            conn.close()
            return
        self._idle.setdefault(origin, []).append(conn)

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


class _StaleConnection(Exception):
    """A reused keep-alive connection was closed by the server before any response byte."""


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        ctx = ssl.create_default_context(cafile=verify)
    else:
        ctx = ssl.create_default_context(cafile=certifi.where())
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _request_head(request: httpx.Request, body_len: int) -> bytes:
    lines = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    has_length = False
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower == b"content-length":
            has_length = True
        elif lower == b"transfer-encoding":
            continue  # we always send a fixed-length body
        lines += (name, b": ", value, b"\r\n")
    if not has_length and (body_len or request.method in ("POST", "PUT", "PATCH")):
        lines += (b"Content-Length: ", str(body_len).encode(), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


async def _read_head(
    reader: asyncio.StreamReader,
) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
    """Read a response head (skipping 1xx responses); return status, reason, headers, rest."""
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _StaleConnection() from exc
            raise httpx.RemoteProtocolError("connection closed inside the response head") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("response head too large") from exc
        except ConnectionResetError as exc:
            raise _StaleConnection() from exc
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"malformed status line {lines[0][:80]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else b""
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
            headers.append((name, value.strip()))
        if 100 <= status < 200 and status != 101:
            continue
        return status, reason, headers, b""


class _ResponseStream(httpx.AsyncByteStream):
    """The body of one response: Content-Length, chunked, or read-until-close framing."""

    def __init__(
        self,
        transport: LeanTransport,
        conn: _Connection,
        origin: _Origin,
        method: str,
        status: int,
        headers: list[tuple[bytes, bytes]],
        leftover: bytes,
    ) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._origin = origin
        self._complete = False
        length: int | None = None
        chunked = False
        keep_alive = True
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length":
                try:
                    length = int(value)
                except ValueError as exc:
                    raise httpx.RemoteProtocolError(f"bad Content-Length {value!r}") from exc
            elif lower == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif lower == b"connection":
                keep_alive = b"close" not in value.lower()
        if method == "HEAD" or status in (204, 304):
            length, chunked = 0, False
        self._length = length
        self._chunked = chunked
        self._keep_alive = keep_alive and (chunked or length is not None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            if self._chunked:
                async for part in self._iter_chunked(conn.reader):
                    yield part
            elif self._length is not None:
                remaining = self._length
                read = conn.reader.read
                while remaining > 0:
                    data = await read(min(remaining, _READ_SIZE))
                    if not data:
                        raise httpx.ReadError(
                            f"server closed the connection with {remaining} body bytes missing"
                        )
                    remaining -= len(data)
                    yield data
            else:
                while data := await conn.reader.read(_READ_SIZE):
                    yield data
            self._complete = True
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise httpx.ReadError(f"connection lost mid-response: {exc}") from exc
        finally:
            self._finish()

    async def _iter_chunked(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        buf = b""
        size = -1  # bytes of the current chunk still to come; -1 = expecting a size line
        read = reader.read
        while True:
            data = await read(_READ_SIZE)
            if not data:
                raise httpx.ReadError("server closed the connection mid-response (chunked body)")
            buf = buf + data if buf else data
            out: list[bytes] = []
            pos = 0
            end = len(buf)
            while pos < end:
                if size > 0:
                    take = min(size, end - pos)
                    out.append(buf[pos : pos + take])
                    pos += take
                    size -= take
                    if size == 0:
                        size = -2  # expecting the CRLF after the chunk data
                    continue
                if end - pos < 2:
                    break
                if size == -2:
                    if buf[pos : pos + 2] != b"\r\n":
                        raise httpx.RemoteProtocolError("missing CRLF after a chunk")
                    pos += 2
                    size = -1
                    continue
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    if end - pos > 1024:
                        raise httpx.RemoteProtocolError("chunk size line too long")
                    break
                line = buf[pos:nl].split(b";", 1)[0].strip()
                try:
                    size = int(line, 16)
                except ValueError as exc:
                    raise httpx.RemoteProtocolError(f"bad chunk size {line[:20]!r}") from exc
                if size < 0:
                    raise httpx.RemoteProtocolError(f"bad chunk size {line[:20]!r}")
                pos = nl + 2
                if size == 0:
                    buf = buf[pos:]
                    if out:
                        yield b"".join(out) if len(out) > 1 else out[0]
                    await _skip_trailers(reader, buf)
                    return
            buf = buf[pos:] if pos < end else b""
            if out:
                yield b"".join(out) if len(out) > 1 else out[0]

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._complete and self._keep_alive:
            self._transport._release(self._origin, conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        self._finish()


async def _skip_trailers(reader: asyncio.StreamReader, buf: bytes) -> None:
    """Consume the (usually empty) trailer section after the last chunk."""
    while True:
        nl = buf.find(b"\r\n")
        while nl < 0:
            more = await reader.read(_READ_SIZE)
            if not more:
                raise httpx.ReadError("server closed the connection inside chunk trailers")
            buf += more
            if len(buf) > _MAX_HEAD_BYTES:
                raise httpx.RemoteProtocolError("chunk trailers too large")
            nl = buf.find(b"\r\n")
        if nl == 0:
            if len(buf) > 2:
                raise httpx.RemoteProtocolError("unexpected bytes after the response body")
            return
        buf = buf[nl + 2 :]


def lean_transport_of(client: httpx.AsyncClient) -> LeanTransport | None:
    """The client's lean transport, when it has one (httpx keeps it in `_transport`)."""
    transport = getattr(client, "_transport", None)
    return transport if isinstance(transport, LeanTransport) else None


def make_client(*, verify: bool | str = True, **kwargs: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` that runs on the lean transport."""
    return httpx.AsyncClient(transport=LeanTransport(verify=verify), **kwargs)
