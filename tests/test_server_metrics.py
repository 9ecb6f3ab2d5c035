"""Scraping the server's Prometheus metrics: against a small Prometheus-text server written
here (its values follow its own scrape count), and unreachable, malformed and slow endpoints,
which are reported once and never fail the run."""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx
import pytest
from conftest import run_cli
from surfaces import Server, Writer, whole

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


# --- llama.cpp's names, a second URL (an exporter beside the engine), strict parsing ---
def _llamacpp_page(n: int) -> bytes:
    """llama-server's /metrics as it writes it (HELP, TYPE, one sample each, C++'s
    six-digit doubles), its values following the scrape count `n`."""
    items = [
        ("counter", "prompt_tokens_total", 50 * n),
        ("counter", "prompt_tokens_cached_total", 10 * n),
        ("counter", "prompt_seconds_total", 0.5 * n),
        ("counter", "tokens_predicted_total", 100 * n),
        ("counter", "tokens_predicted_seconds_total", 1.25 * n),
        ("counter", "n_decode_total", 20 * n),
        ("counter", "n_tokens_max", 4096),
        ("gauge", "prompt_tokens_seconds", 812.5),
        ("gauge", "predicted_tokens_seconds", 40.1),
        ("gauge", "requests_processing", n),
        ("gauge", "requests_deferred", 2 * n),
        ("gauge", "n_busy_slots_per_decode", 1.5),
    ]
    lines = []
    for kind, name, value in items:
        lines += [
            f"# HELP llamacpp:{name} {name.replace('_', ' ')}",
            f"# TYPE llamacpp:{name} {kind}",
            f"llamacpp:{name} {float(value):.6g}",
        ]
    return ("\n".join(lines) + "\n").encode()


def _counting(page: Callable[[int], bytes]) -> tuple[Writer, list[bytes]]:
    """A /metrics writer serving `page(n)` on its n-th scrape, and the request heads seen."""
    heads: list[bytes] = []

    def write(conn: socket.socket, head: bytes) -> None:
        heads.append(head)
        conn.sendall(whole(200, page(len(heads)), "text/plain; version=0.0.4"))

    return write, heads


def test_llamacpp_names_through_auto(tmp_path: Path) -> None:
    writer, heads = _counting(_llamacpp_page)
    summary = tmp_path / "s.json"
    with Server({"metrics": writer}) as server:  # llama-server: /v1 and /metrics
        res = run_cli(
            "--base-url", server.url + "/v1", "-m", "m", "--rate", "20", "--duration", "1.5s",
            "--server-metrics", "auto", "--scrape-interval", "0.1", "--json", str(summary), "-q",
        )  # fmt: skip
    assert res.code == 0, res.stderr
    assert res.stderr == ""  # every name known: no warning
    server_doc = json.loads(summary.read_text())["timeseries"]["server"]
    m = server_doc["metrics"]
    assert server_doc["failures"] == 0 and server_doc["scrapes"] == len(heads) >= 5
    sources = {key: s["source"] for key, s in m.items()}
    assert sources == {
        "running": "llamacpp:requests_processing",
        "waiting": "llamacpp:requests_deferred",
        "prompt_tokens_per_s": "llamacpp:prompt_tokens_total",
        "generation_tokens_per_s": "llamacpp:tokens_predicted_total",
        "cached_prompt_tokens_per_s": "llamacpp:prompt_tokens_cached_total",
        "busy_slots_per_decode": "llamacpp:n_busy_slots_per_decode",
        "decodes_per_s": "llamacpp:n_decode_total",
    }
    running = m["running"]["value"]
    assert running == [float(i) for i in range(1, len(running) + 1)]
    assert m["waiting"]["value"] == [2 * v for v in running]
    assert set(m["busy_slots_per_decode"]["value"]) == {1.5}
    gaps = [b - a for a, b in itertools.pairwise(m["running"]["t_s"])]
    for key, per_scrape in (
        ("generation_tokens_per_s", 100),
        ("prompt_tokens_per_s", 50),
        ("cached_prompt_tokens_per_s", 10),
        ("decodes_per_s", 20),
    ):
        rates = m[key]["value"]
        assert len(rates) == len(gaps)
        # the rates integrate back to what the counter gained between the first and last
        total = sum(r * dt for r, dt in zip(rates, gaps, strict=True))
        assert total == pytest.approx(per_scrape * len(gaps), rel=1e-3), key


def _dcgm_page(n: int) -> bytes:
    """NVIDIA DCGM exporter's names: two GPUs."""
    return (
        "# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).\n"
        "# TYPE DCGM_FI_DEV_POWER_USAGE gauge\n"
        f'DCGM_FI_DEV_POWER_USAGE{{gpu="0",UUID="GPU-a",modelName="H100"}} {100 + n}\n'
        f'DCGM_FI_DEV_POWER_USAGE{{gpu="1",UUID="GPU-b",modelName="H100"}} {200 + n}\n'
        "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 30\n'
        'DCGM_FI_DEV_GPU_UTIL{gpu="1"} 50\n'
        "# TYPE DCGM_FI_DEV_FB_USED gauge\n"
        'DCGM_FI_DEV_FB_USED{gpu="0"} 1000\nDCGM_FI_DEV_FB_USED{gpu="1"} 3000\n'
    ).encode()


def test_a_second_url_beside_the_engine(fast_mock: MockProcess, tmp_path: Path) -> None:
    writer, heads = _counting(_dcgm_page)
    summary, out = tmp_path / "s.json", tmp_path / "r.jsonl"
    secret = "QTOKEN-dcgm-0123456789"
    with Server({"metrics": writer}) as dcgm:
        exporter = dcgm.url + "/metrics"
        res = run_cli(
            "--base-url", fast_mock.base_url, "--rate", "20", "--duration", "1s",
            "--server-metrics", "auto", "--server-metrics", f"{dcgm.url}/metrics?token={secret}",
            "--scrape-interval", "0.1", "--json", str(summary), "-o", str(out),
            "--html", str(tmp_path / "r.html"),
        )  # fmt: skip
    assert res.code == 0, res.stderr
    doc = json.loads(summary.read_text())["timeseries"]["server"]
    engine = fast_mock.base_url.removesuffix("/v1") + "/metrics"
    assert [s["url"] for s in doc["sources"]] == [engine, exporter]
    assert doc["url"] == engine and doc["failures"] == 0
    assert doc["scrapes"] == sum(s["scrapes"] for s in doc["sources"])
    assert doc["sources"][1]["scrapes"] == len(heads) >= 4
    m = doc["metrics"]
    assert m["running"]["url"] == engine and m["gpu_power_w"]["url"] == exporter
    power = m["gpu_power_w"]["value"]  # summed over the GPUs
    assert power == [300.0 + 2 * i for i in range(1, len(power) + 1)]
    assert set(m["gpu_util"]["value"]) == {40.0}  # the mean
    assert set(m["gpu_memory_used_mib"]["value"]) == {4000.0}
    # the page names both sources
    note = re.search(
        r'<p class="note" id="server-note">([^<]*)</p>', html := (tmp_path / "r.html").read_text()
    )
    assert note is not None and engine in note.group(1) and exporter in note.group(1)
    # the query (a token) went to the exporter, and is shown nowhere
    assert all(secret.encode() in h for h in heads)
    for text in (res.stdout, res.stderr, summary.read_text(), out.read_text(), html):
        assert secret not in text


def test_the_same_metric_on_two_urls_keeps_both(prom: str) -> None:
    from llmbench_async.watch.server_metrics import merged_json

    a, _ = _scrape_for(prom + "/metrics", 0.35, interval_s=0.1)
    b, _ = _scrape_for(prom + "/metrics", 0.35, interval_s=0.1)
    doc = merged_json([a, b])
    assert doc["metrics"]["running"]["source"] == doc["metrics"]["running@2"]["source"]
    assert doc["scrapes"] == a.scrapes + b.scrapes and len(doc["sources"]) == 2


@pytest.mark.parametrize(
    "line",
    [
        "x 1 2 3",
        "x{a=b} 1",
        'x{a="b" 1',
        "x 1z",
        "x",
        '{a="b"} 1',
        'x{a="b"}} 1',
        "9x 1",
    ],
)
def test_every_sample_line_is_checked(line: str) -> None:
    good = "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 1\n"
    wanted = frozenset({"vllm:num_requests_running"})
    assert parse_metrics(good, wanted).values["vllm:num_requests_running"] == (1.0, 1)
    with pytest.raises(ValueError):
        parse_metrics(good + line + "\n", wanted)  # a line we would not keep, still checked


def test_exposition_edge_forms_parse() -> None:
    text = (
        'a{x="q\\"uote\\\\",y="new\\nline",} 1.5e+06 1700000000000\n'
        "b +Inf\nc NaN\nd -0.5\n  \n# a comment\n"
    )
    sample = parse_metrics(text, frozenset({"a", "b", "c", "d"}))
    assert sample.values == {"a": (1.5e6, 1), "d": (-0.5, 1)}  # non-finite values dropped


def test_too_many_urls_is_exit_2() -> None:
    args = [a for i in range(9) for a in ("--server-metrics", f"http://127.0.0.1:{i + 1}/m")]
    res = run_cli("--mock", "-n", "1", *args)
    assert res.code == 2 and res.stderr.count("\n") == 1, res.stderr
