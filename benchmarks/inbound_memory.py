"""Peak memory of the CLI against hostile bodies on every surface that reads HTTP.

For each surface (a streamed response, a whole response, an error body, GET /models,
GET /metrics) and each body (a 1 GiB gzip bomb in one gzip member, about 1 MB on the
wire; an endless chunked body), one `llmbench-async run` against a loopback server
written here, under GNU time: its peak RSS, wall time and exit code.

    uv run python benchmarks/inbound_memory.py [--concurrency 8]

Needs /usr/bin/time (GNU time). Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from surfaces import SSE_EVENT, Server, endless, fixed, gzip_bomb, run_args, whole

SURFACES = {
    # surface: (route, content type, status, run flags)
    "stream": ("stream", "text/event-stream", 200, ("-m", "m")),
    "whole": ("whole", "application/json", 200, ("-m", "m", "--no-stream")),
    "error_body": ("stream", "application/json", 500, ("-m", "m")),
    "models": ("models", "application/json", 200, ()),
    "metrics": ("metrics", "text/plain", 200, ("-m", "m", "--server-metrics", "auto")),
}


def measure(surface: str, body: str, concurrency: int) -> tuple[int, float, int]:
    route, ctype, status, flags = SURFACES[surface]
    if body == "gzip_bomb":
        writer = fixed(whole(status, gzip_bomb(30), ctype, "Content-Encoding: gzip\r\n"))
    elif body == "sse_bomb":  # 1 GiB of valid events: the per-stream cap ends it
        bomb = gzip_bomb(30, SSE_EVENT)
        writer = fixed(whole(status, bomb, ctype, "Content-Encoding: gzip\r\n"))
    elif body == "sse_endless":
        writer = endless(ctype, status, SSE_EVENT * 800)
    else:
        writer = endless(ctype, status)
    load = ("-c", str(concurrency), "-n", str(concurrency)) if surface != "models" else ()
    with Server({route: writer}) as server, tempfile.TemporaryDirectory() as tmp:
        rss = Path(tmp) / "rss"
        started = time.monotonic()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", str(rss), sys.executable, "-m",
             "llmbench_async", *run_args(server.url, *flags), *load, "-q"],
            capture_output=True,
            timeout=300,
        )  # fmt: skip
        took = time.monotonic() - started
        return int(rss.read_text().split()[-1]) >> 10, took, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    gzip_bomb(30)  # built once, before any timing
    print(f"| surface | body | peak RSS | wall | exit |  (-c {args.concurrency})")
    print("|---|---|---|---|---|")
    for surface in SURFACES:
        bodies = ["gzip_bomb", "endless"]
        if surface == "stream":
            bodies += ["sse_bomb", "sse_endless"]
        for body in bodies:
            peak, took, code = measure(surface, body, args.concurrency)
            print(f"| {surface} | {body} | {peak} MiB | {took:.1f} s | {code} |", flush=True)


if __name__ == "__main__":
    main()
