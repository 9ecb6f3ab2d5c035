"""HTTP phases and the server side of a run's summary, against servers whose delays the
test controls: time to headers (a server that waits before its head), TCP connect (a
listener whose accept queue is full, so the connect waits for the kernel's SYN
retransmission), DNS (`localhost`), apart for new, preconnected and reused connections;
and the cache hit rate of a shared-prefix workload (the mock's --server-timings)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from conftest import StartMock, run_cli
from hostile import good_reply, sse_body
from sockserver import SocketServer, read_request

from llmbench_async import RunConfig, run

HEAD_WAIT_S = 0.25


def _late_head(sock: socket.socket, _number: int) -> None:
    """Every request answered HEAD_WAIT_S after it was read."""
    buf = bytearray()
    while read_request(sock, buf) is not None:
        time.sleep(HEAD_WAIT_S)
        sock.sendall(good_reply(sse_body(tokens=1)))


def _run(url: str, tmp_path: Path, *extra: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out, doc = tmp_path / "r.jsonl", tmp_path / "s.json"
    res = run_cli(
        "--base-url", url, "--model", "m", "-n", "3", "-c", "1",
        "-o", str(out), "--json", str(doc), "-q", *extra,
    )  # fmt: skip
    assert res.code == 0, res.stderr
    records = [json.loads(x) for x in out.read_text().splitlines()[1:-1]]
    return records, json.loads(doc.read_text())


def test_time_to_headers_new_and_reused(tmp_path: Path) -> None:
    with SocketServer(_late_head) as server:
        records, doc = _run(server.url + "/v1", tmp_path, "--no-preconnect")
    for r in records:
        # the head came HEAD_WAIT_S after the request; load can only make it later
        assert (r["headers_ns"] - r["send_ns"]) / 1e9 >= HEAD_WAIT_S * 0.95
    new = [r for r in records if r["new_connection"]]
    assert len(new) == 1 and new[0]["tcp_ns"] is not None and new[0]["tls_ns"] is None
    phases = doc["phases"]
    assert phases["new"]["requests"] == 1 and phases["reused"]["requests"] == 2
    assert phases["new"]["headers_ms"]["count"] == 1
    assert phases["reused"]["headers_ms"]["count"] == 2
    assert phases["reused"]["headers_ms"]["min"] >= HEAD_WAIT_S * 1000 * 0.95
    assert doc["metrics"]["headers_ms"]["count"] == 3
    assert phases["preconnected"]["connections"] == 0


def test_preconnected_phases_are_reported_outside_the_latency(tmp_path: Path) -> None:
    with SocketServer(_late_head) as server:
        records, doc = _run(server.url + "/v1", tmp_path)  # --preconnect is the default
    first = [r for r in records if r["tcp_ns"] is not None]
    assert len(first) == 1 and first[0]["preconnected"] is True
    assert first[0]["new_connection"] is False and first[0]["connect_ns"] == 0
    phases = doc["phases"]
    assert phases["preconnected"]["connections"] == 1 and phases["new"]["requests"] == 0
    assert phases["preconnected"]["tcp_ms"]["count"] == 1
    assert doc["metrics"]["tcp_ms"]["count"] == 1  # the gate's tcp metric counts it too
    assert phases["reused"]["requests"] == 3


def test_tcp_connect_waits_for_a_full_accept_queue() -> None:
    server = SocketServer(_late_head, backlog=0)
    fillers = []
    for _ in range(3):  # fill the accept queue: new SYNs are dropped until it drains
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", server.port))
        fillers.append(filler)
    time.sleep(0.05)
    # the accept loop starts only after our connect began: the SYN is dropped once
    timer = threading.Timer(0.3, server.__enter__)
    timer.start()
    try:
        config = RunConfig(
            base_url=server.url + "/v1", model="m", n=1, preconnect=False, ready_timeout_s=None
        )
        result = run(config)
    finally:
        timer.join()
        for filler in fillers:
            filler.close()
        server.__exit__(None, None, None)
    assert result.summary.ok == 1, result.summary.errors
    record = result.records[0]
    assert record.new_connection and record.tcp_ns is not None and record.dns_ns is not None
    # Linux retransmits a dropped SYN after 1 s; anything past 0.8 s is that wait
    assert 0.8e9 <= record.tcp_ns <= 10e9
    assert record.connect_ns is not None and record.connect_ns >= record.tcp_ns
    headers = record.headers_wait_ns
    assert headers is not None and headers >= HEAD_WAIT_S * 0.95e9
    assert headers < record.tcp_ns  # the connect wait is not in time to headers


def test_dns_phase_resolves_localhost(tmp_path: Path) -> None:
    with SocketServer(_late_head) as server:
        records, doc = _run(f"http://localhost:{server.port}/v1", tmp_path, "--no-preconnect")
    new = [r for r in records if r["new_connection"]]
    assert len(new) == 1 and new[0]["dns_ns"] is not None and new[0]["dns_ns"] > 0
    assert doc["phases"]["new"]["dns_ms"]["count"] == 1
    assert doc["metrics"]["dns_ms"]["max"] == new[0]["dns_ns"] / 1e6


def test_cache_hit_rate_of_a_shared_prefix_workload(start_mock: StartMock, tmp_path: Path) -> None:
    mock = start_mock(ttft_ms=5, itl_ms=1, tokens=4, server_timings=True, models=("m",))
    _records, shared = _run(mock.base_url, tmp_path, "--prefix-tokens", "60", "-n", "5")
    rate = shared["server_timing"]["cache_hit_rate"]
    cached, prompt = (shared["server_timing"][k] for k in ("cached_tokens", "cache_prompt_tokens"))
    assert rate == 100 * cached / prompt and rate > 50  # 4 of 5 requests reuse the 60 words
    assert shared["server_timing"]["sources"] == {"llama.cpp": 5}
    gate = run_cli(
        "--base-url", mock.base_url, "--model", "m", "-n", "3", "-q",
        "--fail-if", "cache_hit_rate>99%", "--fail-if", "server_prefill.p50<1s",
    )  # fmt: skip
    assert gate.code == 1, gate.stderr  # distinct prompts: few words shared
    assert "cache_hit_rate" in gate.stdout + gate.stderr
