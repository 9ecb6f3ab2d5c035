"""wire/events.py: the per-attempt watchdog and the reading of a stream's events, through
the real command line against servers written here: a silent stream ends as a read
timeout, a trickling one as a total timeout, at the stated instant; an error event and a
stream with only [DONE] are named."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from conftest import run_cli
from sockserver import SocketServer, read_request

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(content: str) -> bytes:
    doc = {"id": "r", "model": "m", "choices": [{"index": 0, "delta": {"content": content}}]}
    return _chunk(b"data: " + json.dumps(doc).encode() + b"\n\n")


def _serve(script: list[tuple[float, bytes]]):  # type: ignore[no-untyped-def]
    def behaviour(sock: socket.socket, _n: int) -> None:
        if read_request(sock, bytearray()) is None:
            return
        for pause, data in script:
            time.sleep(pause)
            try:
                sock.sendall(data)
            except OSError:
                return
        time.sleep(3)  # keep the connection open: the client's clock must end it

    return behaviour


def _one(script: list[tuple[float, bytes]], tmp_path: Path, *flags: str) -> dict[str, object]:
    out = tmp_path / "r.jsonl"
    with SocketServer(_serve(script)) as server:
        done = run_cli(
            "--base-url", server.url, "--model", "m", "-n", "1", "--retries", "0", "-q",
            "-o", str(out), *flags,
        )  # fmt: skip
    assert "Traceback" not in done.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    return next(x for x in lines if x.get("type") == "request")


def test_a_silent_stream_is_a_read_timeout_at_its_limit(tmp_path: Path) -> None:
    record = _one([(0, HEAD + _event("hi"))], tmp_path, "--read-timeout", "400ms")
    assert record["error_kind"] == "read_timeout"
    e2e_ms = (int(record["end_ns"]) - int(record["send_ns"])) / 1e6  # type: ignore[call-overload]
    assert 390 <= e2e_ms < 1500  # the watchdog fired at its limit, not at the server's close


def test_a_trickling_stream_is_a_total_timeout(tmp_path: Path) -> None:
    script = [(0, HEAD)] + [(0.1, _event("x"))] * 20
    record = _one(script, tmp_path, "--timeout", "600ms", "--read-timeout", "5s")
    assert record["error_kind"] == "timeout"
    e2e_ms = (int(record["end_ns"]) - int(record["send_ns"])) / 1e6  # type: ignore[call-overload]
    assert 590 <= e2e_ms < 1500


def test_done_without_a_finish_reason_is_incomplete(tmp_path: Path) -> None:
    script = [(0, HEAD + _event("hi") + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")]
    record = _one(script, tmp_path)
    assert record["error_kind"] == "incomplete"


def test_an_error_event_mid_stream_is_named(tmp_path: Path) -> None:
    error = b'data: {"error": {"message": "engine died", "type": "server_error"}}\n\n'
    script = [(0, HEAD + _event("hi") + _chunk(error) + b"0\r\n\r\n")]
    record = _one(script, tmp_path)
    assert record["error_kind"] not in (None, "incomplete")
    assert "engine died" in str(record["error_message"])
