"""A tiny raw-socket HTTP/1.1 server for tests: it answers each request with a scripted
reply (chunked, one HTTP chunk per event, each after its delay) and logs what it received
and the `perf_counter_ns` instant it wrote each event. It runs in a thread of the test
process, so its instants are on the client's clock."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


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
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                received_ns = time.perf_counter_ns()
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                got = Received(method, path, headers, body, received_ns)
                self.log.append(got)
                await self._answer(writer, got, self.script(got))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, got: Received, reply: Reply) -> None:
        writer.write(
            b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ntransfer-encoding: chunked\r\n\r\n"
            % (reply.status, reply.content_type.encode())
        )
        await writer.drain()
        for delay, data in reply.events:
            if delay:
                await asyncio.sleep(delay)
            # stamped before the bytes go out: the client (another thread) may read them
            # before this thread runs again
            got.writes_ns.append(time.perf_counter_ns())
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("scripted server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextmanager
def scripted(script: Callable[[Received], Reply]) -> Iterator[ScriptedServer]:
    with ScriptedServer(script) as server:
        yield server
