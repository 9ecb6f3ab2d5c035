"""The mock server's fault and shape knobs, each checked over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.mock.config import duration as _duration

CHAT = {"model": "mock-model", "messages": [{"role": "user", "content": "say hi to me"}]}
STREAM = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
BROKEN = 'data: {"id": broken'


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- refusals


RETRY_HINTS = [  # header, --retry-after, the value sent (None: no hint at all)
    ("retry-after", "90", "90"),
    ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ("retry-after-ms", "1.5", "1500"),
    ("llm_provider-retry-after", "60", "60"),
    ("x-ratelimit-reset-requests", "90", "1m30s"),
    ("none", "90", None),
]


@pytest.mark.parametrize(("header", "value", "sent"), RETRY_HINTS)
def test_failures_carry_the_retry_hint(header: str, value: str, sent: str | None) -> None:
    knobs = {"fail_rate": 1.0, "fail_status": 429, "retry_after": value}
    with serving(**knobs, retry_after_header=header) as mock:
        raw = raw_exchange(mock, CHAT)
    status, headers, body = split_response(raw)
    assert status == 429 and raw.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert json.loads(body)["error"]["code"] == "injected"
    hints = {h: v for h, v in headers.items() if "retry" in h or "ratelimit" in h}
    assert hints == ({} if sent is None else {header: sent})


def test_openai_durations() -> None:
    cases = {0.02: "20ms", 0: "0s", 1: "1s", 1.5: "1.5s", 360: "6m0s", 3600: "1h0m0s"}
    assert {s: _duration(s) for s in cases} == cases


def test_fail_rate_share_status_and_truth_log(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    knobs = {"fail_rate": 0.5, "fail_status": 529, "seed": 3, "log_path": str(log)}
    with serving(**knobs) as mock, httpx.Client(base_url=mock.base_url) as client:
        statuses = [client.post("/chat/completions", json=CHAT).status_code for _ in range(40)]
    assert set(statuses) == {200, 529}
    assert 10 <= statuses.count(529) <= 30
    rows = truth(log)
    assert [r["status"] for r in rows] == statuses
    assert all(r.get("fault") == ("fail" if r["status"] == 529 else None) for r in rows)


def test_auth_key_and_status(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    with (
        serving(auth_key="sk-right", auth_status=403, log_path=str(log)) as mock,
        httpx.Client(base_url=mock.base_url) as client,
    ):
        missing = client.post("/chat/completions", json=CHAT)
        wrong = client.post("/chat/completions", json=CHAT, headers={"authorization": "Bearer x"})
        models = client.get("/models")
        good = client.post(
            "/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-right"}
        )
    assert missing.status_code == wrong.status_code == models.status_code == 403
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert good.status_code == 200
    assert [r.get("fault") for r in truth(log)] == ["auth", "auth", None]


# --------------------------------------------------------------------------- mid-stream faults


def test_disconnect_closes_mid_stream(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    with serving(disconnect_rate=1.0, log_path=str(log)) as mock:
        status, headers, body = split_response(raw_exchange(mock, STREAM))
        with (
            httpx.Client(base_url=mock.base_url) as client,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            client.post("/chat/completions", json=STREAM)
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    payload, _, complete = dechunk(body)
    assert not complete  # no terminating chunk
    data = events(payload)
    assert len(contents(data)) == 4  # half of 8
    assert "[DONE]" not in data and all("usage" not in d for d in data)
    row = truth(log)[0]
    assert (row["status"], row["tokens"], row["fault"]) == (200, 4, "disconnect")


def test_malformed_line_then_the_stream_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    with serving(malformed_rate=1.0, log_path=str(log)) as mock:
        _, _, body = split_response(raw_exchange(mock, STREAM))
    payload, _, complete = dechunk(body)
    assert complete
    data = events(payload)
    broken = BROKEN.removeprefix("data: ")
    assert data.count(broken) == 1
    at = data.index(broken)
    assert len(contents(data[:at])) == 4  # it comes after half the content tokens
    assert len(contents(data)) == 8 and data[-1] == "[DONE]"
    assert json.loads(data[-2])["usage"]["completion_tokens"] == 8
    assert truth(log)[0]["fault"] == "malformed"


def test_stall_delays_the_next_token() -> None:
    with (
        serving(itl_ms=10, tokens=6, stall_ms=300) as mock,
        httpx.Client(base_url=mock.base_url, timeout=10) as client,
    ):
        client.post("/chat/completions", json={**CHAT, "max_tokens": 1})  # warm up
        lines = timed_lines(client, STREAM)
    tokens = [t for t, line in lines if '"content":" ' in line]
    gaps = [b - a for a, b in itertools.pairwise(tokens)]
    assert len(tokens) == 6
    # token 3 (= 6 // 2) is due at 3 * 10 ms, and comes at least the stall later than that
    assert tokens[3] >= 0.030 + 0.300
    assert gaps[2] > 0.250 and max(gaps[:2] + gaps[3:]) < 0.1


def test_stall_malformed_and_disconnect_combine() -> None:
    knobs = {"tokens": 6, "stall_ms": 200, "malformed_rate": 1.0, "disconnect_rate": 1.0}
    with serving(**knobs) as mock:
        start = time.perf_counter()
        _, _, body = split_response(raw_exchange(mock, STREAM))
        elapsed = time.perf_counter() - start
    payload, _, complete = dechunk(body)
    data = events(payload)
    assert not complete and elapsed >= 0.200
    assert len(contents(data)) == 3 and data[-1] == BROKEN.removeprefix("data: ")


def test_slow_drip_never_completes_an_event(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    with serving(slow_drip=True, log_path=str(log)) as mock:
        with socket.create_connection((mock.host, mock.port), timeout=10) as sock:
            sock.sendall(request("/v1/chat/completions", STREAM))
            sock.settimeout(0.1)
            received = bytearray()
            arrivals = []
            start = time.perf_counter()
            while time.perf_counter() - start < 1.0:
                with contextlib.suppress(TimeoutError):
                    if data := sock.recv(4096):
                        received += data
                        arrivals.append(time.perf_counter() - start)
        time.sleep(0.1)  # let the server notice the hang-up and log it
    status, headers, body = split_response(bytes(received))
    assert status == 200 and headers["content-type"] == "text/event-stream"
    payload, sizes, complete = dechunk(body)
    assert not complete and set(sizes) == {1}  # one byte per HTTP chunk
    assert 3 <= len(payload) <= 7  # about 5 in one second
    assert payload[:6] == b"data: "[: len(payload)] and b"\n" not in payload
    assert arrivals[-1] - arrivals[0] >= 0.6
    row = truth(log)[0]
    assert (row["status"], row["fault"], row["tokens"]) == (499, "slow_drip", 0)


def test_huge_line_has_the_exact_length() -> None:
    size = 300_000
    with serving(tokens=4, huge_line_bytes=size) as mock:
        _, _, body = split_response(raw_exchange(mock, STREAM))
    payload, sizes, complete = dechunk(body)
    assert complete and max(sizes) <= 64 * 1024
    lines = payload.split(b"\n\n")
    huge = [line for line in lines if len(line) > 1000]
    assert len(huge) == 1 and len(huge[0]) == size
    content = json.loads(huge[0].removeprefix(b"data: "))["choices"][0]["delta"]["content"]
    assert set(content) == {"x"}
    data = events(payload)
    assert len(contents(data)) == 4  # the huge one is token 2 of 4
    assert contents(data).index(content) == 2
    assert json.loads(data[-2])["usage"]["completion_tokens"] == 4


def test_no_done_and_no_usage() -> None:
    with serving(no_done=True, no_usage=True) as mock:
        with socket.create_connection((mock.host, mock.port), timeout=10) as sock:
            reader = sock.makefile("rb")
            sock.sendall(request("/v1/chat/completions", STREAM))
            raw = b""
            while not raw.endswith(b"\r\n0\r\n\r\n"):  # ends properly, keep-alive
                raw += reader.read1(1 << 16)
            sock.sendall(request("/v1/chat/completions", CHAT))  # same connection
            head = reader.readline()
        with httpx.Client(base_url=mock.base_url) as client:
            plain = client.post("/chat/completions", json=CHAT).json()
    payload, _, complete = dechunk(split_response(raw)[2])
    data = events(payload)
    assert complete and "[DONE]" not in data
    assert len(contents(data)) == 8 and all("usage" not in d for d in data)
    assert head.startswith(b"HTTP/1.1 200")
    assert "usage" not in plain


def test_endless_keeps_sending() -> None:
    with (
        serving(itl_ms=5, tokens=4, endless=True) as mock,
        httpx.Client(base_url=mock.base_url, timeout=10) as client,
        client.stream("POST", "/chat/completions", json={**STREAM, "max_tokens": 2}) as response,
    ):
        seen = []
        for line in response.iter_lines():
            if '"content":" ' in line:
                seen.append(json.loads(line.removeprefix("data: ")))
            if len(seen) == 30:
                break
    assert all(c["choices"][0]["finish_reason"] is None for c in seen)


# --------------------------------------------------------------------------- load & shape


def test_capacity_queues_beyond_k(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    # times long enough that a busy machine's scheduling noise (tens of ms) cannot blur them
    knobs = {"ttft_ms": 300, "itl_ms": 30, "tokens": 10, "capacity": 2, "log_path": str(log)}

    async def ttft(client: httpx.AsyncClient) -> float:
        start = time.perf_counter()
        first = None
        async with client.stream("POST", "/chat/completions", json=STREAM) as response:
            async for line in response.aiter_lines():  # to the end: leaving frees the slot
                if first is None and '"content":" ' in line:
                    first = time.perf_counter() - start
        assert first is not None
        return first

    async def four(base_url: str) -> list[float]:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            await client.post("/chat/completions", json={**CHAT, "max_tokens": 1})  # warm up
            return sorted(await asyncio.gather(*(ttft(client) for _ in range(4))))

    with serving(**knobs) as mock:
        ttfts = asyncio.run(four(mock.base_url))
    # first two: ttft; last two: ttft + the first two's stream time (300 + 9 * 30 ms)
    assert ttfts[0] == pytest.approx(0.300, abs=0.080)
    assert ttfts[1] == pytest.approx(0.300, abs=0.080)
    assert ttfts[2] == pytest.approx(0.870, abs=0.120)
    assert ttfts[3] == pytest.approx(0.870, abs=0.120)
    rows = truth(log)[1:]
    waits = sorted(r["slot_acquired"] - r["received"] for r in rows)
    assert waits[1] < 0.05 and waits[2] == pytest.approx(0.570, abs=0.080)
    assert all(r["first_token"] - r["slot_acquired"] == pytest.approx(0.3, abs=0.05) for r in rows)


def test_capacity_slot_of_a_client_that_left_is_not_lost() -> None:
    with serving(itl_ms=20, tokens=6, capacity=1) as mock:
        with socket.create_connection((mock.host, mock.port), timeout=10) as holder:
            holder.sendall(request("/v1/chat/completions", STREAM))
            holder.recv(1)
            with socket.create_connection((mock.host, mock.port)) as quitter:
                quitter.sendall(request("/v1/chat/completions", STREAM))  # queued, then leaves
                quitter.recv(1)
            reader = holder.makefile("rb")
            while b"[DONE]" not in reader.readline():
                pass
        with httpx.Client(base_url=mock.base_url, timeout=10) as client:
            start = time.perf_counter()
            client.post("/chat/completions", json=STREAM)
            assert time.perf_counter() - start < 0.100 + 0.080


def test_reasoning_chunks_come_first(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    knobs = {"ttft_ms": 50, "itl_ms": 20, "tokens": 4, "reasoning_tokens": 3}
    knobs["log_path"] = str(log)
    with (
        serving(**knobs) as mock,
        httpx.Client(base_url=mock.base_url, timeout=10) as client,
    ):
        client.post("/chat/completions", json={**CHAT, "max_tokens": 1})  # warm up
        lines = timed_lines(client, STREAM)
        plain = client.post("/chat/completions", json=CHAT).json()
        text = client.post("/completions", json={"model": "mock-model", "prompt": "x"}).json()
    chunks = [(t, json.loads(line)) for t, line in lines if line != "[DONE]"]
    deltas = [(t, c["choices"][0]["delta"]) for t, c in chunks[1:-1]]
    thinking = [d["reasoning_content"] for _, d in deltas[:3]]
    assert thinking == [" think1", " think2", " think3"]
    assert all(set(d) == {"content"} for _, d in deltas[3:]) and len(deltas) == 7
    first, first_content = deltas[0][0], deltas[3][0]
    # never early; late only by scheduling noise (the test client's clock)
    assert 0.045 <= first < 0.110, first  # TTFT: the first reasoning chunk
    assert 0.105 <= first_content < 0.170, first_content  # three 20 ms gaps later
    usage = {
        "prompt_tokens": 4,
        "completion_tokens": 7,
        "total_tokens": 11,
        "completion_tokens_details": {"reasoning_tokens": 3},
    }
    assert chunks[-1][1]["usage"] == usage
    assert plain["usage"] == usage
    assert plain["choices"][0]["message"]["reasoning_content"] == " think1 think2 think3"
    assert text["usage"]["completion_tokens"] == 4  # completions: no reasoning
    row = truth(log)[1]
    assert (row["tokens"], row["reasoning_tokens"]) == (7, 3)
    assert row["first_content"] - row["first_token"] == pytest.approx(0.060, abs=0.010)


def test_litellm_usage_shape() -> None:
    with serving(litellm_usage_shape=True) as mock, httpx.Client(base_url=mock.base_url) as c:
        data = events(c.post("/chat/completions", json=STREAM).content)
    usage = json.loads(data[-2])
    assert usage["choices"] == [{"index": 0, "delta": {}}]
    assert usage["usage"]["completion_tokens"] == 8


# --------------------------------------------------------------------------- config & CLI


def test_config_round_trip_and_validation() -> None:
    config = MockConfig(
        capacity=3, reasoning_tokens=2, stall_ms=5, huge_line_bytes=2048, no_done=True
    )
    assert MockConfig.from_json(config.to_json()) == config
    assert "capacity 3" in str(config) and "stall 5ms" in str(config)
    for bad in (
        {"disconnect_rate": 1.5},
        {"malformed_rate": -0.1},
        {"capacity": 0},
        {"huge_line_bytes": 10},
        {"retry_after_header": "x-retry"},
        {"retry_after": "soon"},
        {"retry_after": "Wed, 21 Oct 2015 07:28:00 GMT", "retry_after_header": "retry-after-ms"},
        {"reasoning_tokens": -1},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            MockConfig(**bad)
