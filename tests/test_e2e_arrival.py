"""The end of a request (E2E) is when its final bytes reached the process, not when the
request's task got round to noticing.

A raw-socket server notes (perf_counter_ns, CLOCK_MONOTONIC like the client's clock) the
instant just before it writes a response's final bytes. The real command line runs with
its event loop blocked for 0.3 s by a synchronous sleep right after the read callback that
received those bytes: the read callback has stamped the arrival, but the request's task
resumes 0.3 s late. E2E must end at the arrival, for every way a body is read: an event
stream read by the sink in the read callback, a whole (Content-Length) body, a gzip stream
read through the iterator, and a body that ends when the server closes the connection.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_env
from sockserver import SocketServer, read_request

BLOCK_S = 0.3

# the command line, with the loop blocked after the read that completed a response
LAUNCH = f"""
import sys, time
from llmbench_async.wire import connection

original = connection.Connection.received
done = []  # the loop is blocked once, after the read that ended the response

def late(self, data, now):
    original(self, data, now)
    response = self.response
    ended = response is not None and (response.complete or response._ended_flag)
    if ended and not done:
        done.append(1)
        time.sleep({BLOCK_S})
        sys.stderr.write(f"blocked-until {{time.perf_counter_ns()}}\\n")

original_end = connection.Response._connection_ended

def late_end(self, now):
    original_end(self, now)
    if not done:
        done.append(1)
        time.sleep({BLOCK_S})
        sys.stderr.write(f"blocked-until {{time.perf_counter_ns()}}\\n")

connection.Connection.received = late
connection.Response._connection_ended = late_end
from llmbench_async.cli import main
sys.argv[0] = "llmbench-async"
main()
"""

# the command line, with the loop blocked right after the response's first read, so that its
# final bytes (sent 50 ms later) reach the machine while the loop cannot read them
LAUNCH_BUSY = f"""
import sys, time
from llmbench_async.wire import connection

original = connection.Connection.received
done = []

def busy(self, data, now):
    original(self, data, now)
    response = self.response
    if response is not None and not response.complete and not done:
        done.append(1)
        time.sleep({BLOCK_S})
        sys.stderr.write(f"blocked-until {{time.perf_counter_ns()}}\\n")

connection.Connection.received = busy
from llmbench_async.cli import main
sys.argv[0] = "llmbench-async"
main()
"""

EVENT = b'{"id":"r","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}'
LAST = (
    b'{"id":"r","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":1}}'
)
WHOLE = (
    b'{"id":"r","object":"chat.completion","model":"m","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}'
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _parts(shape: str) -> tuple[list[bytes], bool]:
    """The writes of one response, and whether the server closes the connection after."""
    sse_head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    if shape == "stream":
        head = sse_head + b"transfer-encoding: chunked\r\n\r\n"
        final = _chunk(b"data: " + LAST + b"\n\ndata: [DONE]\n\n") + b"0\r\n\r\n"
        return [head + _chunk(b"data: " + EVENT + b"\n\n"), final], False
    if shape == "whole":
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        head += b"content-length: %d\r\n\r\n" % len(WHOLE)
        return [head + WHOLE[:40], WHOLE[40:]], False
    if shape == "gzip":
        body = gzip.compress(b"data: " + EVENT + b"\n\ndata: " + LAST + b"\n\ndata: [DONE]\n\n")
        head = sse_head + b"content-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
        return [head + _chunk(body[:30]), _chunk(body[30:]) + b"0\r\n\r\n"], False
    # read until close: no length, no chunking; the end is the server's FIN
    head = sse_head + b"connection: close\r\n\r\n"
    body = b"data: " + EVENT + b"\n\ndata: " + LAST + b"\n\ndata: [DONE]\n\n"
    return [head + body], True


class TimedServer:
    """Serves each request in `parts` writes 50 ms apart; `final_ns` holds the instant just
    before each response's last write (or its close, for a read-until-close body). A
    behaviour on the one test socket server."""

    def __init__(self, shape: str) -> None:
        self.shape = shape
        self.final_ns: list[int] = []
        self._server = SocketServer(self._one, timeout_s=10).__enter__()
        self.url = self._server.url + "/v1"

    def _one(self, conn: socket.socket, _number: int) -> None:
        buf = bytearray()  # a preconnected connection never used ends at its first read
        while read_request(conn, buf) is not None and self._answer(conn):
            pass

    def _answer(self, conn: socket.socket) -> bool:
        """Answer one request on `conn`; False when the connection is done."""
        parts, close = _parts(self.shape)
        for i, part in enumerate(parts):
            if i:
                time.sleep(0.05)
            if i == len(parts) - 1 and not close:
                self.final_ns.append(time.perf_counter_ns())
            conn.sendall(part)
        if close:
            time.sleep(0.05)
            self.final_ns.append(time.perf_counter_ns())
            conn.shutdown(socket.SHUT_WR)
        return not close

    def close(self) -> None:
        self._server.__exit__(None, None, None)


def _run_blocked(
    shape: str, tmp_path: Path, *args: str, launch: str = LAUNCH
) -> tuple[list[int], list[Any], str]:
    """The command line, blocked once after the first response's final bytes (or as `launch`
    says): (the server's final-bytes instants, the request records in send order, stderr)."""
    server = TimedServer(shape)
    results = tmp_path / "r.jsonl"
    argv = ["--base-url", server.url, "-m", "m", "-q", "-o", str(results), *args]
    if shape == "whole":
        argv.append("--no-stream")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", launch, *argv],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    t0 = lines[0]["t0_monotonic_ns"]
    records = sorted((r for r in lines if r["type"] == "request"), key=lambda r: r["send_ns"])
    for r in records:
        assert r.get("error_kind") is None, r
        for name in ("scheduled_ns", "send_ns", "end_ns"):
            r[name] += t0  # on CLOCK_MONOTONIC, as the server's instants
    return server.final_ns, records, proc.stderr


def _blocked_at(stderr: str) -> int:
    blocked = [int(x.split()[1]) for x in stderr.splitlines() if x.startswith("blocked-until")]
    assert len(blocked) == 1, stderr
    return blocked[0]


@pytest.mark.parametrize("shape", ["stream", "whole", "gzip", "close"])
def test_e2e_ends_at_arrival_of_final_bytes_not_at_task_resume(shape: str, tmp_path: Path) -> None:
    final, (record,), stderr = _run_blocked(shape, tmp_path, "-n", "1")
    (final_ns,) = final
    # the task really was late: the loop was blocked for BLOCK_S after the final bytes came
    assert _blocked_at(stderr) - final_ns >= (BLOCK_S - 0.05) * 1e9
    late_ms = (record["end_ns"] - final_ns) / 1e6
    assert -1 <= late_ms < 50, f"E2E ended {late_ms:.1f} ms after the final bytes were sent"


def test_a_late_slot_shows_as_queue_delay_not_as_a_later_schedule(tmp_path: Path) -> None:
    """Closed loop: the slot's next request is due when the last one's final bytes arrived;
    the client's own lateness in sending it (here the blocked loop) is its queue delay."""
    final, (first, second), stderr = _run_blocked("stream", tmp_path, "-n", "2", "-c", "1")
    assert second["scheduled_ns"] == first["end_ns"]
    assert 0 <= first["end_ns"] - final[0] < 50e6
    queue_ms = (second["send_ns"] - second["scheduled_ns"]) / 1e6
    assert queue_ms >= (BLOCK_S - 0.05) * 1e3, queue_ms
    assert second["send_ns"] >= _blocked_at(stderr)


@pytest.mark.parametrize("shape", ["stream", "whole", "gzip"])
def test_e2e_ends_at_kernel_arrival_when_the_loop_was_busy(shape: str, tmp_path: Path) -> None:
    """The final bytes reach the machine while the client's loop is blocked (by the read
    before them): the read callback runs about 0.25 s after they came, but the end is the
    kernel's receive timestamp of that read, not the callback's instant."""
    final, (record,), stderr = _run_blocked(shape, tmp_path, "-n", "1", launch=LAUNCH_BUSY)
    (final_ns,) = final
    blocked_until = _blocked_at(stderr)
    # the final bytes were sent while the loop was blocked, well before it could read them
    assert blocked_until - final_ns >= (BLOCK_S - 0.1) * 1e9
    late_ms = (record["end_ns"] - final_ns) / 1e6
    assert -1 <= late_ms < 50, f"E2E ended {late_ms:.1f} ms after the final bytes were sent"
    assert record["end_ns"] < blocked_until


def _read_whole(conn: socket.socket) -> bytes:
    """One Content-Length response from `conn`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        body += conn.recv(65536)
    return body


def test_mock_truth_has_the_kernel_arrival_of_each_request(start_mock: Any, tmp_path: Path) -> None:
    """The mock's truth log carries when each request reached its socket (the kernel's
    receive timestamp), at or before its loop read it and after the client sent it."""
    log = tmp_path / "truth.jsonl"
    mock = start_mock(ttft_ms=1.0, itl_ms=1.0, tokens=2, log_path=str(log))
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2}'
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    port = int(mock.base_url.rsplit(":", 1)[1].split("/")[0])
    sent: list[int] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        for _ in range(3):
            sent.append(time.perf_counter_ns())
            conn.sendall(head + b"content-length: %d\r\n\r\n%b" % (len(body), body))
            _read_whole(conn)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(log.read_text().splitlines()) < 3:
        time.sleep(0.02)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 3
    for send_ns, line in zip(sent, lines, strict=True):
        mono = line["monotonic"]
        assert mono["arrived"] is not None, line
        assert send_ns / 1e9 <= mono["arrived"] <= mono["received"], (send_ns, mono)
        assert mono["received"] - mono["arrived"] < 1.0
