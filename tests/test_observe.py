"""watch/observe.py: what a run watches besides its requests. Through the real command
line: the time series is fed by every record, and the server's metrics are scraped beside
the run; the target's credentials go only to the target's own origin."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from conftest import run_cli
from sockserver import SocketServer, read_request

from llmbench_async.mock import MockProcess

METRICS = (
    b"# TYPE vllm:num_requests_running gauge\n"
    b'vllm:num_requests_running{model_name="m"} 3\n'
    b"# TYPE vllm:num_requests_waiting gauge\n"
    b'vllm:num_requests_waiting{model_name="m"} 1\n'
)


class _Exporter:
    """A /metrics server on another origin that keeps every request head it got."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, sock: socket.socket, number: int) -> None:
        buf = bytearray()
        while (request := read_request(sock, buf)) is not None:
            with self.lock:
                self.heads.append(request[0])
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(METRICS), METRICS)
            )


def test_series_and_scrapes_without_leaking_the_key_to_another_origin(
    fast_mock: MockProcess, tmp_path: Path
) -> None:
    fast_mock_url = fast_mock.base_url
    exporter = _Exporter()
    out = tmp_path / "s.json"
    with SocketServer(exporter) as server:
        done = run_cli(
            "--base-url", fast_mock_url, "--api-key", "sk-observe-secret-0001",
            "-H", "X-Api-Token: tok-observe-secret-0002", "-n", "12", "-c", "2",
            "--server-metrics", f"{server.url}/metrics", "--scrape-interval", "100ms",
            "--window", "200ms", "-q", "--json", str(out),
        )  # fmt: skip
    assert done.code == 0, done.stderr
    heads = b"".join(exporter.heads)
    assert exporter.heads and heads.startswith(b"GET /metrics")
    assert b"sk-observe-secret-0001" not in heads and b"tok-observe-secret-0002" not in heads
    assert b"authorization" not in heads.lower()
    series = json.loads(out.read_text())["timeseries"]
    assert sum(c for c in series["windows"]["finished"] if c) == 12  # every record fed it
    server_series = series["server"]
    assert server_series and "running" in json.dumps(server_series)
