"""The lean transport's fast path (`wire/head.py`): the request head encoded once per target.

Through the command line against the raw-socket test server: the exact bytes of each head
(method, path, Host, our headers, the user's --header and the key header, Content-Length),
keep-alive reuse and a server's `Connection: close`, header lookups of the answer (retry
hints, Location) and no secret in any output; a proxied run still goes through httpx
(absolute-form request line) with the same headers. The per-request extra headers a caller
may add (a request id) are checked on a real socket through the transport."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import run_cli
from hostile import good_reply, hostile_server, sse_body
from sockserver import SocketServer, read_request

from llmbench_async import __version__
from llmbench_async.wire.connection import Exchange
from llmbench_async.wire.head import RawHeaders, RequestHead
from llmbench_async.wire.transport import LeanTransport

KEY = "sk-fastpath-0123456789abcdefXYZ"


def _records(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [x for x in lines if x["type"] == "request"]


def _expected_head(port: int, body: bytes, *extra: str) -> bytes:
    lines = [
        "POST /v1/chat/completions HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {KEY}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        "Accept-Encoding: identity",
        f"User-Agent: llmbench-async/{__version__}",
        *extra,
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_every_head_is_exact_and_one_keep_alive_connection_serves_them(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with hostile_server([]) as (url, seen):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        res = run_cli(
            "--base-url", url, "--model", "m", "-n", "4", "-c", "1", "--api-key", KEY,
            "-H", "X-Custom: v1", "-H", "x-team: blue", "--max-tokens", "8", "-o", str(out),
        )  # fmt: skip
    assert res.code == 0, res.stderr
    assert len(seen.requests) == 4
    records = _records(out)
    ids = {r["request_id"] for r in records}
    for _number, head, body in seen.requests:
        found = re.search(rb"\r\nX-Request-Id: ([0-9a-f]{32})\r\n", head)
        assert found is not None and found.group(1).decode() in ids  # this request's own id
        rid = f"X-Request-Id: {found.group(1).decode()}"
        assert head == _expected_head(port, body, "X-Custom: v1", "x-team: blue", rid)
        assert json.loads(body)["model"] == "m"  # the whole body, as its length says
    assert len(ids) == 4  # unique per request
    assert {number for number, _, _ in seen.requests} == {1}  # one connection, reused
    assert seen.connections == 1
    assert [r["new_connection"] for r in records] == [False] * 4  # preconnected, then reused
    assert all(r["error_kind"] is None for r in records)


def test_user_header_replaces_ours_and_content_length_is_always_the_bodys(tmp_path: Path) -> None:
    with hostile_server([]) as (url, seen):
        res = run_cli(
            "--base-url", url, "--model", "m", "-n", "2", "-c", "1", "--api-key", KEY,
            "-H", "user-agent: probe/1", "--max-tokens", "8",
        )  # fmt: skip
    assert res.code == 0, res.stderr
    for _number, head, body in seen.requests:
        lines = head.decode().split("\r\n")
        assert "user-agent: probe/1" in lines
        assert not any(x.startswith("User-Agent: llmbench") for x in lines)
        lengths = [x for x in lines if x.lower().startswith("content-length:")]
        assert lengths == [f"Content-Length: {len(body)}"]


def _closing_reply(sock: socket.socket) -> None:
    body = sse_body()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    sock.shutdown(socket.SHUT_WR)


def test_a_server_closing_after_its_answer_gets_the_next_request_on_a_new_connection(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r.jsonl"
    with hostile_server([_closing_reply]) as (url, seen):
        res = run_cli(
            "--base-url", url, "--model", "m", "-n", "3", "-c", "1", "--no-preconnect",
            "--max-tokens", "8", "-o", str(out),
        )  # fmt: skip
    assert res.code == 0, res.stderr
    assert [number for number, _, _ in seen.requests] == [1, 2, 2]
    records = sorted(_records(out), key=lambda r: r["index"])
    assert [r["new_connection"] for r in records] == [True, True, False]
    assert all(r["error_kind"] is None for r in records)


def test_answer_headers_are_read_and_no_secret_the_server_echoes_is_shown(tmp_path: Path) -> None:
    busy = (
        f"HTTP/1.1 429 Too Many Requests\r\nRetry-After-Ms: 10\r\nX-Echo: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(KEY) + 24}\r\n\r\n"
        f'{{"error":{{"message":"{KEY}"}}}}'
    ).encode()
    moved = f"HTTP/1.1 307 Moved\r\nLocation: http://127.0.0.1:9/v2?key={KEY}\r\n"
    moved += "Content-Length: 0\r\n\r\n"
    out = tmp_path / "r.jsonl"
    with hostile_server([busy, good_reply(), moved.encode()]) as (url, seen):
        res = run_cli(
            "--base-url", url, "--model", "m", "-n", "2", "-c", "1", "--api-key", KEY,
            "--max-tokens", "8", "-o", str(out), "--json", str(tmp_path / "s.json"),
        )  # fmt: skip
    everything = res.stdout + res.stderr + out.read_text() + (tmp_path / "s.json").read_text()
    assert KEY not in everything and KEY[5:] not in everything
    records = sorted(_records(out), key=lambda r: r["index"])
    assert records[0]["error_kind"] is None and records[0]["retry_causes"] == ["http_429"]
    assert records[1]["error_kind"] == "redirect"
    assert "http://127.0.0.1:9/v2" in records[1]["error_message"]  # the Location, read
    assert len(seen.requests) == 3


def test_a_proxied_run_goes_through_httpx_with_the_same_headers(tmp_path: Path) -> None:
    """The proxy here is the test server itself: it answers the absolute-form request."""
    with hostile_server([]) as (direct_url, direct):
        res = run_cli(
            "--base-url", direct_url, "--model", "m", "-n", "1", "--api-key", KEY,
            "-H", "X-Custom: v1", "--max-tokens", "8",
        )  # fmt: skip
        assert res.code == 0, res.stderr
        with hostile_server([]) as (proxy_url, proxied):
            proxy = proxy_url.rsplit("/", 1)[0]
            res = run_cli(
                "--base-url", direct_url, "--model", "m", "-n", "1", "--api-key", KEY,
                "-H", "X-Custom: v1", "--max-tokens", "8", "--proxy", proxy,
            )  # fmt: skip
    assert res.code == 0, res.stderr
    assert "via proxy" in res.stdout
    posts = [head for _, head, _ in proxied.requests if head.startswith(b"POST")]
    assert len(posts) == 1 and len(direct.requests) == 1
    line, _, rest = posts[0].partition(b"\r\n")
    assert line == f"POST {direct_url}/chat/completions HTTP/1.1".encode()
    unique = re.compile(rb"X-Request-Id: [0-9a-f]{32}")  # each request's own id
    assert unique.sub(b"ID", rest) == unique.sub(b"ID", direct.requests[0][1].partition(b"\r\n")[2])


def test_per_request_extra_headers_follow_the_fixed_ones_on_the_wire() -> None:
    heads: list[bytes] = []

    def serve(sock: socket.socket, _number: int) -> None:
        buf = bytearray()
        while (request := read_request(sock, buf)) is not None:
            heads.append(request[0])
            sock.sendall(b"HTTP/1.1 204 No Content\r\nX-Multi: a\r\nx-multi: b\r\n\r\n")

    async def send_two(url: str) -> list[str | None]:
        transport = LeanTransport()
        template = RequestHead(httpx.URL(url + "/v1/x?q=1"), {"Authorization": "Bearer k"})
        assert template.origin is not None
        seen = []
        for rid in (b"r-1", b"r-2"):
            head = template.encode(2, [(b"X-Request-Id", rid)])
            answer = await transport.send_encoded(template.origin, head, b"{}", Exchange(), 5.0)
            seen.append(answer.headers.get("X-MULTI"))
            await answer.aclose()
        await transport.aclose()
        return seen

    with SocketServer(serve) as server:
        port = server.port
        multi = asyncio.run(send_two(server.url))
        assert server.connections == 1
    for rid, head in zip(("r-1", "r-2"), heads, strict=True):
        assert (
            head
            == (
                f"POST /v1/x?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer k\r\n"
                f"X-Request-Id: {rid}\r\nContent-Length: 2\r\n\r\n"
            ).encode()
        )
    assert multi == ["a, b", "a, b"]


@pytest.mark.parametrize(
    ("raw", "name", "want"),
    [
        ([(b"Content-Type", b"text/event-stream")], "content-type", "text/event-stream"),
        ([(b"Location", "/ü".encode())], "LOCATION", "/ü"),
        ([(b"X", b"\xff")], "x", "\xff"),
        ([], "retry-after", None),
    ],
)
def test_raw_headers_look_up_as_httpx_does(
    raw: list[tuple[bytes, bytes]], name: str, want: str | None
) -> None:
    assert RawHeaders(raw).get(name) == want
    assert httpx.Headers(raw).get(name) == want


def test_a_key_the_stream_echoes_as_its_id_or_model_is_in_no_output(tmp_path: Path) -> None:
    events = [
        {"id": KEY, "model": f"m-{KEY}", "choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {"id": KEY, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    with hostile_server([good_reply(body + b"data: [DONE]\n\n")] * 2) as (url, _seen):
        res = run_cli(
            "--base-url", url, "--model", "m", "-n", "2", "-c", "1", "--api-key", KEY,
            "--max-tokens", "8", "-o", str(out), "--json", str(summary),
        )  # fmt: skip
    everything = res.stdout + res.stderr + out.read_text() + summary.read_text()
    assert KEY not in everything and KEY[5:20] not in everything
    records = _records(out)  # still whole JSON lines, every record there
    assert len(records) == 2
    assert all(r["response_id"] is not None and KEY[5:20] not in r["response_id"] for r in records)
