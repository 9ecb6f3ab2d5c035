"""A tiny raw-socket HTTP server for hostile-server tests: each request it receives (on any
connection) is answered by the next scripted reply, written byte for byte as given."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

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
    connections: int = 0


def _read_request(sock: socket.socket, buf: bytearray) -> tuple[bytes, bytes] | None:
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end])
    del buf[:end]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    body = bytes(buf[:length])
    del buf[:length]
    return head, body


@contextmanager
def hostile_server(replies: Sequence[Reply]) -> Iterator[tuple[str, Seen]]:
    """Serve `replies` in order, one per request; yields (base URL, what was seen)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    seen = Seen()
    queue = list(replies)
    lock = threading.Lock()
    stop = threading.Event()

    def serve(sock: socket.socket, number: int) -> None:
        buf = bytearray()
        with sock:
            sock.settimeout(30)
            while not stop.is_set():
                try:
                    request = _read_request(sock, buf)
                except OSError:
                    return
                if request is None:
                    return
                with lock:
                    seen.requests.append((number, *request))
                    reply = queue.pop(0) if queue else good_reply()
                try:
                    if callable(reply):
                        reply(sock)
                    else:
                        sock.sendall(reply)
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with lock:
                seen.connections += 1
                number = seen.connections
            threading.Thread(target=serve, args=(sock, number), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1", seen
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=2)
