"""Scripted-timing behaviour on the test socket server (`sockserver.py`): it answers each
request with a scripted reply (chunked, one HTTP chunk per event, each after its delay) and
logs what it received and the `perf_counter_ns` instant it wrote each event. It runs in a
thread of the test process, so its instants are on the client's clock."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sockserver import SocketServer, parse_head, read_request


@dataclass
class Received:
    """One request as the server read it, and when it wrote each event of its reply."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_ns: int
    writes_ns: list[int] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What to answer: status, content type and the events, each after `delay` seconds."""

    events: list[tuple[float, bytes]]
    status: int = 200
    content_type: str = "text/event-stream"


def sse(obj: Any, event: str | None = None) -> bytes:
    """One SSE event (with an optional `event:` line) carrying `obj` as JSON."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj)}\n\n".encode()


class ScriptedServer:
    """Serve `script(received) -> Reply` on a free loopback port until closed."""

    def __init__(self, script: Callable[[Received], Reply]) -> None:
        self.script = script
        self.log: list[Received] = []
        self._server = SocketServer(self._serve)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"{self._server.url}/v1"

    def _serve(self, sock: socket.socket, _number: int) -> None:
        buf = bytearray()
        while not self._server.stop.is_set():
            request = read_request(sock, buf)
            if request is None:
                return
            received_ns = time.perf_counter_ns()
            method, path, pairs = parse_head(request[0])
            headers = {name.lower(): value for name, value in pairs}
            got = Received(method, path, headers, request[1], received_ns)
            self.log.append(got)
            self._answer(sock, got, self.script(got))

    def _answer(self, sock: socket.socket, got: Received, reply: Reply) -> None:
        sock.sendall(
            b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ntransfer-encoding: chunked\r\n\r\n"
            % (reply.status, reply.content_type.encode())
        )
        for delay, data in reply.events:
            if delay and self._server.stop.wait(delay):
                return
            # stamped before the bytes go out: the client (another thread) may read them
            # before this thread runs again
            got.writes_ns.append(time.perf_counter_ns())
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        sock.sendall(b"0\r\n\r\n")

    def __enter__(self) -> ScriptedServer:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(None, None, None)


@contextmanager
def scripted(script: Callable[[Received], Reply]) -> Iterator[ScriptedServer]:
    with ScriptedServer(script) as server:
        yield server
