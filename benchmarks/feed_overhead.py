"""Overhead of the live Prometheus feed (`--prometheus-port`) at C=256.

    uv run python benchmarks/feed_overhead.py                 # 3 reps x 2 modes, ~1 min
    uv run python benchmarks/feed_overhead.py --requests 20000 --reps 5 --scrape-every 0.2
    uv run python benchmarks/feed_overhead.py --quick         # a smoke run (~10 s)

Runs the product path (`session.run`) against the built-in mock (its own process) two ways,
interleaved: plain (no feed) and feed (the feed served on a free port and scraped by a
thread of this process every `--scrape-every` seconds, as a Prometheus server would). The
feed's HTTP server runs in threads of the client's own process, so its CPU is in the
figures. Prints, per mode, requests per second and the client's CPU seconds per 1000
requests (medians and ranges), the feed's extra CPU as a share of the plain run's, and the
direct costs: CPU per record of `LiveFeed.add` and CPU per scrape (render + HTTP).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import urllib.request

from llmbench_async.config import ObserveOptions, RunConfig
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.records import RequestRecord
from llmbench_async.session.run import run
from llmbench_async.watch.feed import LiveFeed, serving

TOKENS = 32


def _scraper(url: str, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()


def one_run(config: RunConfig, mode: str, every_s: float) -> tuple[float, float]:
    """(requests per second, client CPU s per 1000 requests) of one run."""
    options = ObserveOptions(prometheus_port=0 if mode == "feed" else None)
    stop = threading.Event()
    with serving(options, announce=False) as served:
        thread = None
        if served is not None:
            thread = threading.Thread(target=_scraper, args=(served.url, every_s, stop))
            thread.start()
        try:
            result = run(
                config,
                observe=options,
                keep_records=False,
                feed=None if served is None else served.feed,
            )
        finally:
            stop.set()
            if thread is not None:
                thread.join()
    assert result.summary.failed == 0, result.summary.errors
    wall = (result.outcome.ended_ns - result.outcome.started_ns) / 1e9
    return result.summary.total / wall, 1000 * result.outcome.cpu_s / result.summary.total


def add_us(records: int = 50_000) -> float:
    """CPU microseconds per record spent by `LiveFeed.add` (TOKENS - 1 token gaps each)."""
    feed = LiveFeed("bench")
    feed.begin("mock-model")
    gaps = tuple(2_000_000 + 1000 * i for i in range(TOKENS - 1))
    batch = [
        RequestRecord(
            index=i,
            scheduled_ns=0,
            send_ns=0,
            end_ns=90_000_000,
            first_token_ns=20_000_000 + i,
            token_gaps_ns=gaps,
            output_tokens=TOKENS,
        )
        for i in range(records)
    ]
    cpu0 = time.process_time()
    for r in batch:
        feed.add(r)
    return (time.process_time() - cpu0) / records * 1e6


def scrape_ms(scrapes: int = 200) -> float:
    """CPU milliseconds per scrape of a feed holding one model's counts (render + HTTP)."""
    with serving(ObserveOptions(prometheus_port=0), announce=False) as served:
        assert served is not None
        served.feed.begin("mock-model")
        served.feed.add(RequestRecord(index=0, scheduled_ns=0, send_ns=0, end_ns=9))
        cpu0 = time.process_time()
        for _ in range(scrapes):
            with urllib.request.urlopen(served.url, timeout=5) as resp:
                resp.read()
        return (time.process_time() - cpu0) / scrapes * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scrape-every", type=float, default=1.0, help="seconds")
    parser.add_argument("--quick", action="store_true", help="1000 requests, C=64, 1 rep")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.concurrency, args.reps = 1000, 64, 1
    modes = ("plain", "feed")
    rates: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    with MockProcess(MockConfig(ttft_ms=20, itl_ms=2, tokens=TOKENS)) as mock:
        config = RunConfig(
            base_url=mock.base_url, model="mock-model", n=args.requests,
            concurrency=args.concurrency, warmup_requests=args.concurrency,
        )  # fmt: skip
        for _ in range(args.reps):
            for mode in modes:
                rate, per_1000 = one_run(config, mode, args.scrape_every)
                rates[mode].append(rate)
                cpu[mode].append(per_1000)
    per_add, per_scrape = add_us(), scrape_ms()
    plain = statistics.median(cpu["plain"])
    print(
        f"C={args.concurrency}, {args.requests} requests, {args.reps} reps (medians), "
        f"feed scraped every {args.scrape_every:g} s"
    )
    for mode in modes:
        value = statistics.median(cpu[mode])
        extra = "" if mode == "plain" else f"  overhead {100 * (value - plain) / plain:+.2f} %"
        print(
            f"  {mode:<5} {statistics.median(rates[mode]):8.1f} req/s "
            f"(range {min(rates[mode]):.1f}-{max(rates[mode]):.1f}); "
            f"{value:.3f} CPU s / 1000 requests "
            f"(range {min(cpu[mode]):.3f}-{max(cpu[mode]):.3f}){extra}"
        )
    print("direct costs (steadier than the differences above on a busy machine):")
    print(
        f"  LiveFeed.add: {per_add:.2f} µs CPU per record ({TOKENS - 1} token gaps) = "
        f"{100 * per_add / (plain * 1000):.2f} % of the plain run's CPU per request"
    )
    print(
        f"  one scrape: {per_scrape:.2f} ms CPU = {per_scrape / 10 / args.scrape_every:.3f} % "
        f"of one core at one scrape every {args.scrape_every:g} s"
    )


if __name__ == "__main__":
    main()
