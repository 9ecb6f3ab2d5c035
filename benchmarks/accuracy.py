"""How far our TTFT and E2E are from the server's own truth, as concurrency grows.

Runs the mock server (TTFT 200 ms, ITL 10 ms, 64 tokens) with its truth log, then our
runner at each concurrency (each in a fresh child process, so CPU and peak RSS are its own;
C warm-up requests first open the C connections and are left out), matches every record to
the server's log line by response id, and prints, at p50 / p99 / max, in ms:

* TTFT err: our TTFT (first token − send) − the server's (first token written − request
  received); E2E err likewise, to the last token written;
* first-token seen late by: our first-token instant − the server's write instant. Both
  processes read CLOCK_MONOTONIC, so this is the client's own lag in seeing the token, loopback
  included: the measurement error proper;
* request reached server after: server received − our send instant: our write, loopback,
  and the server's own delay in reading the request (server queueing, which is real latency
  a user sees but which the server-side TTFT does not count).

TTFT err = first-token lag + request lag. Also: requests/s, client CPU, peak RSS, loop lag.

    uv run python benchmarks/accuracy.py        # C = 1,16,128,512,1000 with 1 and 2 workers
    uv run python benchmarks/accuracy.py --concurrency 128 --workers 1
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from llmbench_async import MockConfig, MockProcess, RetryPolicy, RunConfig, run
from llmbench_async.stats import percentile

TTFT_MS, ITL_MS, TOKENS = 200.0, 10.0, 64


def child(args: argparse.Namespace) -> None:
    """Run one benchmark and print one JSON line of its records' measurements."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    config = RunConfig(
        base_url=args.base_url,
        model="mock-model",
        n=args.n,
        concurrency=args.c,
        workers=args.workers,
        max_tokens=TOKENS,
        retry=RetryPolicy(retries=0),
        warmup_requests=args.warmup,
    )
    result = run(config)
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = [
        (r.response_id, r.ttft_ns, r.e2e_ns, r.send_ns, r.first_token_ns)
        for r in result.records
        if r.ok and r.response_id and not r.warmup
    ]
    print(
        json.dumps(
            {
                "rows": rows,
                "failed": result.summary.failed,
                "requests_per_s": result.summary.requests_per_s,
                "cpu_s": usage_self.ru_utime
                + usage_self.ru_stime
                + usage_children.ru_utime
                + usage_children.ru_stime,
                "rss_mb": max(usage_self.ru_maxrss, usage_children.ru_maxrss) / 1024,
                "client": result.client_stats,
            }
        )
    )


def measure(c: int, workers: int, n: int, warmup: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "truth.jsonl"
        mock_cfg = MockConfig(ttft_ms=TTFT_MS, itl_ms=ITL_MS, tokens=TOKENS, log_path=str(log))
        with MockProcess(mock_cfg) as mock:
            cmd = [sys.executable, __file__, "--child", "--base-url", mock.base_url]
            cmd += ["--c", str(c), "--n", str(n), "--workers", str(workers)]
            cmd += ["--warmup", str(warmup)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
        data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        truth: dict[str, dict[str, float]] = {}
        for line in log.read_text().splitlines():
            t = json.loads(line)
            if t.get("status") == 200 and t.get("first_token") is not None:
                truth[t["id"]] = t["monotonic"]
    ttft_err: list[float] = []
    e2e_err: list[float] = []
    arrival_lag: list[float] = []
    request_lag: list[float] = []
    for rid, ttft_ns, e2e_ns, send_ns, first_ns in data["rows"]:
        if rid in truth and ttft_ns is not None:
            t = truth[rid]
            ttft_err.append(ttft_ns / 1e6 - (t["first_token"] - t["received"]) * 1e3)
            e2e_err.append(e2e_ns / 1e6 - (t["last_token"] - t["received"]) * 1e3)
            # both processes read CLOCK_MONOTONIC: compare the instants themselves
            arrival_lag.append(first_ns / 1e6 - t["first_token"] * 1e3)
            request_lag.append(t["received"] * 1e3 - send_ns / 1e6)
    data["matched"] = len(ttft_err)
    for key, values in (
        ("ttft_err", ttft_err),
        ("e2e_err", e2e_err),
        ("arrival_lag", arrival_lag),
        ("request_lag", request_lag),
    ):
        values.sort()
        data[key] = [percentile(values, 50), percentile(values, 99), values[-1]]
    data["n"] = n
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--c", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help="requests per level (default 2×C, ≥ 32)")
    parser.add_argument("--concurrency", default="1,16,128,512,1000")
    parser.add_argument("--workers", default="1,2", help="worker counts to try, e.g. 1,2")
    parser.add_argument(
        "--warmup",
        type=int,
        default=-1,
        help="warm-up requests per level, left out (default C: opens the C connections)",
    )
    args = parser.parse_args()
    if args.child:
        args.workers = int(args.workers)
        child(args)
        return
    levels = [int(x) for x in args.concurrency.split(",")]
    worker_counts = [int(x) for x in args.workers.split(",")]
    print(f"Python {platform.python_version()}, {platform.machine()}, 2-core machine; mock:")
    print(f"TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, {TOKENS} tokens; errors = ours − truth (ms)")
    print()
    print(
        "| workers | C | n | TTFT err p50 / p99 / max | E2E err p50 / p99 / max "
        "| first-token seen late by | request reached server after "
        "| req/s | client CPU s | peak RSS MB | loop lag p50 / p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for workers in worker_counts:
        for c in levels:
            n = args.n or max(32, 2 * c)
            d = measure(c, workers, n, c if args.warmup < 0 else args.warmup)
            lag = d["client"]["loop_lag_ms"]
            print(
                f"| {workers} | {c} | {d['matched']} of {n} (failed {d['failed']}) "
                f"| {_triple(d['ttft_err'])} | {_triple(d['e2e_err'])} "
                f"| {_triple(d['arrival_lag'])} | {_triple(d['request_lag'])} "
                f"| {d['requests_per_s']:.1f} | {d['cpu_s']:.2f} | {d['rss_mb']:.0f} "
                f"| {lag['p50']:.1f} / {lag['p99']:.1f} |",
                flush=True,
            )


def _triple(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
