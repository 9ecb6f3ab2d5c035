"""The real CLI against hostile raw-socket servers: each framing fault, odd response or slow
head ends in the right result or a named error, one JSONL line per request, no hang past the
timeouts, and a healthy pool (the next request on it succeeds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from hostile import (
    Reply,
    chunked,
    dripped,
    good_reply,
    gzip_reply,
    hostile_server,
    sse_body,
)

KEY = "sk-hostile-secret-0123456789"


def _run(
    replies: list[Reply], tmp_path: Path, *args: str, n: int = 2
) -> tuple[int, str, list[dict[str, Any]], int]:
    """Run the CLI (n requests, one at a time, no retries) against the scripted server;
    returns exit code, stderr, the JSONL request lines and the connections the server saw."""
    out = tmp_path / "r.jsonl"
    with hostile_server(replies) as (url, seen):
        res = run_cli(
            "--base-url", url, "--model", "m", "--api-key", KEY, "-n", str(n), "-c", "1",
            "--retries", "0", "--timeout", "20", "--read-timeout", "5", "-q", "-o", str(out),
            *args,
            timeout=60,
        )  # fmt: skip
        connections = seen.connections
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    assert KEY not in res.stdout + res.stderr + (out.read_text() if out.exists() else "")
    return res.code, res.stderr, [x for x in lines if x["type"] == "request"], connections


HEAD = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
BODY = sse_body()

FRAMING: list[tuple[str, bytes, str]] = [
    ("negative_length", f"{HEAD}Content-Length: -5\r\n\r\n".encode() + BODY, "Content-Length"),
    (
        "duplicate_length",
        f"{HEAD}Content-Length: {len(BODY)}\r\nContent-Length: 5\r\n\r\n".encode() + BODY,
        "Duplicate Content-Length",
    ),
    ("signed_length", f"{HEAD}Content-Length: +5\r\n\r\n".encode() + BODY, "Content-Length"),
    (
        "bare_lf_head",
        b"HTTP/1.1 200 OK\nContent-Type: text/event-stream\n"
        + f"Content-Length: {len(BODY)}\n\n".encode()
        + BODY,
        "CR",
    ),
    (
        "transfer_encoding_notchunked",
        f"{HEAD}Transfer-Encoding: notchunked\r\n\r\n".encode() + BODY,
        "Transfer-Encoding",
    ),
    (
        "obs_fold",
        f"{HEAD}X-Folded: a\r\n b\r\nContent-Length: {len(BODY)}\r\n\r\n".encode() + BODY,
        "header",
    ),
    (
        "hex_prefixed_chunk_size",
        f"{HEAD}Transfer-Encoding: chunked\r\n\r\n0x{len(BODY):x}\r\n".encode()
        + BODY
        + b"\r\n0\r\n\r\n",
        "chunk size",
    ),
    (
        "length_and_chunked",
        f"{HEAD}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunked(BODY),
        "",
    ),
]


@pytest.mark.parametrize(("name", "reply", "named"), FRAMING, ids=[c[0] for c in FRAMING])
def test_framing_fault_is_a_protocol_error_and_the_pool_stays_healthy(
    name: str, reply: bytes, named: str, tmp_path: Path
) -> None:
    code, err, records, connections = _run([reply, good_reply()], tmp_path)
    assert len(records) == 2
    bad, good = records
    assert bad["end_ns"] - bad["send_ns"] < 2e9  # at once: no wait for the 5 s read timeout
    assert bad["error_kind"] == "protocol", bad
    assert "invalid response framing" in bad["error_message"]
    assert named in bad["error_message"]
    # the faulty connection was closed, never reused: the next request succeeds on a new one
    assert good["error_kind"] is None, good
    assert good["new_connection"] is True
    assert connections == 2
    assert code == 0, err


def test_unread_bytes_after_a_response_never_return_to_the_pool(tmp_path: Path) -> None:
    # a response followed by bytes nobody asked for: reusing the connection would desync
    smuggled = good_reply() + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    code, _err, records, connections = _run([smuggled, good_reply()], tmp_path)
    assert [r["error_kind"] for r in records] == [None, None]
    assert records[1]["new_connection"] is True and connections == 2
    assert code == 0


def test_a_clean_keep_alive_response_reuses_the_connection(tmp_path: Path) -> None:
    code, _err, records, connections = _run(
        [good_reply(), good_reply()], tmp_path, "--no-preconnect"
    )
    assert code == 0 and [r["error_kind"] for r in records] == [None, None]
    assert [r["new_connection"] for r in records] == [True, False]
    assert records[0]["connect_ns"] > 0 and records[1]["connect_ns"] == 0
    assert connections == 1


def test_gzip_streamed_and_whole_bodies_are_decoded(tmp_path: Path) -> None:
    code, err, records, _ = _run([gzip_reply(BODY), gzip_reply(BODY)], tmp_path)
    assert code == 0, err
    assert [r["output_events"] for r in records] == [2, 2]
    whole = json.dumps(
        {
            "id": "c2",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"content": "hello"}, "finish_reason": "stop"}],
            "usage": {"completion_tokens": 7, "prompt_tokens": 3},
        }
    ).encode()
    code, err, records, _ = _run(
        [gzip_reply(whole, "application/json")], tmp_path, "--no-stream", n=1
    )
    assert code == 0, err
    assert records[0]["output_tokens"] == 7 and records[0]["token_source"] == "usage"


def _plain(status: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def test_a_json_error_with_200_is_named_with_its_content_type(tmp_path: Path) -> None:
    body = json.dumps({"error": {"message": f"quota exceeded for key {KEY}"}}).encode()
    code, err, records, _ = _run([_plain("200 OK", "application/json", body)], tmp_path, n=1)
    assert code == 3
    rec = records[0]
    assert rec["error_kind"] == "not_sse"
    assert "application/json" in rec["error_message"]
    assert "quota exceeded" in rec["error_message"]
    assert KEY not in err


def test_an_html_page_is_called_a_login_or_captive_portal(tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><html><body>" + b"Please sign in. " * 100 + b"</body></html>"
    code, _err, records, _ = _run([_plain("200 OK", "text/html", page)], tmp_path, n=1)
    assert code == 3
    message = records[0]["error_message"]
    assert records[0]["error_kind"] == "not_sse"
    assert "got an HTML page (a login or captive portal?)" in message
    assert "text/html" in message
    excerpt = message.split("portal?): ", 1)[1]
    assert 0 < len(excerpt) <= 200


def test_a_whole_completion_despite_stream_counts_with_non_streamed_timing(
    tmp_path: Path,
) -> None:
    body = json.dumps(
        {
            "id": "c3",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"content": "hi there"}, "finish_reason": "stop"}],
            "usage": {"completion_tokens": 2, "prompt_tokens": 5},
        }
    ).encode()
    reply = _plain("200 OK", "application/json", body)
    code, err, records, _ = _run([reply, reply], tmp_path)
    assert code == 0, err
    for rec in records:
        assert rec["error_kind"] is None
        assert rec["first_token_ns"] is None  # no TTFT: nothing was streamed
        assert rec["output_tokens"] == 2
        assert "whole completion" in rec["note"]


ERROR_EVENTS: list[tuple[str, bytes]] = [
    ("event_error_flat", b'event: error\ndata: {"message": "engine overloaded", "code": 529}\n\n'),
    ("data_error_object", b'data: {"error": {"message": "engine overloaded"}}\n\n'),
    ("flat_message_code", b'data: {"message": "engine overloaded", "code": "overloaded"}\n\n'),
    (
        "anthropic_error",
        b'data: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "engine overloaded"}}\n\n',
    ),
]


@pytest.mark.parametrize(("name", "event"), ERROR_EVENTS, ids=[c[0] for c in ERROR_EVENTS])
def test_every_mid_stream_error_shape_fails_with_the_servers_message(
    name: str, event: bytes, tmp_path: Path
) -> None:
    first = b'data: {"choices": [{"delta": {"content": "a"}, "finish_reason": null}]}\n\n'
    code, _err, records, _ = _run([good_reply(first + event), good_reply()], tmp_path)
    assert records[0]["error_kind"] == "bad_stream"
    assert "engine overloaded" in records[0]["error_message"]
    assert records[1]["error_kind"] is None
    assert code == 0


@pytest.mark.parametrize("status", [301, 307, 308])
def test_a_redirect_is_not_followed_and_suggests_the_base_url(status: int, tmp_path: Path) -> None:
    location = "https://user:hunter2pass@api.example.com/v2/chat/completions"
    reply = _plain(f"{status} Moved", "text/plain", b"moved", f"Location: {location}\r\n")
    code, err, records, _ = _run([reply], tmp_path, n=1)
    assert code == 3
    rec = records[0]
    assert rec["error_kind"] == "redirect" and rec["status"] == status
    assert "api.example.com/v2/chat/completions" in rec["error_message"]
    assert "try --base-url https://***@api.example.com/v2" in rec["error_message"]
    assert "hunter2pass" not in rec["error_message"] + err


def test_a_head_sent_byte_by_byte_is_not_a_read_timeout(tmp_path: Path) -> None:
    reply = good_reply()
    pieces = [reply[:1], reply[1:2], reply[2:3], reply[3:20], reply[20:]]
    code, err, records, _ = _run([dripped(pieces, 1.0)], tmp_path, "--read-timeout", "2", n=1)
    assert code == 0, err
    rec = records[0]
    assert rec["error_kind"] is None
    assert rec["headers_ns"] - rec["send_ns"] >= 3.5e9  # longer than the read timeout in all


def test_interim_102_responses_reset_the_read_timeout(tmp_path: Path) -> None:
    interim = [b"HTTP/1.1 102 Processing\r\n\r\n"] * 4
    code, err, records, _ = _run(
        [dripped([*interim, good_reply()], 1.0)], tmp_path, "--read-timeout", "2", n=1
    )
    assert code == 0, err
    assert records[0]["error_kind"] is None and records[0]["output_events"] == 2


def test_silence_still_ends_in_a_read_timeout(tmp_path: Path) -> None:
    reply = good_reply()
    code, _err, records, _ = _run(
        [dripped([reply[:10], reply[10:]], 3.0)], tmp_path, "--read-timeout", "1", n=1
    )
    rec = records[0]
    assert rec["error_kind"] == "read_timeout"
    assert 1e9 <= rec["end_ns"] - rec["send_ns"] < 2.5e9
    assert code == 3
