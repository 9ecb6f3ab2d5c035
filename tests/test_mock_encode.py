"""mock/encode.py: whole bodies, embeddings and gzip, per API.
Each checked over real loopback sockets."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import math
import struct
import time
from pathlib import Path

import httpx
from mockwire import (
    CHAT,
    USER_MESSAGES,
    on_time,
    origin,
    raw,
    truth,
)

from llmbench_async.mock import MockConfig, MockProcess


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


def test_gzip_whole_bodies_and_errors() -> None:
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=5, gzip=True)
    with MockProcess(config) as mock, httpx.Client(base_url=mock.base_url, timeout=10) as client:
        chat = client.post(
            "/chat/completions", json={"model": "mock-model", "messages": USER_MESSAGES}
        )
        bad = client.post("/chat/completions", json={"model": "nope", "messages": USER_MESSAGES})
        body = json.dumps({"model": "mock-model", "messages": USER_MESSAGES}).encode()
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
    body = {"model": "mock-model", "messages": USER_MESSAGES, "stream": True}
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
    assert on_time(rows[1]["last_token"] - rows[1]["received"], 0.080)
    assert rows[4]["status"] == 400
