"""wire/transport.py: the lean HTTP/1.1 transport keeps a connection only when its
response ended cleanly and the server allows it. Through the real command line against a
server written here that counts its connections."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import pytest
from conftest import run_cli
from sockserver import SocketServer, read_request

OK = (
    b'data: {"id":"r","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"id":"r","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def _length(extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n%s\r\n%s"
        % (len(OK), extra, OK)
    )


def _chunked() -> bytes:
    half = len(OK) // 2
    body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, OK[:half], len(OK) - half, OK[half:])
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + body
    )


def _keep_alive(answer: bytes) -> Callable[[socket.socket, int], None]:
    def behaviour(sock: socket.socket, _n: int) -> None:
        buf = bytearray()
        while read_request(sock, buf) is not None:
            sock.sendall(answer)
            if b"Connection: close" in answer:
                return

    return behaviour


@pytest.mark.parametrize(
    ("answer", "reused"),
    [
        (_length(), True),
        (_chunked(), True),
        (_length(b"Connection: close\r\n"), False),
    ],
    ids=["content-length", "chunked", "connection-close"],
)
def test_connections_are_reused_only_after_a_clean_keep_alive_answer(
    answer: bytes, reused: bool
) -> None:
    with SocketServer(_keep_alive(answer)) as server:
        done = run_cli(
            "--base-url", server.url, "--model", "m", "-n", "6", "-c", "1", "--retries", "0",
            "-q", "--json", "-",
        )  # fmt: skip
        connections = server.connections
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["requests"]["ok"] == 6
    # preconnect opens the one slot's connection first; reuse keeps it for every request
    assert connections == (1 if reused else 6)


def test_bytes_beyond_the_response_close_the_connection() -> None:
    with SocketServer(_keep_alive(_length() + b"HTTP/1.1 200 OK\r\n")) as server:
        done = run_cli(
            "--base-url", server.url, "--model", "m", "-n", "3", "-c", "1", "--retries", "0",
            "-q", "--json", "-",
        )  # fmt: skip
        connections = server.connections
    assert done.code == 0, done.stderr
    assert connections == 3  # never reused: the stray bytes could be read as the next answer
