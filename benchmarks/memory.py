"""Peak memory of a very long run, through the command line as a user runs it.

    uv run python benchmarks/memory.py                        # 1,000,000 requests; 4 cases
    uv run python benchmarks/memory.py --n 200000 --cases plain,output

The built-in mock server (instant: TTFT 0, ITL 0, 2 tokens) runs in this process's child;
`llmbench-async run ... -q --json` runs as another child, exactly as typed in a shell, in
each case: one process without and with `-o`, and `--workers 2` without and with `-o`.
Reported per case:

* the CLI process's own peak RSS, from `wait4()`'s rusage (the kernel's high-water mark);
* the peak of the whole process tree (the CLI plus its worker processes) summed, sampled
  from /proc every 50 ms (Linux only);
* requests/s and the request count the summary JSON reports.

The command line keeps no per-request records: each one feeds the summary's sample
arrays (8 bytes a value per metric) and the JSONL file, then is dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from llmbench_async import MockConfig, MockProcess

CASES = {
    "plain": [],
    "output": ["-o", "{tmp}/results.jsonl"],
    "workers": ["--workers", "2"],
    "workers-output": ["--workers", "2", "-o", "{tmp}/results.jsonl"],
}


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _tree_rss_kb(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += _rss_kb(p)
        stack.extend(_children(p))
    return total


def run_case(name: str, base_url: str, n: int, concurrency: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        extra = [a.format(tmp=tmp) for a in CASES[name]]
        summary = Path(tmp) / "summary.json"
        argv = [sys.executable, "-m", "llmbench_async", "run", "--base-url", base_url]
        argv += ["--model", "mock-model", "-n", str(n), "-c", str(concurrency)]
        argv += ["--max-tokens", "2", "-q", "--json", str(summary), *extra]
        started = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ)
        peak_tree = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.is_set():
                peak_tree = max(peak_tree, _tree_rss_kb(pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(pid, 0)
        done.set()
        sampler.join()
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        data = json.loads(summary.read_text()) if summary.exists() else {}
    requests = data.get("requests", {})
    rps = data.get("throughput", {}).get("requests_per_s", 0.0)
    return (
        f"| {name} | {n} | exit {code} | {requests.get('ok', 0)} ok / "
        f"{requests.get('failed', 0)} failed | {wall:.0f} s | {rps:.0f} "
        f"| {usage.ru_maxrss / 1024:.0f} MB | {peak_tree / 1024:.0f} MB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--cases", default=",".join(CASES), help=", ".join(CASES))
    args = parser.parse_args()
    print("| case | requests | exit | result | wall | req/s | CLI peak RSS | tree peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, tokens=2)) as mock:
        for name in args.cases.split(","):
            print(run_case(name, mock.base_url, args.n, args.concurrency), flush=True)


if __name__ == "__main__":
    main()
