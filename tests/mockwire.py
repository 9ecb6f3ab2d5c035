"""What the mock server's tests share: requests written by hand, responses read off raw
sockets, SSE and chunk decoding, and the truth log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from llmbench_async.mock import MockConfig, MockProcess, serve

CHAT = {"model": "mock-model", "messages": [{"role": "user", "content": "say hi to me"}]}


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events), events
    return [e.removeprefix("data: ") for e in events]


def connect(mock: MockProcess) -> socket.socket:
    sock = socket.create_connection((mock.host, mock.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def post(path: str, body: dict[str, Any], extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(data)}\r\n{extra}\r\n"
    return head.encode() + data


class Response:
    """A response read off a raw socket: status, lower-case headers, body, HTTP chunks."""

    def __init__(self, reader: Any) -> None:
        status_line = reader.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        self.status = int(status_line.split()[1])
        self.headers: dict[str, str] = {}
        while (line := reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.chunks: list[bytes] = []
        if self.headers.get("transfer-encoding") == "chunked":
            while size := int(reader.readline(), 16):
                self.chunks.append(reader.read(size))
                assert reader.read(2) == b"\r\n"
            assert reader.readline() == b"\r\n"
            self.body = b"".join(self.chunks)
        elif "content-length" in self.headers:
            self.body = reader.read(int(self.headers["content-length"]))
        else:
            self.body = reader.read()


@dataclass
class InProcess:
    """A server run by `serve` on a background thread's event loop."""

    base_url: str
    host: str
    port: int
    loop: asyncio.AbstractEventLoop

    def other_tasks(self) -> int:
        """How many tasks besides `serve` itself are alive on the server's loop."""

        async def count() -> int:
            await asyncio.sleep(0.05)  # let connection_lost callbacks and cancellations run
            return len(asyncio.all_tasks()) - 2  # minus `serve` and this one

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(5)


@contextlib.contextmanager
def in_process(config: MockConfig) -> Iterator[InProcess]:
    """Run `serve` on a background thread's event loop; checks it leaves no task behind."""
    ready = threading.Event()
    address: list[tuple[str, int]] = []
    loop = asyncio.new_event_loop()
    task: asyncio.Task[None] | None = None

    def on_ready(host: str, port: int) -> None:
        address.append((host, port))
        ready.set()

    def run() -> None:
        nonlocal task
        task = loop.create_task(serve(config, ready=on_ready))
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        leftover.extend(asyncio.all_tasks(loop))

    leftover: list[asyncio.Task[Any]] = []

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        host, port = address[0]
        yield InProcess(f"http://{host}:{port}/v1", host, port, loop)
    finally:
        loop.call_soon_threadsafe(lambda: task.cancel() if task else None)
        thread.join(10)
        loop.close()
    assert not leftover


STREAM = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}


BROKEN = 'data: {"id": broken'


@contextlib.contextmanager
def serving(**knobs: Any) -> Iterator[MockProcess]:
    """A mock server process; instant and 8 tokens unless the knobs say otherwise."""
    config = MockConfig(**{"ttft_ms": 0, "itl_ms": 0, "tokens": 8, **knobs})
    with MockProcess(config) as mock:
        yield mock


def request(path: str, body: dict[str, Any], extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(data)}\r\n{extra}\r\n"
    return head.encode() + data


def raw_exchange(mock: MockProcess, body: dict[str, Any], *, timeout: float = 10) -> bytes:
    """Send one chat request on a fresh connection and read until the server closes it."""
    with socket.create_connection((mock.host, mock.port), timeout=timeout) as sock:
        sock.sendall(request("/v1/chat/completions", body, "connection: close\r\n"))
        received = bytearray()
        while data := sock.recv(1 << 16):
            received += data
    return bytes(received)


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, lower-case headers and the (still framed) body of a raw response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def dechunk(body: bytes) -> tuple[bytes, list[int], bool]:
    """Payload, chunk sizes and whether the terminating chunk came, from a chunked body."""
    payload, sizes, pos = bytearray(), [], 0
    while (end := body.find(b"\r\n", pos)) >= 0:
        size = int(body[pos:end], 16)
        if size == 0:
            return bytes(payload), sizes, True
        chunk = body[end + 2 : end + 2 + size]
        payload += chunk
        sizes.append(len(chunk))
        pos = end + 2 + size + 2
    return bytes(payload), sizes, False


def events(payload: bytes) -> list[str]:
    """The `data:` payloads of complete SSE events."""
    return [e.removeprefix("data: ") for e in payload.decode().split("\n\n")[:-1]]


def contents(data: list[str]) -> list[str]:
    """Content strings of the content chunks among `data` (JSON ones only)."""
    out = []
    for d in data:
        if d == "[DONE]" or d == BROKEN.removeprefix("data: "):
            continue
        choices = json.loads(d)["choices"]
        if choices and "content" in choices[0].get("delta", {}):
            out.append(choices[0]["delta"]["content"])
    return [c for c in out if c]


def timed_lines(client: httpx.Client, body: dict[str, Any]) -> list[tuple[float, str]]:
    """Each SSE data line of one streamed request with its arrival time (s since sending)."""
    start = time.perf_counter()
    out = []
    with client.stream("POST", "/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if line:
                out.append((time.perf_counter() - start, line.removeprefix("data: ")))
    return out


def truth(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


RETRY_HINTS = [  # header, --retry-after, the value sent (None: no hint at all)
    ("retry-after", "90", "90"),
    ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ("retry-after-ms", "1.5", "1500"),
    ("llm_provider-retry-after", "60", "60"),
    ("x-ratelimit-reset-requests", "90", "1m30s"),
    ("none", "90", None),
]


USER_MESSAGES = [{"role": "user", "content": "one two three"}]


AZURE = "/openai/deployments/{}/chat/completions?api-version=2024-10-21"


def origin(mock: MockProcess) -> str:
    return f"http://{mock.host}:{mock.port}"


def raw(mock: MockProcess, head: str, body: bytes = b"") -> bytes:
    """One request on a fresh connection (closed after it); the whole raw response."""
    with socket.create_connection((mock.host, mock.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        received = bytearray()
        while data := sock.recv(1 << 16):
            received += data
    return bytes(received)


def sse_json(text: str) -> list[Any]:
    """The JSON `data:` payloads of an SSE body ([DONE] left out)."""
    lines = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data:")]
    return [json.loads(d) for d in lines if d != "[DONE]"]


def named_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) of each named SSE event."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = block.split("\n", 1)
        assert name.startswith("event: ") and data.startswith("data: "), block
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


MESSAGE = {
    "model": "mock-model",
    "system": "be brief",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}],
    "max_tokens": 100,
    "stream": True,
}


ANTHROPIC = {"x-api-key": "sekret", "anthropic-version": "2023-06-01"}


def on_time(seconds: float, due: float, late: float = 0.1) -> bool:
    """Whether an instant the mock logged (seconds after it received the request) is on its
    schedule: never early (1 ms of clock slack), and at most `late` late, since a busy
    machine (the suite runs in parallel) can only make the mock's loop later."""
    return due - 0.001 <= seconds <= due + late
