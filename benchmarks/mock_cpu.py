"""Mock server CPU per streamed request: what the built-in server itself costs.

    uv run python benchmarks/mock_cpu.py                 # C=64, 2000 requests, 3 reps
    uv run python benchmarks/mock_cpu.py --concurrency 256 --requests 4000

The server runs in its own process (ttft 0, itl 0, 130 tokens: 133 chunked SSE events per
response, as in cpu_per_request.py). A bare asyncio client keeps C keep-alive connections
busy and reads each response to its terminating chunk. The figure is the server process's
user + sys CPU time (from /proc/PID/stat) over the measured requests, divided by their count,
so it is little affected by other load on the machine. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics

from llmbench_async.mock import MockConfig, MockProcess

BODY = json.dumps(
    {
        "model": "mock-model",
        "messages": [{"role": "user", "content": "hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
).encode()
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n%b" % (len(BODY), BODY)
)


def cpu_seconds(pid: int) -> float:
    """User + sys CPU time of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def worker(host: str, port: int, count: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    for _ in range(count):
        writer.write(REQUEST)
        buf = b""
        while not buf.endswith(b"0\r\n\r\n"):
            data = await reader.read(1 << 16)
            if not data:
                raise RuntimeError("server closed the connection")
            buf = buf[-8:] + data if len(buf) > 1 << 20 else buf + data
    writer.close()


async def drive(host: str, port: int, concurrency: int, requests: int) -> None:
    each = max(1, requests // concurrency)
    await asyncio.gather(*(worker(host, port, each) for _ in range(concurrency)))


def measure(concurrency: int, requests: int) -> float:
    """Server CPU microseconds per request, after one warm-up round."""
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, tokens=130)) as mock:
        assert mock.process is not None
        asyncio.run(drive(mock.host, mock.port, concurrency, concurrency))
        before = cpu_seconds(mock.process.pid)
        asyncio.run(drive(mock.host, mock.port, concurrency, requests))
        after = cpu_seconds(mock.process.pid)
    done = max(1, requests // concurrency) * concurrency
    return (after - before) / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    runs = [measure(args.concurrency, args.requests) for _ in range(args.reps)]
    print(
        f"mock server CPU per streamed request (133 events), C={args.concurrency}: "
        f"median {statistics.median(runs):.0f} µs (runs: {', '.join(f'{r:.0f}' for r in runs)})"
    )


if __name__ == "__main__":
    main()
