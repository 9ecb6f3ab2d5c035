"""mock/http.py: the HTTP/1.1 connection: keep-alive, pipelining, fragments, malformed
requests, HTTP/1.0.
Each checked over real loopback sockets."""

from __future__ import annotations

import json
import time

from mockwire import (
    CHAT,
    Response,
    connect,
    post,
    sse_data,
)

from llmbench_async.mock import MockProcess


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
