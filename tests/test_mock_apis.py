"""The mock server's other shapes over real loopback sockets: Azure paths and keys, gzip,
the Responses, Anthropic Messages and embeddings APIs, and the error-event fault."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import math
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmbench_async.mock import MockConfig, MockProcess

MESSAGES = [{"role": "user", "content": "one two three"}]
AZURE = "/openai/deployments/{}/chat/completions?api-version=2024-10-21"


@pytest.fixture(scope="module")
def keyed() -> Iterator[MockProcess]:
    """An instant server that wants the key `sekret`, serving gpt-4o and mock-model."""
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=6, auth_key="sekret", models=("gpt-4o", "m"))
    with MockProcess(config) as mock:
        yield mock


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


def sse_data(text: str) -> list[Any]:
    """The JSON `data:` payloads of an SSE body ([DONE] left out)."""
    lines = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data:")]
    return [json.loads(d) for d in lines if d != "[DONE]"]


# --------------------------------------------------------------------------- Azure & keys


def test_azure_deployment_path_query_and_api_key(keyed: MockProcess) -> None:
    with httpx.Client(base_url=origin(keyed), timeout=10) as client:
        ok = client.post(
            AZURE.format("gpt-4o"),
            headers={"api-key": "sekret"},
            json={"messages": MESSAGES, "max_completion_tokens": 3},
        )
        streamed = client.post(
            AZURE.format("gpt-4o"),
            headers={"api-key": "sekret"},
            json={"messages": MESSAGES, "stream": True},
        )
        text = client.post(
            "/openai/deployments/m/completions?api-version=2024-10-21",
            headers={"api-key": "sekret"},
            json={"prompt": "a b", "max_tokens": 2},
        )
        wrong = client.post(AZURE.format("gpt-4o"), headers={"api-key": "nope"}, json={})
        missing = client.post(
            AZURE.format("gpt-5"), headers={"api-key": "sekret"}, json={"messages": MESSAGES}
        )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["model"] == "gpt-4o"  # the deployment names the model
    assert body["choices"][0]["finish_reason"] == "length"  # max_completion_tokens honoured
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    chunks = sse_data(streamed.text)
    assert streamed.headers["content-type"] == "text/event-stream"
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) == 6
    assert text.json()["object"] == "text_completion"
    assert text.json()["usage"]["completion_tokens"] == 2
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    "header", ["Authorization: Bearer sekret", "authorization: bearer sekret", "x-api-key: sekret"]
)
def test_key_headers_beside_bearer(keyed: MockProcess, header: str) -> None:
    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n{header}\r\n"
    head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    assert raw(keyed, head, body).startswith(b"HTTP/1.1 200 OK\r\n")


def test_any_prefix_and_query_string_are_tolerated(keyed: MockProcess) -> None:
    with httpx.Client(base_url=origin(keyed), timeout=10) as client:
        headers = {"authorization": "Bearer sekret"}
        models = client.get("/proxy/v1/models?x=1", headers=headers)
        chat = client.post(
            "/gateway/abc/v1/chat/completions?trace=1",
            headers=headers,
            json={"model": "m", "messages": MESSAGES},
        )
        unknown = client.post("/v1/chat/complete", headers=headers, json={})
    assert [m["id"] for m in models.json()["data"]] == ["gpt-4o", "m"]
    assert chat.status_code == 200 and chat.json()["model"] == "m"
    assert unknown.status_code == 404


# --------------------------------------------------------------------------- gzip


def test_gzip_whole_bodies_and_errors() -> None:
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=5, gzip=True)
    with MockProcess(config) as mock, httpx.Client(base_url=mock.base_url, timeout=10) as client:
        chat = client.post("/chat/completions", json={"model": "mock-model", "messages": MESSAGES})
        bad = client.post("/chat/completions", json={"model": "nope", "messages": MESSAGES})
        body = json.dumps({"model": "mock-model", "messages": MESSAGES}).encode()
        head = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\naccept-encoding: identity\r\n"
        head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        response = raw(mock, head, body)
    assert chat.headers["content-encoding"] == "gzip"
    assert chat.json()["usage"]["completion_tokens"] == 5  # httpx decoded it
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "model_not_found"
    head_bytes, _, payload = response.partition(b"\r\n\r\n")
    assert b"content-encoding: gzip" in head_bytes  # even when identity was asked for
    assert json.loads(gzip.decompress(payload))["model"] == "mock-model"


def test_gzip_stream_events_arrive_as_written() -> None:
    """Each write is sync-flushed: a decoder sees every token at its own instant."""
    config = MockConfig(ttft_ms=50, itl_ms=60, tokens=5, gzip=True)
    body = {"model": "mock-model", "messages": MESSAGES, "stream": True}
    body["stream_options"] = {"include_usage": True}
    with MockProcess(config) as mock, httpx.Client(base_url=mock.base_url, timeout=10) as client:
        client.post("/chat/completions", json={**body, "stream": False})  # warm up
        arrivals: list[tuple[float, str]] = []
        start = time.perf_counter()
        with client.stream("POST", "/chat/completions", json=body) as response:
            assert response.headers["content-encoding"] == "gzip"
            for line in response.iter_lines():
                if line:
                    arrivals.append((time.perf_counter() - start, line))
    data = [line.removeprefix("data: ") for _, line in arrivals]
    assert data[-1] == "[DONE]"
    assert json.loads(data[-2])["usage"]["completion_tokens"] == 5
    tokens = [t for t, line in arrivals if '"content":" ' in line]
    assert len(tokens) == 5
    assert 0.045 <= tokens[0] < 0.110, tokens  # never early; late only by scheduling noise
    gaps = [b - a for a, b in itertools.pairwise(tokens)]
    assert all(0.040 <= g <= 0.090 for g in gaps), gaps


# --------------------------------------------------------------------------- Responses, Messages


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


def truth(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_responses_stream_events_usage_and_timing(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    config = MockConfig(ttft_ms=100, itl_ms=20, tokens=6, reasoning_tokens=2, log_path=str(log))
    body = {"model": "mock-model", "input": [{"role": "user", "content": "a b c"}], "stream": True}
    with MockProcess(config) as mock, httpx.Client(base_url=origin(mock), timeout=10) as client:
        full = client.post("/v1/responses", json=body)
        cut = client.post("/v1/responses", json={**body, "max_output_tokens": 3})
        whole = client.post("/v1/responses", json={**body, "stream": False, "instructions": "x"})
    events = named_events(full.text)
    names = [name for name, _ in events]
    assert names[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert names.count("response.reasoning_text.delta") == 2
    assert names.count("response.output_text.delta") == 6
    assert names[-1] == "response.completed" and "data: [DONE]" not in full.text
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(data["type"] == name for name, data in events)
    text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    final = events[-1][1]["response"]
    assert final["status"] == "completed"
    assert final["output"][-1]["content"][0]["text"] == text
    usage = {"input_tokens": 3, "output_tokens": 8, "total_tokens": 11}
    assert {k: final["usage"][k] for k in usage} == usage
    assert final["usage"]["output_tokens_details"] == {"reasoning_tokens": 2}
    cut_events = named_events(cut.text)
    assert [n for n, _ in cut_events].count("response.output_text.delta") == 3
    assert cut_events[-1][0] == "response.incomplete"
    assert cut_events[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert whole.json()["usage"]["input_tokens"] == 4  # "a b c" and the instructions
    rows = truth(log)
    assert [r["path"] for r in rows] == ["/v1/responses"] * 3
    assert rows[0]["tokens"] == 8 and rows[0]["reasoning_tokens"] == 2
    assert rows[0]["first_token"] - rows[0]["received"] == pytest.approx(0.100, abs=0.020)
    assert rows[0]["last_token"] - rows[0]["first_token"] == pytest.approx(0.140, abs=0.020)


MESSAGE = {
    "model": "mock-model",
    "system": "be brief",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}],
    "max_tokens": 100,
    "stream": True,
}
ANTHROPIC = {"x-api-key": "sekret", "anthropic-version": "2023-06-01"}


def test_messages_stream_headers_and_errors(keyed: MockProcess) -> None:
    message = {**MESSAGE, "model": "m"}
    with httpx.Client(base_url=origin(keyed), timeout=10) as client:
        ok = client.post("/v1/messages", headers=ANTHROPIC, json=message)
        capped = client.post("/v1/messages", headers=ANTHROPIC, json={**message, "max_tokens": 2})
        whole = client.post("/v1/messages", headers=ANTHROPIC, json={**message, "stream": False})
        no_version = client.post("/v1/messages", headers={"x-api-key": "sekret"}, json=message)
        wrong_key = client.post(
            "/v1/messages", headers={**ANTHROPIC, "x-api-key": "nope"}, json=message
        )
        no_limit = dict(message)
        del no_limit["max_tokens"]
        unlimited = client.post("/v1/messages", headers=ANTHROPIC, json=no_limit)
    events = named_events(ok.text)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert len(deltas) == 6 and all(d["type"] == "text_delta" for d in deltas)
    assert events[0][1]["message"]["usage"]["input_tokens"] == 4  # system + message words
    assert events[-2][1]["usage"]["output_tokens"] == 6
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert named_events(capped.text)[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert whole.json()["content"] == [{"type": "text", "text": " the quick brown fox jumps over"}]
    assert whole.json()["usage"] == {"input_tokens": 4, "output_tokens": 6}
    for response, status, kind in (
        (no_version, 400, "invalid_request_error"),
        (wrong_key, 401, "authentication_error"),
        (unlimited, 400, "invalid_request_error"),
    ):
        assert response.status_code == status
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == kind


def test_messages_thinking_block_comes_first() -> None:
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=3, reasoning_tokens=2)
    with MockProcess(config) as mock:
        response = httpx.post(
            f"{origin(mock)}/v1/messages", headers=ANTHROPIC, json=MESSAGE, timeout=10
        )
    events = named_events(response.text)
    blocks = [
        (d["index"], d["content_block"]["type"]) for n, d in events if n == "content_block_start"
    ]
    assert blocks == [(0, "thinking"), (1, "text")]
    deltas = [(d["index"], d["delta"]["type"]) for n, d in events if n == "content_block_delta"]
    assert deltas == [(0, "thinking_delta")] * 2 + [(1, "text_delta")] * 3
    assert events[-2][1]["usage"]["output_tokens"] == 5


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
            {"model": "mock-model", "messages": MESSAGES, "stream": True},
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


def test_huge_line_is_exact_in_named_events() -> None:
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=4, huge_line_bytes=200_000)
    with MockProcess(config) as mock:
        response = httpx.post(f"{origin(mock)}/v1/messages", headers=ANTHROPIC, json=MESSAGE)
    lines = [line for line in response.text.split("\n") if len(line) > 1000]
    assert [len(line) for line in lines] == [200_000]
    assert lines[0].startswith('data: {"type":"content_block_delta"')
    assert json.loads(lines[0].removeprefix("data: "))["delta"]["text"].startswith("xxx")


# --------------------------------------------------------------------------- embeddings


def test_embeddings_batch_usage_latency_and_truth_log(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    config = MockConfig(ttft_ms=500, embedding_ms=80, embedding_dims=8, log_path=str(log))
    with MockProcess(config) as mock, httpx.Client(base_url=mock.base_url, timeout=10) as client:
        client.post("/embeddings", json={"model": "mock-model", "input": "warm"})
        start = time.perf_counter()
        batch = client.post(
            "/embeddings", json={"model": "mock-model", "input": ["one two", "three", "4 5 6"]}
        )
        elapsed = time.perf_counter() - start
        single = client.post(
            "/embeddings",
            json={
                "model": "mock-model",
                "input": "a b",
                "dimensions": 3,
                "encoding_format": "base64",
            },
        )
        azure = client.post(
            f"{origin(mock)}/openai/deployments/mock-model/embeddings?api-version=2024-10-21",
            json={"input": [[1, 2, 3], [4, 5]]},
        )
        bad = client.post("/embeddings", json={"model": "mock-model", "input": []})
    assert 0.078 <= elapsed < 1.0  # never early; the exact figure is in the truth log below
    data = batch.json()
    assert [d["index"] for d in data["data"]] == [0, 1, 2]
    assert all(len(d["embedding"]) == 8 for d in data["data"])
    assert math.isclose(sum(v * v for v in data["data"][0]["embedding"]), 1.0, rel_tol=1e-4)
    assert data["usage"] == {"prompt_tokens": 6, "total_tokens": 6}
    vector = struct.unpack("<3f", base64.b64decode(single.json()["data"][0]["embedding"]))
    assert len(vector) == 3
    assert azure.json()["usage"]["prompt_tokens"] == 5 and len(azure.json()["data"]) == 2
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "input"
    rows = truth(log)
    assert [r["inputs"] for r in rows[:4]] == [1, 3, 1, 2]
    assert rows[1]["tokens"] == 0 and rows[1]["prompt_tokens"] == 6
    assert rows[1]["last_token"] - rows[1]["received"] == pytest.approx(0.080, abs=0.015)
    assert rows[4]["status"] == 400
