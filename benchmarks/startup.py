"""Start-up time, whole process, median of 7: `llmbench-async --help` and `--version`, and
from process start to the first request sent (`--model` given, so no GET /models).

Run: `uv run python benchmarks/startup.py`, or time an installed copy with `--exe PATH`:

    uv build --wheel --out-dir /tmp/dist
    UV_TOOL_DIR=/tmp/tools UV_TOOL_BIN_DIR=/tmp/tools/bin \
        uv tool install --compile-bytecode /tmp/dist/llmbench_async-*.whl
    uv run python benchmarks/startup.py --exe /tmp/tools/bin/llmbench-async

A project environment made by `uv sync` holds no byte-code (uv does not compile by
default), and with PYTHONDONTWRITEBYTECODE set Python never writes any, so every start
compiles every imported module of httpx, anyio, typer and ours: report which case you ran.
Prints wall time and CPU time (user + sys of the child); on a loaded machine the CPU time
is the steadier one.
Targets on an idle machine: `--help` 0.3 s wall; first request 0.5 s.

The first-request figure: a raw-socket server in a thread of this process stamps
`time.perf_counter()` when the first request's head arrives; the figure is that instant
minus the instant just before the child was spawned (the same clock). The server answers a
one-token SSE stream so the run ends normally.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

RUNS = 7


def measure(argv: list[str]) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of `argv` over RUNS runs."""
    walls, cpus = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


_SSE = (
    b'data: {"id":"s","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n'
    b'data: {"id":"s","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)
_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
    + f"Content-Length: {len(_SSE)}\r\n\r\n".encode()
    + _SSE
)


class FirstRequestServer:
    """A loopback server that stamps when the head of each request arrives."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.arrivals: list[float] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.arrivals.append(time.perf_counter())
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            conn.sendall(_REPLY)


def first_request(exe: str) -> tuple[float, float]:
    """Median seconds from spawning a run to its first request's arrival, and median CPU."""
    server = FirstRequestServer()
    argv = [exe, "--base-url", f"http://127.0.0.1:{server.port}", "--model", "m"]
    argv += ["-n", "1", "--retries", "0", "-q"]
    firsts, cpus = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server.arrivals.clear()
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        firsts.append(server.arrivals[0] - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(firsts), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--exe",
        help="the llmbench-async to time, e.g. one installed from the wheel (default: this "
        "environment's; `uv run` puts the project's first on PATH)",
    )
    args = parser.parse_args()
    exe = (
        args.exe
        or shutil.which("llmbench-async")
        or os.path.join(os.path.dirname(sys.executable), "llmbench-async")
    )
    print(f"{exe}; load average {os.getloadavg()[0]:.2f}")
    for args in (["--help"], ["--version"]):
        wall, cpu = measure([exe, *args])
        print(
            f"llmbench-async {args[0]:<10} wall {wall:.3f} s  cpu {cpu:.3f} s  (median of {RUNS})"
        )
    first, cpu = first_request(exe)
    print(
        f"{'start → first request':<25} wall {first:.3f} s  cpu {cpu:.3f} s (whole run)"
        f"  (median of {RUNS})"
    )
    wall, cpu = measure([sys.executable, "-c", "pass"])
    print(f"{'python -c pass':<25} wall {wall:.3f} s  cpu {cpu:.3f} s")


if __name__ == "__main__":
    main()
