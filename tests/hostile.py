"""Hostile-server behaviour on the test socket server (`sockserver.py`): each request it
receives (on any connection) is answered by the next scripted reply, written byte for byte
as given."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sockserver import SocketServer, read_request

Reply = bytes | Callable[[socket.socket], None]


def sse_body(text: str = "hi", tokens: int = 2) -> bytes:
    """A small, complete chat-completions event stream."""
    events = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        for _ in range(tokens)
    ]
    events.append({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + b"data: [DONE]\n\n"


def good_reply(body: bytes | None = None) -> bytes:
    """A well-formed keep-alive SSE response with a Content-Length."""
    body = sse_body() if body is None else body
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def chunked(body: bytes, pieces: int = 3) -> bytes:
    """`body` in the chunked transfer coding."""
    size = max(1, len(body) // pieces)
    out = b""
    for i in range(0, len(body), size):
        part = body[i : i + size]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


def gzip_reply(body: bytes, content_type: str = "text/event-stream") -> bytes:
    packed = gzip.compress(body)
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    return head.encode() + chunked(packed, 4)


def dripped(pieces: Sequence[bytes], every_s: float) -> Callable[[socket.socket], None]:
    """A reply written piece by piece, `every_s` seconds apart."""

    def send(sock: socket.socket) -> None:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(every_s)

    return send


@dataclass
class Seen:
    """What the server received: one (connection number, head, body) per request."""

    requests: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    server: SocketServer | None = None

    @property
    def connections(self) -> int:
        """Connections accepted so far (counted at accept, before any request)."""
        return 0 if self.server is None else self.server.connections


@contextmanager
def hostile_server(replies: Sequence[Reply]) -> Iterator[tuple[str, Seen]]:
    """Serve `replies` in order, one per request, on any connection (then good replies);
    yields (base URL, what was seen)."""
    seen = Seen()
    queue = list(replies)
    lock = threading.Lock()

    def serve(sock: socket.socket, number: int) -> None:
        buf = bytearray()
        while not server.stop.is_set():
            request = read_request(sock, buf)
            if request is None:
                return
            with lock:
                seen.requests.append((number, *request))
                reply = queue.pop(0) if queue else good_reply()
            if callable(reply):
                reply(sock)
            else:
                sock.sendall(reply)

    with SocketServer(serve) as server:
        seen.server = server
        yield f"{server.url}/v1", seen
