"""Overhead of the live view and of server-metrics scraping at C=256.

    uv run python benchmarks/live_overhead.py              # 3 reps x 4 modes, ~2 min
    uv run python benchmarks/live_overhead.py --requests 20000 --reps 5

Runs the product path (`session.run`) against the built-in mock (its own process) four
ways, interleaved: plain (no bar, no scraping); bar (tqdm's plain bar, as before the live
view); live (tqdm's bar with the live tallies); scrape (plain, plus scraping a vLLM-like
/metrics page served by `python -m http.server` in another process, every second). Bars are
drawn to /dev/null: the formatting and writes are paid, nothing floods the terminal. Prints
the client's CPU seconds per 1000 requests (medians), each mode's extra CPU as a share of the
plain run's, and the direct costs (CPU per record of the live view, CPU per scrape). The
target is under 3 %.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from llmbench_async.config import RunConfig
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.session.run import run
from llmbench_async.watch.observe import ObserveOptions

_METRICS = (
    "".join(
        f'# TYPE vllm:{name} {kind}\nvllm:{name}{{model_name="m"}} {value}\n'
        for name, kind, value in (
            ("num_requests_running", "gauge", 200),
            ("num_requests_waiting", "gauge", 56),
            ("kv_cache_usage_perc", "gauge", 0.42),
            ("prompt_tokens_total", "counter", 123456),
            ("generation_tokens_total", "counter", 654321),
            ("num_preemptions_total", "counter", 3),
        )
    )
    + "".join(  # the bulk of a real vLLM page: histograms
        f'vllm:e2e_request_latency_seconds_bucket{{le="{b}",model_name="m"}} {i}\n'
        for i, b in enumerate(
            (0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, "+Inf")
        )
    )
    * 20
)


@contextlib.contextmanager
def metrics_server() -> Iterator[str]:
    """A static Prometheus text page served by another process."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "metrics").write_text(_METRICS)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}/metrics"
        finally:
            proc.terminate()
            proc.wait()


def cpu_per_1000(config: RunConfig, mode: str, url: str) -> float:
    observe = ObserveOptions(server_metrics=url if mode == "scrape" else None)
    saved = sys.stderr
    # "bar": tqdm's plain bar as before this view existed ($CI set turns the live view off)
    os.environ.pop("CI", None)
    if mode == "bar":
        os.environ["CI"] = "1"
    with open("/dev/null", "w") as sink:
        sys.stderr = sink
        try:
            progress = mode in ("bar", "live")
            result = run(config, progress=progress, observe=observe, keep_records=False)
        finally:
            sys.stderr = saved
            os.environ.pop("CI", None)
    assert result.summary.failed == 0, result.summary.errors
    return 1000 * result.outcome.cpu_s / result.summary.total


def live_update_us() -> float:
    """CPU microseconds per record spent by `LiveView.update` (tallies + throttled redraw)."""
    from llmbench_async.records import RequestRecord
    from llmbench_async.watch.live import LiveView

    class Bar:
        def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            pass

    view, bar = LiveView(), Bar()
    records = [
        RequestRecord(index=i, scheduled_ns=0, send_ns=0, end_ns=9, first_token_ns=i * 1000)
        for i in range(1, 100_001)
    ]
    cpu0 = time.process_time()
    for r in records:
        view.update(bar, r, 256)
    return (time.process_time() - cpu0) / len(records) * 1e6


def scrape_ms(url: str, scrapes: int = 100) -> float:
    """CPU milliseconds per scrape (fetch + parse in a worker thread) of the /metrics page."""
    import anyio
    import httpx

    from llmbench_async.watch.server_metrics import Scraper

    async def go() -> float:
        scraper = Scraper(url, t0_ns=time.perf_counter_ns(), interval_s=1.0)
        async with httpx.AsyncClient() as http:
            await scraper.scrape_once(http)
            cpu0 = time.process_time()
            for _ in range(scrapes):
                await scraper.scrape_once(http)
            assert scraper.failures == 0
            return (time.process_time() - cpu0) / scrapes * 1e3

    return anyio.run(go)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    modes = ("plain", "bar", "live", "scrape")
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    with MockProcess(MockConfig(ttft_ms=20, itl_ms=2, tokens=32)) as mock, metrics_server() as url:
        config = RunConfig(
            base_url=mock.base_url, model="mock-model", n=args.requests,
            concurrency=args.concurrency, warmup_requests=args.concurrency,
        )  # fmt: skip
        for _ in range(args.reps):
            for mode in modes:
                cpu[mode].append(cpu_per_1000(config, mode, url))
        per_scrape = scrape_ms(url)
    per_update = live_update_us()
    plain = statistics.median(cpu["plain"])
    print(f"C={args.concurrency}, {args.requests} requests, {args.reps} reps (medians)")
    for mode in modes:
        value = statistics.median(cpu[mode])
        extra = "" if mode == "plain" else f"  overhead {100 * (value - plain) / plain:+.2f} %"
        spread = f"{min(cpu[mode]):.3f}-{max(cpu[mode]):.3f}"
        print(f"  {mode:<7} {value:.3f} CPU s / 1000 requests (range {spread}){extra}")
    print("direct costs (steadier than the differences above on a busy machine):")
    print(
        f"  live view: {per_update:.2f} µs CPU per record = "
        f"{100 * per_update / (plain * 1000):.2f} % of the plain run's CPU per request"
    )
    print(
        f"  scraping: {per_scrape:.2f} ms CPU per scrape ({len(_METRICS) // 1024} KiB page) = "
        f"{per_scrape / 10:.2f} % of one core at --scrape-interval 1s"
    )


if __name__ == "__main__":
    main()
