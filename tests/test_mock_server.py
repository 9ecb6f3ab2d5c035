"""mock/server.py: `serve` in this process, leaving no task behind.
Each checked over real loopback sockets."""

from __future__ import annotations

import json
import socket

import httpx
from mockwire import (
    CHAT,
    in_process,
    post,
    sse_data,
)

from llmbench_async.mock import MockConfig


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
