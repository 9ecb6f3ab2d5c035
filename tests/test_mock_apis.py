"""The mock server's other shapes: Azure paths and keys, gzip, over real loopback sockets."""

from __future__ import annotations

import gzip
import itertools
import json
import socket
import time
from collections.abc import Iterator
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
    assert tokens[0] == pytest.approx(0.050, abs=0.030)
    gaps = [b - a for a, b in itertools.pairwise(tokens)]
    assert all(0.040 <= g <= 0.090 for g in gaps), gaps
