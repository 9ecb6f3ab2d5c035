"""mock/messages.py: the Anthropic Messages API's events and errors.
Each checked over real loopback sockets."""

from __future__ import annotations

import json

import httpx
from mockwire import (
    ANTHROPIC,
    MESSAGE,
    named_events,
    origin,
)

from llmbench_async.mock import MockConfig, MockProcess


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


def test_huge_line_is_exact_in_named_events() -> None:
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=4, huge_line_bytes=200_000)
    with MockProcess(config) as mock:
        response = httpx.post(f"{origin(mock)}/v1/messages", headers=ANTHROPIC, json=MESSAGE)
    lines = [line for line in response.text.split("\n") if len(line) > 1000]
    assert [len(line) for line in lines] == [200_000]
    assert lines[0].startswith('data: {"type":"content_block_delta"')
    assert json.loads(lines[0].removeprefix("data: "))["delta"]["text"].startswith("xxx")
