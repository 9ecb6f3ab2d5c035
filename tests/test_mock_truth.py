"""mock/truth.py: the truth log of what the server did, on the client's clock.
Each checked over real loopback sockets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from mockwire import (
    CHAT,
    on_time,
    sse_data,
)

from llmbench_async.mock import MockConfig, MockProcess


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
    assert on_time(streamed["first_token"] - streamed["received"], 0.050)
    assert on_time(streamed["last_token"] - streamed["received"], 0.075)
    assert (streamed["tokens"], streamed["prompt_tokens"], streamed["status"]) == (6, 3, 200)
    assert streamed["path"] == "/v1/chat/completions"
    assert plain["path"] == "/v1/completions"
    assert on_time(plain["last_token"] - plain["received"], 0.075)
    assert (missing["status"], missing["tokens"], missing["first_token"]) == (404, 0, None)


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
