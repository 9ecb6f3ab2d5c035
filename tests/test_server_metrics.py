"""Scraping the server's Prometheus metrics: against a small Prometheus-text server written
here (its values follow its own scrape count), and unreachable, malformed and slow endpoints,
which are reported once and never fail the run."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx
import pytest
from conftest import run_cli

from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.watch.server_metrics import Scraper, metrics_url, parse_metrics, shown_url


class _Handler(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        cls = type(self)
        if self.path == "/metrics":
            cls.hits += 1
            n = cls.hits
            body = (
                "# HELP vllm:num_requests_running Running.\n"
                "# TYPE vllm:num_requests_running gauge\n"
                f'vllm:num_requests_running{{model_name="m"}} {n}\n'
                "# TYPE vllm:num_requests_waiting gauge\n"
                f'vllm:num_requests_waiting{{model_name="m"}} {2 * n}\n'
                "# TYPE vllm:kv_cache_usage_perc gauge\n"
                'vllm:kv_cache_usage_perc{engine="0"} 0.25\n'
                'vllm:kv_cache_usage_perc{engine="1"} 0.75\n'
                "# TYPE vllm:generation_tokens counter\n"
                f"vllm:generation_tokens_total {100 * n}\n"
                "# TYPE my_queue_depth gauge\n"
                "my_queue_depth 7\n"
            )
        elif self.path == "/bad":
            body = "<html>this is { not metrics</html>\n"
        elif self.path == "/slow":
            time.sleep(1.5)
            body = "x 1\n"
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def prom() -> Iterator[str]:
    _Handler.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape_for(url: str, seconds: float, **kw: object) -> tuple[Scraper, list[str]]:
    warnings: list[str] = []
    scraper = Scraper(url, t0_ns=time.perf_counter_ns(), warn=warnings.append, **kw)  # type: ignore[arg-type]

    async def main() -> None:
        with anyio.move_on_after(seconds):
            await scraper.run()

    anyio.run(main)
    return scraper, warnings


def test_series_follow_the_server(prom: str) -> None:
    scraper, warnings = _scrape_for(
        prom + "/metrics", 2.0, interval_s=0.2, extra=("my_queue_depth", "absent_metric")
    )
    assert warnings == []
    doc = scraper.to_json()
    m = doc["metrics"]
    running = m["running"]["value"]
    assert running == [float(i) for i in range(1, len(running) + 1)]  # one per scrape
    assert len(running) >= 4 and doc["scrapes"] == len(running) == _Handler.hits
    assert m["waiting"]["value"] == [2 * v for v in running]
    assert m["running"]["source"] == "vllm:num_requests_running"
    assert set(m["kv_cache_usage"]["value"]) == {0.5}  # mean over the two engines
    # +100 tokens per scrape: each rate is 100 over the time between the two scrapes
    rates = m["generation_tokens_per_s"]["value"]
    gaps = [b - a for a, b in itertools.pairwise(m["running"]["t_s"])]
    assert len(rates) == len(gaps) == len(running) - 1
    for rate, dt in zip(rates, gaps, strict=True):
        assert rate == pytest.approx(100 / dt, rel=0.3), (rates, gaps)
    tokens = sum(r * dt for r, dt in zip(rates, gaps, strict=True))
    assert tokens == pytest.approx(100 * len(rates), rel=0.05)
    assert m["my_queue_depth"]["value"][0] == 7.0
    assert "absent_metric" not in m
    assert m["running"]["t_s"] == sorted(m["running"]["t_s"])


def test_unreachable_endpoint_is_reported_once() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/metrics"
    scraper, warnings = _scrape_for(url, 0.7, interval_s=0.1)
    assert len(warnings) == 1 and "cannot scrape" in warnings[0]
    assert scraper.failures >= 3 and scraper.scrapes == 0


def test_malformed_and_foreign_metrics(prom: str) -> None:
    scraper, warnings = _scrape_for(prom + "/bad", 0.5, interval_s=0.1)
    assert len(warnings) == 1 and "malformed metrics" in warnings[0]
    assert scraper.failures >= 2 and scraper.to_json()["metrics"] == {}
    with pytest.raises(ValueError):
        parse_metrics("this is { not metrics")


def test_slow_endpoint_times_out_without_holding_the_loop(prom: str) -> None:
    lags: list[float] = []

    async def main() -> Scraper:
        scraper = Scraper(prom + "/slow", t0_ns=time.perf_counter_ns(), interval_s=0.2,
                          warn=lags.append)  # fmt: skip
        async with anyio.create_task_group() as tg:
            tg.start_soon(scraper.run)
            worst = 0.0
            for _ in range(80):  # 1.6 s: past the 1.2 s scrape timeout, whatever the set-up
                before = time.perf_counter()
                await anyio.sleep(0.02)
                worst = max(worst, time.perf_counter() - before - 0.02)
            tg.cancel_scope.cancel()
        assert worst < 0.2
        return scraper

    scraper = anyio.run(main)
    assert scraper.failures >= 1 and scraper.first_error == "timed out"
    assert len(lags) == 1


def test_urls_and_secrets() -> None:
    assert metrics_url("auto", "http://h:8000/v1") == "http://h:8000/metrics"
    assert metrics_url("auto", "https://u:p@h/prefix/v1") == "https://u:p@h/metrics"
    assert shown_url("https://u:secret@h:9/metrics") == "https://h:9/metrics"
    with pytest.raises(ValueError):
        metrics_url("ftp://h/metrics", "http://h/v1")


def test_run_with_scraping_writes_the_series(
    fast_mock: MockProcess, prom: str, tmp_path: Path
) -> None:
    out, summary, again = tmp_path / "r.jsonl", tmp_path / "s.json", tmp_path / "a.json"
    res = run_cli(
        "--base-url", fast_mock.base_url, "-n", "40", "-c", "2", "--json", str(summary),
        "-o", str(out), "--server-metrics", prom + "/metrics", "--scrape-interval", "0.1",
        "--server-metric", "my_queue_depth", "-q",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    assert res.stderr == ""
    server = json.loads(summary.read_text())["timeseries"]["server"]
    assert server["failures"] == 0 and server["scrapes"] >= 3
    assert len(server["metrics"]["running"]["value"]) == server["scrapes"]
    assert server["metrics"]["my_queue_depth"]["value"][0] == 7.0
    # `report` reads the scraped series back from the results file's footer
    assert run_cli("report", str(out), "--json", str(again), "-q").code == 0
    assert json.loads(again.read_text())["timeseries"]["server"] == server


@pytest.mark.parametrize("endpoint", ["closed", "bad", "missing"])
def test_failing_scrapes_never_fail_the_run(
    fast_mock: MockProcess, prom: str, tmp_path: Path, endpoint: str
) -> None:
    url = {
        "closed": f"http://127.0.0.1:{_closed_port()}/metrics",
        "bad": prom + "/bad",
        "missing": prom + "/missing",  # 404
    }[endpoint]
    summary = tmp_path / "s.json"
    res = run_cli(
        "--base-url", fast_mock.base_url, "-n", "20", "-c", "2", "--json", str(summary),
        "--server-metrics", url, "--scrape-interval", "0.05", "-q",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmbench-async: warning: server metrics")
    doc = json.loads(summary.read_text())
    assert doc["requests"]["ok"] == 20
    assert doc["timeseries"]["server"]["failures"] >= 1


def test_auto_scrapes_the_mock_and_follows_what_it_did(tmp_path: Path) -> None:
    # 2 slots of ~300 ms and 6 requests in flight: the mock runs 2 and queues the rest
    capacity, concurrency = 2, 6
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    with MockProcess(MockConfig(ttft_ms=100, itl_ms=10, tokens=20, capacity=capacity)) as mock:
        metrics_page = mock.base_url.removesuffix("/v1") + "/metrics"
        res = run_cli(
            "--base-url", mock.base_url, "-n", "24", "-c", str(concurrency), "-o", str(out),
            "--json", str(summary), "--server-metrics", "auto", "--scrape-interval", "0.1", "-q",
        )  # fmt: skip
    assert res.code == 0, res.stderr
    assert res.stderr == ""
    server = json.loads(summary.read_text())["timeseries"]["server"]
    assert server["failures"] == 0 and server["scrapes"] >= 5
    assert server["url"] == metrics_page
    metrics = server["metrics"]
    assert {m["source"] for m in metrics.values()} >= {
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
    }
    running = dict(zip(metrics["running"]["t_s"], metrics["running"]["value"], strict=True))
    waiting = dict(zip(metrics["waiting"]["t_s"], metrics["waiting"]["value"], strict=True))
    kv = dict(
        zip(metrics["kv_cache_usage"]["t_s"], metrics["kv_cache_usage"]["value"], strict=True)
    )
    # never more generating than the mock's slots, never more queued than we had in flight
    assert all(0 <= v <= capacity for v in running.values()), running
    assert all(0 <= v <= concurrency - capacity for v in waiting.values()), waiting
    # the mock's KV-cache share is its slots in use, in the same scrape
    assert all(kv[t] == pytest.approx(running[t] / capacity) for t in running)
    # while we surely had 3 or more requests at the server (±0.25-0.5 s around the scrape,
    # for the request's way there and the scrape's own), it ran 2 and queued the rest
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    spans = [(r["send_ns"] / 1e9, r["end_ns"] / 1e9) for r in lines if r["type"] == "request"]
    assert len(spans) == 24

    def surely_busy(t: float) -> bool:
        edges = [t - 0.25 + 0.05 * i for i in range(16)]  # t - 0.25 s .. t + 0.5 s
        return all(sum(s <= e < end for s, end in spans) >= 3 for e in edges)

    busy = [t for t in running if surely_busy(t)]
    assert busy, (sorted(running), spans)
    assert all(running[t] == capacity and waiting[t] >= 1 for t in busy), [
        (t, running[t], waiting[t]) for t in busy
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("--server-metrics", "ftp://x/metrics"),
        ("--server-metrics", "auto", "--scrape-interval", "0"),
        ("--server-metric", "vllm:foo"),
    ],
)
def test_bad_flags_are_one_line_exit_2(args: tuple[str, ...]) -> None:
    res = run_cli("--mock", "-n", "1", *args)
    assert res.code == 2, res.stderr
    assert res.stderr.count("\n") == 1


def test_scrape_survives_an_http_client_error() -> None:
    # a response that is not HTTP at all: the client's error is reported, not raised
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]

        def serve() -> None:
            for _ in range(3):
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(1024)
                    conn.sendall(b"garbage\r\n\r\n")

        threading.Thread(target=serve, daemon=True).start()
        scraper, warnings = _scrape_for(f"http://127.0.0.1:{port}/metrics", 0.35, interval_s=0.1)
    assert len(warnings) == 1 and scraper.failures >= 1
    assert isinstance(scraper.first_error, str) and scraper.first_error
    assert httpx is not None
