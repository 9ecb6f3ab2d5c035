"""A tiny raw-socket HTTP server for hostile-server tests: every request is read (head and a
Content-Length body), recorded, and answered with whatever bytes the test's handler returns.
It runs in a thread on a free loopback port and closes each connection after one answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType


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
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                seen = _read_request(conn)
            except (OSError, ValueError):
                return
            number = len(self.seen)
            self.seen.append(seen)
            try:
                conn.sendall(self.handler(seen, number))
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                return


def _read_request(conn: socket.socket) -> Seen:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("closed before the head ended")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = tuple(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])
    )
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Seen(method, target, headers, body[:length])


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
