"""mock/writers.py: a plan written at its instants, and the mid-stream faults.
Each checked over real loopback sockets."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mockwire import (
    ANTHROPIC,
    BROKEN,
    CHAT,
    MESSAGE,
    STREAM,
    USER_MESSAGES,
    connect,
    contents,
    dechunk,
    events,
    origin,
    post,
    raw_exchange,
    request,
    serving,
    split_response,
    timed_lines,
    truth,
)

from llmbench_async.mock import MockConfig, MockProcess


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


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "/v1/messages",
            MESSAGE,
            'event: error\ndata: {"type":"error","error":{"type":"overloaded',
        ),
        (
            "/v1/responses",
            {"model": "mock-model", "input": "x", "stream": True},
            'event: error\ndata: {"type":"error","sequence_number":7,"code":"server_error"',
        ),
        (
            "/v1/chat/completions",
            {"model": "mock-model", "messages": USER_MESSAGES, "stream": True},
            'data: {"error":{"message":"Injected mid-stream error."',
        ),
    ],
)
def test_error_event_ends_the_stream(
    tmp_path: Path, path: str, body: dict[str, Any], error: str
) -> None:
    log = tmp_path / "truth.jsonl"
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=6, error_event_rate=1.0, log_path=str(log))
    with MockProcess(config) as mock:
        response = httpx.post(f"{origin(mock)}{path}", headers=ANTHROPIC, json=body, timeout=10)
    text = response.text
    assert response.status_code == 200 and text.count(error) == 1, text
    assert text.endswith("\n\n") and text.index(error) > 0
    assert "message_stop" not in text and "response.completed" not in text and "[DONE]" not in text
    assert text.count(" brown") == 1 and text.count(" fox") == 0  # 3 of 6 tokens, then the error
    row = truth(log)[0]
    assert row["fault"] == "error_event" and row["tokens"] == 3
