"""mock/events.py: the chat and completions events of a plan (content, usage, reasoning, shapes).
Each checked over real loopback sockets."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from mockwire import (
    CHAT,
    STREAM,
    Response,
    connect,
    contents,
    dechunk,
    events,
    on_time,
    post,
    request,
    serving,
    split_response,
    sse_data,
    timed_lines,
    truth,
)

from llmbench_async.mock import MockProcess


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
    assert on_time(row["first_token"] - row["received"], 0.050)
    assert on_time(row["first_content"] - row["received"], 0.050 + 3 * 0.020)


def test_litellm_usage_shape() -> None:
    with serving(litellm_usage_shape=True) as mock, httpx.Client(base_url=mock.base_url) as c:
        data = events(c.post("/chat/completions", json=STREAM).content)
    usage = json.loads(data[-2])
    assert usage["choices"] == [{"index": 0, "delta": {}}]
    assert usage["usage"]["completion_tokens"] == 8
