"""One process vs `--workers 2` vs `--ray local` with 2 actors, against one loopback mock.

Same n and C for each mode, against the built-in mock (TTFT 200 ms, ITL 10 ms, 64 tokens).
Prints achieved requests/s, the TTFT error (measured TTFT − the mock's 200 ms, p50 / p99)
and, for Ray, the driver's merge rate: records decoded and handed to the sink per second of
the driver's busy time, and per second of wall time. A second Ray run against an instant
mock (no delays, 4 tokens) pushes as many records as it can through the driver's merge.

As root it re-runs itself in a private network namespace with only `lo` up (`unshare
--net`), so Ray binds to 127.0.0.1 like the tests do.

    uv run --extra ray python benchmarks/ray_scaling.py              # n=1000, C=64 (~1.5 min)
    uv run --extra ray python benchmarks/ray_scaling.py -n 2000 -c 128 --merge-n 40000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

from llmbench_async import MockConfig, MockProcess, RetryPolicy, RunConfig, run
from llmbench_async.results.stats import percentile

TTFT_MS = 200.0
_IN_NETNS = "LLMBENCH_BENCH_NETNS"
_LO_UP = (
    "import fcntl, socket, struct\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "req = struct.pack('16sH', b'lo', 0)\n"
    "flags = struct.unpack('16sH', fcntl.ioctl(s, 0x8913, req)[:18])[1]\n"
    "fcntl.ioctl(s, 0x8914, struct.pack('16sH', b'lo', flags | 1))\n"
)


def one(base_url: str, n: int, c: int, **changes: Any) -> dict[str, Any]:
    config = RunConfig(
        base_url=base_url,
        model="mock-model",
        n=n,
        concurrency=c,
        max_tokens=64,
        retry=RetryPolicy(retries=0),
        **changes,
    )
    wall = time.perf_counter()
    result = run(config, keep_records=True)
    wall = time.perf_counter() - wall
    errors = sorted((r.ttft_ns or 0) / 1e6 - TTFT_MS for r in result.records if r.ok)
    ray = result.client_stats.get("ray") or {}
    return {
        "ok": result.summary.ok,
        "req_s": result.summary.requests_per_s,
        "err_p50": percentile(errors, 50) if errors else float("nan"),
        "err_p99": percentile(errors, 99) if errors else float("nan"),
        "wall_s": wall,
        "merge_busy": ray.get("driver_merge_records_per_s"),
        "merge_wall": ray.get("driver_records_per_s"),
        "spread": ray.get("start_spread_ms"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("-c", type=int, default=64)
    parser.add_argument("--merge-n", type=int, default=20000)
    args = parser.parse_args()
    if os.geteuid() == 0 and not os.environ.get(_IN_NETNS):
        code = _LO_UP + "import runpy, sys\nsys.argv = sys.argv[1:]\n"
        code += "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        env = {**os.environ, _IN_NETNS: "1"}
        cmd = ["unshare", "--net", sys.executable, "-c", code, __file__, *sys.argv[1:]]
        sys.exit(subprocess.run(cmd, env=env).returncode)
    rows: list[tuple[str, dict[str, Any]]] = []
    with MockProcess(MockConfig(ttft_ms=TTFT_MS, itl_ms=10, tokens=64)) as mock:
        rows.append(("1 process", one(mock.base_url, args.n, args.c)))
        rows.append(("--workers 2", one(mock.base_url, args.n, args.c, workers=2)))
        ray = {"ray_address": "local", "ray_actors": 2}
        rows.append(("--ray local, 2 actors", one(mock.base_url, args.n, args.c, **ray)))
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, tokens=4)) as instant:
        merge = one(instant.base_url, args.merge_n, args.c, **ray)
    print(f"n={args.n} C={args.c}, mock TTFT {TTFT_MS:g} ms, ITL 10 ms, 64 tokens")
    print(f"{'mode':<24}{'ok':>6}{'req/s':>9}{'TTFT err p50':>14}{'p99 (ms)':>10}{'wall s':>8}")
    for name, r in rows:
        print(
            f"{name:<24}{r['ok']:>6}{r['req_s']:>9.1f}{r['err_p50']:>14.1f}"
            f"{r['err_p99']:>10.1f}{r['wall_s']:>8.1f}"
        )
    ray_row = rows[-1][1]
    print(f"Ray start spread: {ray_row['spread']:.2f} ms")
    print(
        f"driver merge, instant mock, n={args.merge_n} C={args.c}: {merge['ok']} records, "
        f"{merge['merge_busy']:,.0f} records/s of driver busy time, "
        f"{merge['merge_wall']:,.0f} records/s of wall time ({merge['req_s']:.0f} req/s)"
    )


if __name__ == "__main__":
    main()
