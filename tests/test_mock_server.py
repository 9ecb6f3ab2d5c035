"""The mock server, exercised over real loopback sockets (a separate process, or in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmbench_async.mock import MockConfig, MockProcess, serve

CHAT = {"model": "mock-model", "messages": [{"role": "user", "content": "say hi to me"}]}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def fast() -> Iterator[MockProcess]:
    """A server that answers without delays."""
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=8, models=("mock-model", "other"))
    with MockProcess(config) as mock:
        yield mock


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MockProcess, Path]]:
    """ttft 200 ms, itl 10 ms, 10 tokens, with a truth log."""
    log = tmp_path_factory.mktemp("timed") / "truth.jsonl"
    with MockProcess(MockConfig(ttft_ms=200, itl_ms=10, tokens=10, log_path=str(log))) as mock:
        yield mock, log


@pytest.fixture
def client(fast: MockProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fast.base_url, timeout=10) as c:
        yield c


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


# --------------------------------------------------------------------------- config


def test_config_json_round_trip() -> None:
    config = MockConfig(ttft_ms=5, models=("a", "b"), log_path="/tmp/x", seed=3)
    assert MockConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="unknown mock config keys: bogus"):
        MockConfig.from_json('{"bogus": 1}')
    with pytest.raises(ValueError, match="tokens"):
        MockConfig(tokens=0)
    with pytest.raises(ValueError, match="itl_ms"):
        MockConfig(itl_ms=-1)
    truth = MockConfig(truth_block_words=16, truth_headers=("x-session-id",))
    assert MockConfig.from_json(truth.to_json()) == truth
    with pytest.raises(ValueError, match="truth_block_words"):
        MockConfig(truth_block_words=-1)


# --------------------------------------------------------------------------- endpoints


def test_models(client: httpx.Client) -> None:
    response = client.get("/models")
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [
            {"id": "mock-model", "object": "model", "created": 0, "owned_by": "llmbench-async"},
            {"id": "other", "object": "model", "created": 0, "owned_by": "llmbench-async"},
        ],
    }


@pytest.mark.parametrize("include_usage", [True, False])
def test_streamed_chat_events(fast: MockProcess, include_usage: bool) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": include_usage}}
    with connect(fast) as sock, sock.makefile("rb") as reader:
        sock.sendall(post("/v1/chat/completions", body))
        response = Response(reader)
    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream"
    # one HTTP chunk per SSE event
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") for c in response.chunks)
    assert len(response.chunks) == len(sse_data(response.body.decode()))

    data = sse_data(response.body.decode())
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    role, contents = chunks[0], chunks[1:9]
    assert role["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert role["id"].startswith("chatcmpl-")
    assert role["object"] == "chat.completion.chunk"
    assert role["model"] == "mock-model"
    assert isinstance(role["created"], int)
    assert all(c["id"] == role["id"] for c in chunks)
    texts = [c["choices"][0]["delta"]["content"] for c in contents]
    assert len(texts) == 8
    assert all(t.startswith(" ") and len(t.split()) == 1 for t in texts)
    assert [c["choices"][0]["finish_reason"] for c in contents] == [None] * 7 + ["stop"]
    if include_usage:
        assert len(chunks) == 10
        assert chunks[-1]["choices"] == []
        # "say hi to me" is 4 whitespace-separated words
        usage = {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}
        assert chunks[-1]["usage"] == usage
    else:
        assert len(chunks) == 9
        assert all("usage" not in c for c in chunks)


def test_max_tokens_caps_output(client: httpx.Client) -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        body = {**CHAT, "stream": True, key: 3, "stream_options": {"include_usage": True}}
        response = client.post("/chat/completions", json=body)
        chunks = [json.loads(d) for d in sse_data(response.text)[:-1]]
        contents = [c for c in chunks[1:] if c["choices"]]
        assert len(contents) == 3
        assert contents[-1]["choices"][0]["finish_reason"] == "length"
        assert chunks[-1]["usage"]["completion_tokens"] == 3
    # a limit above the configured count does not raise it
    body = {**CHAT, "max_tokens": 1000}
    assert client.post("/chat/completions", json=body).json()["usage"]["completion_tokens"] == 8
    bad = client.post("/chat/completions", json={**CHAT, "max_tokens": 0})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "max_tokens"


def test_streamed_completions(client: httpx.Client) -> None:
    body = {"model": "other", "prompt": "one two three", "stream": True, "max_tokens": 5}
    body["stream_options"] = {"include_usage": True}
    response = client.post("/completions", json=body)
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert len(chunks) == 6  # no role chunk: 5 tokens and usage
    assert all(c["object"] == "text_completion" and c["id"].startswith("cmpl-") for c in chunks)
    choices = [c["choices"][0] for c in chunks[:5]]
    assert all(set(c) == {"index", "text", "logprobs", "finish_reason"} for c in choices)
    assert all(c["text"].startswith(" ") for c in choices)
    assert choices[-1]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}


def test_non_streaming_bodies(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json={**CHAT, "max_tokens": 4})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert len(choice["message"]["content"].split()) == 4
    assert choice["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}

    prompt = {"model": "mock-model", "prompt": ["a b", "c"]}
    body = client.post("/completions", json=prompt).json()
    assert body["object"] == "text_completion"
    assert len(body["choices"][0]["text"].split()) == 8
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11}


def test_errors(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json={**CHAT, "model": "gpt-x"})
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model `gpt-x` does not exist.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
    response = client.post("/chat/completions", content=b'{"model": ')
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert client.post("/completions", json=[1, 2]).status_code == 400
    assert client.get("/nope").status_code == 404
    assert client.get("/chat/completions").status_code == 405
    assert client.post("/models").status_code == 405
    # the connection survived all of that
    assert client.get("/models").status_code == 200


# --------------------------------------------------------------------------- HTTP handling


def test_keep_alive_two_requests_one_connection(fast: MockProcess) -> None:
    with connect(fast) as sock, sock.makefile("rb") as reader:
        sock.sendall(post("/v1/chat/completions", {**CHAT, "stream": True}))
        first = Response(reader)
        sock.sendall(post("/v1/completions", {"model": "mock-model", "prompt": "x"}))
        second = Response(reader)
    assert first.status == second.status == 200
    assert sse_data(first.body.decode())[-1] == "[DONE]"
    assert json.loads(second.body)["object"] == "text_completion"


def test_pipelined_and_fragmented_requests(fast: MockProcess) -> None:
    requests = (
        post("/v1/chat/completions", {**CHAT, "max_tokens": 2})
        + b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n"
        + post("/v1/chat/completions", {**CHAT, "stream": True, "max_tokens": 1})
    )
    with connect(fast) as sock, sock.makefile("rb") as reader:
        sock.sendall(requests)  # all three at once
        answers = [Response(reader) for _ in range(3)]
        for i in range(0, len(requests), 7):  # then again, a few bytes at a time
            sock.sendall(requests[i : i + 7])
            time.sleep(0.0005)
        answers += [Response(reader) for _ in range(3)]
    for a in (answers[0], answers[3]):
        assert json.loads(a.body)["usage"]["completion_tokens"] == 2
    for a in (answers[1], answers[4]):
        assert json.loads(a.body)["object"] == "list"
    for a in (answers[2], answers[5]):
        assert len(sse_data(a.body.decode())) == 3  # role, one token, [DONE]


def test_connection_close_and_malformed_requests(fast: MockProcess) -> None:
    with connect(fast) as sock, sock.makefile("rb") as reader:
        sock.sendall(post("/v1/completions", {"model": "mock-model"}, "connection: close\r\n"))
        assert Response(reader).headers["connection"] == "close"
        assert reader.read() == b""  # the server closed
    with connect(fast) as sock, sock.makefile("rb") as reader:
        sock.sendall(b"NONSENSE\r\n\r\n")
        response = Response(reader)
        assert response.status == 400
        assert reader.read() == b""
    with connect(fast) as sock, sock.makefile("rb") as reader:
        body = json.dumps(CHAT).encode()
        head = "POST /v1/chat/completions HTTP/1.1\r\nexpect: 100-continue\r\n"
        sock.sendall(f"{head}content-length: {len(body)}\r\n\r\n".encode())
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert reader.readline() == b"\r\n"
        sock.sendall(body)
        assert Response(reader).status == 200


def test_http10_stream_is_close_delimited(fast: MockProcess) -> None:
    data = json.dumps({**CHAT, "stream": True}).encode()
    head = f"POST /v1/chat/completions HTTP/1.0\r\ncontent-length: {len(data)}\r\n\r\n"
    with connect(fast) as sock, sock.makefile("rb") as reader:
        sock.sendall(head.encode() + data)
        response = Response(reader)
    assert "transfer-encoding" not in response.headers
    assert sse_data(response.body.decode())[-1] == "[DONE]"


# --------------------------------------------------------------------------- timing


def test_timing_matches_configuration(timed: tuple[MockProcess, Path]) -> None:
    mock, _ = timed
    body = {**CHAT, "stream": True}
    with httpx.Client(base_url=mock.base_url, timeout=10) as client:
        client.post("/chat/completions", json={**body, "max_tokens": 1})  # warm up
        start = time.perf_counter()
        arrivals: list[float] = []
        with client.stream("POST", "/chat/completions", json=body) as response:
            headers_at = time.perf_counter() - start
            for line in response.iter_lines():
                if '"content":" ' in line:
                    arrivals.append(time.perf_counter() - start)
        total = time.perf_counter() - start
    assert headers_at < 0.05  # headers and the role chunk go out on receipt
    assert len(arrivals) == 10
    # never early, and not late by more than a busy 2-core machine's scheduling noise (this
    # clock is the test client's; the truth-log test checks the server's own instants)
    assert 0.195 <= arrivals[0] < 0.270, arrivals
    assert 0.285 <= arrivals[-1] < 0.380, arrivals
    assert 0.285 <= total < 0.400


def test_non_streaming_waits_for_the_last_token(timed: tuple[MockProcess, Path]) -> None:
    mock, _ = timed
    with httpx.Client(base_url=mock.base_url, timeout=10) as client:
        start = time.perf_counter()
        response = client.post("/chat/completions", json={**CHAT, "max_tokens": 5})
        elapsed = time.perf_counter() - start
    assert response.json()["usage"]["completion_tokens"] == 5
    assert 0.235 <= elapsed < 0.330  # never early; late only by scheduling noise


def test_truth_log(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    config = MockConfig(ttft_ms=50, itl_ms=5, tokens=6, log_path=str(log))
    with MockProcess(config) as mock, httpx.Client(base_url=mock.base_url) as client:
        before = time.time()
        stream = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
        text = client.post("/chat/completions", json=stream).text
        plain_body = client.post("/completions", json={"model": "mock-model", "prompt": "x"})
        client.post("/chat/completions", json={**CHAT, "model": "nope"})
        client.get("/models")  # not a completion request: not logged
        after = time.time()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 3
    streamed, plain, missing = rows
    assert streamed["id"] == json.loads(sse_data(text)[0])["id"]
    assert plain["id"] == plain_body.json()["id"]
    keys = {"id", "received", "headers_sent", "first_token", "last_token", "tokens"}
    keys |= {"prompt_tokens", "status", "path", "monotonic"}
    # a planned completion also says the token limit it asked (none here); a refusal does not
    assert set(streamed) == set(plain) == keys | {"max_tokens"} and set(missing) == keys
    assert streamed["max_tokens"] is None and plain["max_tokens"] is None
    assert before < streamed["received"] < streamed["headers_sent"] < after
    assert streamed["first_token"] - streamed["received"] == pytest.approx(0.050, abs=0.010)
    assert streamed["last_token"] - streamed["first_token"] == pytest.approx(0.025, abs=0.010)
    assert (streamed["tokens"], streamed["prompt_tokens"], streamed["status"]) == (6, 3, 200)
    assert streamed["path"] == "/v1/chat/completions"
    assert plain["path"] == "/v1/completions"
    assert plain["last_token"] - plain["received"] == pytest.approx(0.075, abs=0.010)
    assert (missing["status"], missing["tokens"], missing["first_token"]) == (404, 0, None)


def test_client_disconnect_mid_stream(timed: tuple[MockProcess, Path]) -> None:
    mock, log = timed
    ids = []
    for wait_for_token in (True, False):  # hang up after the first token, then before it
        with connect(mock) as sock, sock.makefile("rb") as reader:
            sock.sendall(post("/v1/chat/completions", {**CHAT, "stream": True}))
            while b'"id":"' not in (line := reader.readline()):
                pass
            ids.append(line.split(b'"id":"')[1].split(b'"')[0].decode())
            while wait_for_token and b'"content":" ' not in reader.readline():
                pass
    with httpx.Client(base_url=mock.base_url, timeout=10) as client:
        response = client.post("/chat/completions", json={**CHAT, "max_tokens": 2})
        assert response.json()["usage"]["completion_tokens"] == 2
    rows = {row["id"]: row for row in map(json.loads, log.read_text().splitlines())}
    after_token, before_token = rows[ids[0]], rows[ids[1]]
    assert after_token["status"] == before_token["status"] == 499
    assert after_token["tokens"] >= 1 and after_token["first_token"] is not None
    assert before_token["tokens"] == 0 and before_token["first_token"] is None


# --------------------------------------------------------------------------- in-process & lifecycle


def test_static_body_and_serve_in_process() -> None:
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=3, static_body=True)
    with in_process(config) as server, httpx.Client(base_url=server.base_url) as client:
        body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        response = client.post("/chat/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream"
    assert int(response.headers["content-length"]) == len(response.content)
    assert "transfer-encoding" not in response.headers
    data = sse_data(response.text)
    assert len(data) == 6  # role, 3 tokens, usage, [DONE]
    assert json.loads(data[4])["usage"]["completion_tokens"] == 3


def test_jitter_stays_within_bounds(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    config = MockConfig(ttft_ms=40, itl_ms=5, jitter_ms=20, tokens=4, seed=7, log_path=str(log))
    with in_process(config) as server, httpx.Client(base_url=server.base_url) as client:
        for _ in range(5):
            client.post("/chat/completions", json={**CHAT, "stream": True})
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    ttfts = [r["first_token"] - r["received"] for r in rows]
    assert all(0.020 - 0.002 <= t <= 0.060 + 0.010 for t in ttfts)
    assert len({round(t, 3) for t in ttfts}) > 1  # it does vary


def test_disconnects_leave_no_tasks_and_shutdown_is_clean() -> None:
    config = MockConfig(ttft_ms=20, itl_ms=20, tokens=50)
    with in_process(config) as server:
        for _ in range(3):  # hang up mid-stream
            with socket.create_connection((server.host, server.port)) as sock:
                sock.sendall(post("/v1/chat/completions", {**CHAT, "stream": True}))
                with sock.makefile("rb") as reader:
                    while b'"content":" ' not in reader.readline():
                        pass
        assert server.other_tasks() == 0
        with httpx.Client(base_url=server.base_url) as client:
            assert client.post("/chat/completions", json={**CHAT, "max_tokens": 1}).is_success
        # leave a stream open while the server is stopped: it must unwind, not hang
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.sendall(post("/v1/chat/completions", {**CHAT, "stream": True}))
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        assert server.other_tasks() == 1
    with sock:
        while sock.recv(4096):  # the server closed the connection
            pass


def test_clean_exit_on_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        with MockProcess(MockConfig(ttft_ms=0, itl_ms=0)) as mock:
            with httpx.Client(base_url=mock.base_url) as client:
                assert client.get("/models").status_code == 200
            assert mock.process is not None
            mock.process.send_signal(sig)
            assert mock.process.wait(5) == 0
            assert mock.stderr_text() == ""


def test_mock_process_reports_startup_failure() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = r"code 1\) without listening; stderr:\n.*cannot listen on 127.0.0.1:\d+: "
        with pytest.raises(RuntimeError, match=expected + ".*already in use"):
            MockProcess(MockConfig(port=port)).start()


def test_truth_log_monotonic_instants_share_the_client_clock(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    with MockProcess(MockConfig(ttft_ms=20, itl_ms=0, tokens=2, log_path=str(log))) as mock:
        before = time.monotonic()
        httpx.post(
            f"{mock.base_url}/chat/completions",
            json={"model": "mock-model", "messages": [], "stream": True},
        )
        after = time.monotonic()
    mono = json.loads(log.read_text().splitlines()[0])["monotonic"]
    assert before < mono["received"] < mono["first_token"] <= mono["last_token"] < after
    assert 0.019 <= mono["first_token"] - mono["received"] < 0.1
