"""A real Prometheus server (Debian's `prometheus`, which CI installs) scrapes a run's live
feed (`--prometheus-port`) beside a vLLM-style /metrics page, and answers every query of the
shipped Grafana dashboard (docs/grafana/llmbench.json) with data. The server runs on a free
loopback port with its own config and data directory, a 200 ms scrape interval, bounded in
time, and is stopped at the end."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import StartMock, start_cli
from sockserver import SocketServer, read_request
from surfaces import whole

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana" / "llmbench.json"
RUN_S = 12  # the run's length: Prometheus has this long to answer every query


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _histogram(name: str, n: int, edges: tuple[float, ...], step: float) -> list[str]:
    """A histogram that gains `n` observations of about `step` seconds per scrape."""
    lines = [f"# TYPE {name} histogram"]
    labels = 'model_name="m",engine="0"'
    for edge in edges:
        count = 10 * n if edge >= step else 0
        lines.append(f'{name}_bucket{{{labels},le="{edge}"}} {count}')
    lines += [
        f'{name}_bucket{{{labels},le="+Inf"}} {10 * n}',
        f"{name}_sum{{{labels}}} {10 * n * step}",
        f"{name}_count{{{labels}}} {10 * n}",
    ]
    return lines


def _vllm_page(n: int) -> bytes:
    """vLLM's own names, its values moving with the scrape count `n`."""
    edges = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
    lines = [
        "# TYPE vllm:num_requests_running gauge",
        f'vllm:num_requests_running{{model_name="m",engine="0"}} {n % 4}',
        "# TYPE vllm:num_requests_waiting gauge",
        f'vllm:num_requests_waiting{{model_name="m",engine="0"}} {n % 3}',
        "# TYPE vllm:kv_cache_usage_perc gauge",
        f'vllm:kv_cache_usage_perc{{model_name="m",engine="0"}} {(n % 10) / 10}',
        "# TYPE vllm:generation_tokens_total counter",
        f'vllm:generation_tokens_total{{model_name="m",engine="0"}} {100 * n}',
        "# TYPE vllm:prompt_tokens_total counter",
        f'vllm:prompt_tokens_total{{model_name="m",engine="0"}} {40 * n}',
        *_histogram("vllm:time_to_first_token_seconds", n, edges, 0.05),
        *_histogram("vllm:inter_token_latency_seconds", n, edges, 0.01),
        *_histogram("vllm:e2e_request_latency_seconds", n, edges, 0.5),
    ]
    return ("\n".join(lines) + "\n").encode()


def _vllm_behaviour() -> Any:
    scrapes = [0]

    def serve(conn: socket.socket, _number: int) -> None:
        buf = bytearray()
        while read_request(conn, buf) is not None:
            scrapes[0] += 1
            conn.sendall(
                whole(200, _vllm_page(scrapes[0]), "text/plain; version=0.0.4").replace(
                    b"Connection: close\r\n", b""
                )
            )

    return serve


def _prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("prometheus is not installed (apt-get install prometheus): CI installs it")
    return found


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A Prometheus server's port, and the config file it re-reads on SIGHUP."""
    binary = _prometheus_binary()
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 200ms\nscrape_configs: []\n")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while _get(port, "/-/ready") is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"prometheus did not start: {err[-500:]}")
            time.sleep(0.1)
        yield port, config
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _get(port: int, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            body = resp.read()
    except OSError:
        return None
    return json.loads(body) if body.startswith(b"{") else body


def _dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in doc["panels"] for t in panel["targets"]]


def _concrete(expr: str) -> str:
    """A dashboard expression with Grafana's variables as the test evaluates it: every run
    id and model, a 3 s rate window (15 scrapes)."""
    return expr.replace("$__rate_interval", "3s").replace("$run_id", ".*").replace("$model", ".*")


def _query(port: int, expr: str) -> list[Any] | None:
    answer = _get(port, "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if not isinstance(answer, dict) or answer.get("status") != "success":
        return None
    result: list[Any] = answer["data"]["result"]
    return result


def test_prometheus_scrapes_the_run_and_answers_the_dashboard(
    prometheus: tuple[int, Path], start_mock: StartMock, tmp_path: Path
) -> None:
    prom_port, config = prometheus
    mock = start_mock(ttft_ms=30, itl_ms=5, tokens=10, jitter_ms=2)
    feed_port, out = _free_port(), tmp_path / "r.jsonl"
    with SocketServer(_vllm_behaviour()) as vllm:
        config.write_text(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n"
            "scrape_configs:\n"
            f"  - job_name: llmbench\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{feed_port}']\n"
            f"  - job_name: vllm\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{vllm.port}']\n"
        )
        assert _get(prom_port, "/-/reload", method="POST") is not None
        run = start_cli(
            "--base-url", mock.base_url, "-c", "3", "--duration", f"{RUN_S}s", "-o", str(out),
            "--prometheus-port", str(feed_port), "--prometheus-linger", "5s", "-q",
        )  # fmt: skip
        try:
            missing = _until_answered(prom_port, _dashboard_queries(), RUN_S)
            run_ids = _get(
                prom_port,
                "/api/v1/label/run_id/values?"
                + urllib.parse.urlencode({"match[]": "llmbench_requests_total"}),
            )
            code = run.wait(timeout=RUN_S + 30)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert missing == [], f"queries with no data: {missing}"
    assert code == 0, run.stderr.read() if run.stderr else ""
    header = json.loads(out.read_text().splitlines()[0])
    # the dashboard's run_id variable lists this run
    assert isinstance(run_ids, dict) and header["prometheus_run_id"] in run_ids["data"]


def _until_answered(port: int, queries: list[str], within_s: float) -> list[str]:
    """Ask each query until it returns data, for at most `within_s` seconds: those that
    never did."""
    waiting = {q: _concrete(q) for q in queries}
    assert waiting and all("$" not in q for q in waiting.values()), waiting
    deadline = time.monotonic() + within_s
    while waiting and time.monotonic() < deadline:
        for expr, concrete in list(waiting.items()):
            result = _query(port, concrete)
            if result and all(_finite(r) for r in result):
                del waiting[expr]
        time.sleep(0.3)
    return sorted(waiting)


def _finite(result: dict[str, Any]) -> bool:
    """A vector sample holding a number (a quantile of no observations is NaN)."""
    value = result.get("value", [None, "NaN"])[1]
    return bool(re.fullmatch(r"-?[0-9.e+-]+", str(value)))
