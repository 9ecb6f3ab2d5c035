"""Peak memory of a very long run: N requests against an instant mock endpoint.

    uv run python benchmarks/memory.py                    # 1,000,000 requests, C=64
    uv run python benchmarks/memory.py --n 100000 --workers 2

The run keeps no per-request records in memory (as the command line does): each record
feeds the summary's compact sample arrays (8 bytes a value) and the optional JSONL file,
then is dropped. Prints the parent's peak RSS (and the workers' with --workers), the
throughput and the summary's request count.
"""

from __future__ import annotations

import argparse
import resource
import time

from llmbench_async import MockConfig, MockProcess, RunConfig, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=2)
    args = parser.parse_args()
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, tokens=args.tokens)) as mock:
        started = time.perf_counter()
        result = run(
            RunConfig(
                base_url=mock.base_url,
                model="mock-model",
                n=args.n,
                concurrency=args.concurrency,
                workers=args.workers,
                max_tokens=args.tokens,
            ),
            keep_records=False,
        )
        wall = time.perf_counter() - started
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    s = result.summary
    print(
        f"| {args.n} | {args.concurrency} | {args.workers} | {s.ok} ok / {s.failed} failed "
        f"| {wall:.0f} s | {s.requests_per_s:.0f} | {parent:.0f} MB | {children:.0f} MB |"
    )
    print("(columns: requests, C, workers, result, wall, req/s, parent peak RSS, ")
    print(" largest child peak RSS: the mock server or a worker)")


if __name__ == "__main__":
    main()
