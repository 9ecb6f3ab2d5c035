"""How far our TTFT and E2E are from the server's own truth, as concurrency grows.

Runs the mock server (TTFT 200 ms, ITL 10 ms, 64 tokens) with its truth log, then our
runner at each concurrency (each in a fresh child process, so CPU and peak RSS are its own),
matches every record to the server's log line by response id, and prints the client-minus-
truth error of TTFT and E2E at p50 / p99 / max, with the achieved requests/s, the client's
CPU, peak RSS and event-loop lag.

    uv run python benchmarks/accuracy.py        # C = 1,16,128,512,1000 with 1 and 2 workers
    uv run python benchmarks/accuracy.py --concurrency 128 --workers 1

Truth: TTFT = first content chunk written − request fully received; E2E = last content
chunk written − request received (server clock). Ours: first token − send, and end − send.
Our E2E also covers the usage chunk and `[DONE]` that follow the last token, written at the
same instant on this server, plus one loopback hop each way, so a small positive error is
expected; what matters is how it grows with load.
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
    )
    result = run(config)
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = [(r.response_id, r.ttft_ns, r.e2e_ns) for r in result.records if r.ok and r.response_id]
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


def measure(c: int, workers: int, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "truth.jsonl"
        mock_cfg = MockConfig(ttft_ms=TTFT_MS, itl_ms=ITL_MS, tokens=TOKENS, log_path=str(log))
        with MockProcess(mock_cfg) as mock:
            cmd = [sys.executable, __file__, "--child", "--base-url", mock.base_url]
            cmd += ["--c", str(c), "--n", str(n), "--workers", str(workers)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
        data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        truth: dict[str, tuple[float, float]] = {}
        for line in log.read_text().splitlines():
            t = json.loads(line)
            if t.get("status") == 200 and t.get("first_token") is not None:
                received = t["received"]
                truth[t["id"]] = (t["first_token"] - received, t["last_token"] - received)
    ttft_err: list[float] = []
    e2e_err: list[float] = []
    for rid, ttft_ns, e2e_ns in data["rows"]:
        if rid in truth and ttft_ns is not None:
            true_ttft, true_e2e = truth[rid]
            ttft_err.append(ttft_ns / 1e6 - true_ttft * 1e3)
            e2e_err.append(e2e_ns / 1e6 - true_e2e * 1e3)
    ttft_err.sort()
    e2e_err.sort()
    data["matched"] = len(ttft_err)
    data["ttft_err"] = [percentile(ttft_err, 50), percentile(ttft_err, 99), ttft_err[-1]]
    data["e2e_err"] = [percentile(e2e_err, 50), percentile(e2e_err, 99), e2e_err[-1]]
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
        "| workers | C | n | matched | TTFT err p50 / p99 / max | E2E err p50 / p99 / max "
        "| req/s | client CPU s | peak RSS MB | loop lag p50 / p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workers in worker_counts:
        for c in levels:
            n = args.n or max(32, 2 * c)
            d = measure(c, workers, n)
            lag = d["client"]["loop_lag_ms"]
            print(
                f"| {workers} | {c} | {n} | {d['matched']} (failed {d['failed']}) "
                f"| {_triple(d['ttft_err'])} | {_triple(d['e2e_err'])} "
                f"| {d['requests_per_s']:.1f} | {d['cpu_s']:.2f} | {d['rss_mb']:.0f} "
                f"| {lag['p50']:.1f} / {lag['p99']:.1f} |",
                flush=True,
            )


def _triple(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
