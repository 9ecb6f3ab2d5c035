"""Hostile-server behaviour on the test socket server (`sockserver.py`): every request is read
(head and a Content-Length body), recorded, and answered with whatever bytes the test's
handler returns; each connection closes after one answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from sockserver import SocketServer, parse_head, read_request


@dataclass(frozen=True)
class Seen:
    """One request as the server read it."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


Handler = Callable[[Seen, int], bytes]  # (request, 0-based request number) -> response bytes


@dataclass
class RawServer:
    """`with RawServer(handler) as srv:` → `srv.url` (http://127.0.0.1:PORT)."""

    handler: Handler
    seen: list[Seen] = field(default_factory=list)
    _server: SocketServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close_listener(self) -> None:
        """Stop listening now: later connections are refused (accepted ones go on)."""
        assert self._server is not None
        self._server.close_listener()

    def __enter__(self) -> RawServer:
        self._server = SocketServer(self._one, timeout_s=10).__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.__exit__(exc_type, exc, tb)

    def _one(self, conn: socket.socket, _number: int) -> None:
        try:
            request = read_request(conn, bytearray())
            if request is None:
                return
            method, target, headers = parse_head(request[0])
        except ValueError:  # not HTTP: nothing to record
            return
        seen = Seen(method, target, tuple(headers), request[1])
        with self._lock:
            number = len(self.seen)
            self.seen.append(seen)
        conn.sendall(self.handler(seen, number))
        conn.shutdown(socket.SHUT_WR)


def response(
    status: int, body: bytes, content_type: str = "application/json", extra: str = ""
) -> bytes:
    """A whole HTTP/1.1 response with Content-Length and `Connection: close`."""
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


def sse(events: list[bytes]) -> bytes:
    """A 200 event-stream response whose body is `events`, each framed as `data: …`."""
    body = b"".join(b"data: " + e + b"\n\n" for e in events)
    return response(200, body, "text/event-stream")


OK_STREAM = sse(
    [
        b'{"id":"r","choices":[{"index":0,"delta":{"content":"hi"}}]}',
        b'{"id":"r","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":1}}',
        b"[DONE]",
    ]
)
