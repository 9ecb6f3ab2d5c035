"""The mock server's `GET /metrics`: vLLM's names, values that follow its real state."""

from __future__ import annotations

import json
import math
import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from llmbench_async.mock import MockConfig, MockProcess

STREAM = {
    "model": "mock-model",
    "messages": [{"role": "user", "content": "four words of prompt"}],
    "stream": True,
}
# one sample line of the text format: name{labels} value
SAMPLE = re.compile(r'^(vllm:[a-z_]+)\{((?:[a-z_]+="[^"]*",?)*)\} (\S+)$')


def scrape(mock: MockProcess) -> tuple[str, dict[tuple[str, str], float]]:
    """Content type and {(name, labels): value} of one scrape; checks every line's shape."""
    response = httpx.get(f"http://{mock.host}:{mock.port}/metrics", timeout=10)
    assert response.status_code == 200
    samples: dict[tuple[str, str], float] = {}
    types: dict[str, str] = {}
    for line in response.text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif not line.startswith("# HELP "):
            match = SAMPLE.match(line)
            assert match is not None, line
            name, labels, value = match.groups()
            assert name in types, f"{name} has no TYPE line"
            samples[(name, labels)] = float(value)
    return response.headers["content-type"], samples


def value(samples: dict[tuple[str, str], float], name: str, model: str = "mock-model") -> float:
    return samples[(name, f'engine="0",model_name="{model}"')]


def open_stream(mock: MockProcess, body: dict[str, Any]) -> socket.socket:
    """Send one streamed request on its own connection; returns once the headers came."""
    data = json.dumps(body).encode()
    sock = socket.create_connection((mock.host, mock.port), timeout=10)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%b"
        % (len(data), data)
    )
    assert sock.recv(12) == b"HTTP/1.1 200"
    return sock


def read_to_end(sock: socket.socket) -> bytes:
    received = bytearray()
    while not received.endswith(b"0\r\n\r\n"):
        data = sock.recv(1 << 16)
        assert data, "connection closed early"
        received += data
    sock.close()
    return bytes(received)


def test_idle_server_reports_zeros_in_vllm_names() -> None:
    with MockProcess(MockConfig(models=("mock-model", "other"))) as mock:
        content_type, samples = scrape(mock)
    assert content_type.startswith("text/plain; version=0.0.4")
    names = {
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:num_preemptions_total",
    }
    for model in ("mock-model", "other"):
        assert {name: value(samples, name, model) for name in names} == dict.fromkeys(names, 0.0)
    success = [k for k in samples if k[0] == "vllm:request_success_total"]
    assert len(success) == 6  # stop, length, abort for each model


def test_running_waiting_and_cache_follow_capacity(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    config = MockConfig(ttft_ms=1500, itl_ms=20, tokens=5, capacity=2, log_path=str(log))
    with MockProcess(config) as mock:
        socks = [open_stream(mock, STREAM) for _ in range(5)]
        _, busy = scrape(mock)
        for sock in socks:
            read_to_end(sock)
        limited = open_stream(mock, {**STREAM, "max_tokens": 2})
        read_to_end(limited)
        time.sleep(0.05)  # the handler books the response just after its last write
        _, idle = scrape(mock)
    assert value(busy, "vllm:num_requests_running") == 2
    assert value(busy, "vllm:num_requests_waiting") == 3
    assert value(busy, "vllm:kv_cache_usage_perc") == 1.0
    assert value(busy, "vllm:gpu_cache_usage_perc") == 1.0
    assert value(busy, "vllm:prompt_tokens_total") == 2 * 4  # two admitted, 4 words each
    assert value(busy, "vllm:generation_tokens_total") == 0  # before the first token
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 6
    assert value(idle, "vllm:num_requests_running") == 0
    assert value(idle, "vllm:num_requests_waiting") == 0
    assert value(idle, "vllm:kv_cache_usage_perc") == 0.0
    assert value(idle, "vllm:prompt_tokens_total") == sum(r["prompt_tokens"] for r in rows) == 24
    assert value(idle, "vllm:generation_tokens_total") == sum(r["tokens"] for r in rows) == 27
    labels = 'engine="0",model_name="mock-model",finished_reason="{}"'
    assert idle[("vllm:request_success_total", labels.format("stop"))] == 5
    assert idle[("vllm:request_success_total", labels.format("length"))] == 1
    assert idle[("vllm:request_success_total", labels.format("abort"))] == 0


def test_generation_tokens_count_live_and_aborts() -> None:
    """Tokens are counted as they are written; a client that leaves is an abort."""
    itl = 0.100
    config = MockConfig(ttft_ms=0, itl_ms=itl * 1000, tokens=40)
    with MockProcess(config) as mock:
        sent = time.perf_counter()
        sock = open_stream(mock, STREAM)
        headers = time.perf_counter()
        time.sleep(0.45)
        before = time.perf_counter()
        _, mid = scrape(mock)
        after = time.perf_counter()
        sock.close()
        time.sleep(0.2)
        _, later = scrape(mock)
    # token k goes out at t0 + k * itl, t0 between sending and the headers' arrival
    least = math.floor((before - headers) / itl) + 1
    most = math.floor((after - sent) / itl) + 1
    generated = value(mid, "vllm:generation_tokens_total")
    assert least - 1 <= generated <= most and 4 <= generated < 40
    assert value(mid, "vllm:num_requests_running") == 1
    assert value(mid, "vllm:kv_cache_usage_perc") == 0.0  # no capacity: no cache to fill
    assert value(later, "vllm:num_requests_running") == 0
    abort = 'engine="0",model_name="mock-model",finished_reason="abort"'
    assert later[("vllm:request_success_total", abort)] == 1
    assert generated <= value(later, "vllm:generation_tokens_total") < 40
