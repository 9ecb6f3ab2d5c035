"""Client CPU per streamed chat-completion request: llmbench-async against aiohttp (and httpx).

    uv run python benchmarks/cpu_per_request.py            # 64/256/1024, chunked+static, 3 reps
    uv run python benchmarks/cpu_per_request.py --quick    # C=64, 1 rep: a smoke run
    uv run python benchmarks/cpu_per_request.py --with-httpx --concurrency 64,256

Contenders, all sending the same request bytes to the built-in mock server (its own process,
ttft 0, itl 0, 130 tokens: 133 SSE events, ~30 KB per response):

- llmbench: the product path, `run_requests` over `make_client()` as `session.run_async`
  drives it (SSE decoding, chunk classification, timing, watchdog, lag probe included);
- aiohttp: one session, `TCPConnector(limit=0)`, C workers, `iter_any()` + own line splitting,
  `json.loads` of every data payload but [DONE], read to the end of the stream;
- httpx (`--with-httpx`): one plain `httpx.AsyncClient` with limits = C, `aiter_lines()`.

Each measurement is a fresh child process: it warms up with one round of C requests at
concurrency C (which also opens the C keep-alive connections), then takes `time.process_time()`
(user + sys) around R more. A single failed request makes the measurement invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import aiohttp
import anyio
import httpx

from llmbench_async.config import RunConfig
from llmbench_async.loadgen.build import build_workload
from llmbench_async.loadgen.runner import run_requests
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.pacing import ClosedLoop, LoadPlan
from llmbench_async.records import RequestRecord
from llmbench_async.wire.assemble import auth_headers, build_target
from llmbench_async.wire.transport import make_client

TOKENS = 130
MODEL = "mock-model"
CONTENDERS = ("llmbench", "aiohttp", "httpx", "orjson")


@dataclass
class Tally:
    """What one batch of requests did."""

    ok: int = 0
    failed: int = 0
    events: int = 0
    reads: int = 0  # body pieces as the client saw them (aiohttp only)
    peak_in_flight: int = 0
    spans: list[tuple[int, int]] = field(default_factory=list)  # (headers_ns, end_ns)
    first_error: str | None = None

    def fail(self, message: str) -> None:
        self.failed += 1
        self.first_error = self.first_error or message


Run = Callable[[int], Awaitable[Tally]]  # send n requests at concurrency C


# --------------------------------------------------------------------------- child side


def _config(base_url: str, c: int) -> RunConfig:
    """The run's config; every contender sends the URL, headers and body built from it."""
    return RunConfig(
        base_url=base_url, api_key="sk-benchmark", model=MODEL, concurrency=c, max_tokens=TOKENS
    )


@contextlib.asynccontextmanager
async def _llmbench(base_url: str, c: int) -> AsyncIterator[Run]:
    config = _config(base_url, c)
    target, workload = build_target(config), build_workload(config)
    timeout = httpx.Timeout(None, connect=config.timeouts.connect)  # as in run_async
    async with make_client(verify=config.verify, timeout=timeout) as http:

        async def run(n: int) -> Tally:
            records: list[RequestRecord] = []
            plan = LoadPlan(ClosedLoop(c), count=n)
            outcome = await run_requests(http, target, workload, plan, records.append)
            tally = Tally(peak_in_flight=outcome.peak_in_flight)
            for r in records:
                if not r.ok or r.attempts != 1 or r.output_events != TOKENS:
                    tally.fail(f"{r.error_kind}: {r.error_message} (attempts {r.attempts})")
                    continue
                tally.ok += 1
                tally.events += r.output_events
                tally.spans.append((r.headers_ns or r.send_ns, r.end_ns))
            if len(records) != n:
                tally.fail(f"{n - len(records)} requests produced no record")
            return tally

        yield run


@contextlib.asynccontextmanager
async def _orjson(base_url: str, c: int) -> AsyncIterator[Run]:
    """The llmbench path with orjson's decoder for SSE data (the A/B for adding orjson)."""
    import orjson

    from llmbench_async.wire import protocol

    protocol._decode = orjson.loads
    async with _llmbench(base_url, c) as run:
        yield run


async def _drive(one: Callable[[], Awaitable[tuple[int, int, int]]], n: int, c: int) -> Tally:
    """C long-lived workers pulling from one counter; `one()` → (headers_ns, events, reads)."""
    tally = Tally()
    todo = iter(range(n))
    in_flight = 0

    async def worker() -> None:
        nonlocal in_flight
        for _ in todo:
            in_flight += 1
            tally.peak_in_flight = max(tally.peak_in_flight, in_flight)
            try:
                headers_ns, events, reads = await one()
            except Exception as exc:
                tally.fail(repr(exc))
            else:
                tally.spans.append((headers_ns, time.perf_counter_ns()))
                tally.ok += 1
                tally.events += events
                tally.reads += reads
            finally:
                in_flight -= 1

    await asyncio.gather(*(worker() for _ in range(min(c, n))))
    return tally


@contextlib.asynccontextmanager
async def _aiohttp(base_url: str, c: int) -> AsyncIterator[Run]:
    config = _config(base_url, c)
    url, headers, body = config.endpoint, auth_headers(config), build_workload(config).body(0)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> tuple[int, int, int]:
            events, reads, done, tail = 0, 0, False, b""
            async with session.post(url, data=body, headers=headers) as resp:
                headers_ns = time.perf_counter_ns()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                async for piece in resp.content.iter_any():
                    reads += 1
                    lines = (tail + piece if tail else piece).split(b"\n")
                    tail = lines.pop()
                    for line in lines:
                        if line.startswith(b"data:"):
                            data = line[5:].strip()
                            if data == b"[DONE]":
                                done = True
                            else:
                                json.loads(data)
                                events += 1
            if not done:
                raise RuntimeError("stream ended without [DONE]")
            return headers_ns, events, reads

        yield lambda n: _drive(one, n, c)


@contextlib.asynccontextmanager
async def _httpx(base_url: str, c: int) -> AsyncIterator[Run]:
    config = _config(base_url, c)
    url, headers, body = config.endpoint, auth_headers(config), build_workload(config).body(0)
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def one() -> tuple[int, int, int]:
            events, done = 0, False
            async with client.stream("POST", url, content=body, headers=headers) as resp:
                headers_ns = time.perf_counter_ns()
                if resp.status_code != 200:
                    raise RuntimeError(f"HTTP {resp.status_code}")
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        data = line[5:].strip()
                        if data == "[DONE]":
                            done = True
                        else:
                            json.loads(data)
                            events += 1
            if not done:
                raise RuntimeError("stream ended without [DONE]")
            return headers_ns, events, 0

        yield lambda n: _drive(one, n, c)


def _peak_overlap(spans: list[tuple[int, int]]) -> int:
    """Most responses open at once (between headers and end), from their timestamps."""
    marks = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    level = peak = 0
    for _, step in marks:
        level += step
        peak = max(peak, level)
    return peak


async def _measure(contender: str, base_url: str, c: int, n: int) -> dict[str, Any]:
    factory = {"llmbench": _llmbench, "aiohttp": _aiohttp, "httpx": _httpx, "orjson": _orjson}[
        contender
    ]
    async with factory(base_url, c) as run:
        warm = await run(c)
        gc.collect()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        tally = await run(n)
        cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "contender": contender,
        "concurrency": c,
        "requests": n,
        "ok": tally.ok,
        "failed": tally.failed + warm.failed,
        "events": tally.events,
        "reads": tally.reads,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "peak_in_flight": tally.peak_in_flight,
        "peak_open": _peak_overlap(tally.spans),
        "first_error": tally.first_error or warm.first_error,
    }


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def child(args: argparse.Namespace) -> None:
    _raise_nofile()
    result = anyio.run(_measure, args.child, args.url, args.c, args.n)
    print(json.dumps(result))


# --------------------------------------------------------------------------- parent side


@dataclass
class Measurement:
    contender: str
    concurrency: int
    body: str
    requests: int
    ok: int = 0
    failed: int = 0
    events: int = 0
    reads: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_in_flight: int = 0
    peak_open: int = 0
    first_error: str | None = None

    @property
    def valid(self) -> bool:
        return self.failed == 0 and self.ok == self.requests

    @property
    def ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests


def measure(contender: str, url: str, c: int, body: str, n: int) -> Measurement:
    command = [sys.executable, __file__, "--child", contender, "--url", url]
    command += ["--c", str(c), "--n", str(n)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return Measurement(contender, c, body, n, failed=n, first_error="child timed out")
    if proc.returncode != 0 or not proc.stdout.strip():
        error = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Measurement(contender, c, body, n, failed=n, first_error=f"child crashed: {error}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    del data["contender"], data["concurrency"]
    return Measurement(contender, c, body, **data)


def run_all(args: argparse.Namespace) -> list[Measurement]:
    _raise_nofile()  # the mock server process inherits it
    results: list[Measurement] = []
    for body in args.bodies:
        static = body == "static"
        mock_config = MockConfig(ttft_ms=0, itl_ms=args.itl_ms, tokens=TOKENS, static_body=static)
        with MockProcess(mock_config) as mock:
            for c in args.concurrency:
                n = args.requests or max(4 * c, 2000)
                contenders = ["llmbench", "aiohttp"]
                if args.with_httpx and c <= args.httpx_up_to:
                    contenders.append("httpx")
                if args.with_orjson:
                    contenders.append("orjson")
                for rep in range(args.reps):
                    for contender in contenders:
                        m = measure(contender, mock.base_url, c, body, n)
                        results.append(m)
                        status = "ok" if m.valid else f"INVALID: {m.first_error}"
                        per = max(m.ok, 1)
                        reads = f"{m.reads / per:5.1f}" if m.reads else "    –"
                        print(
                            f"[{body} C={c} rep {rep + 1}/{args.reps}] {contender:8} "
                            f"{m.ms_per_request:6.3f} ms/req  in flight {m.peak_in_flight:4}  "
                            f"open {m.peak_open:4}  events/req {m.events / per:5.1f}  "
                            f"reads/req {reads}  {m.ok}/{n} ok  "
                            f"wall {m.wall_s:5.1f} s  {status}",
                            file=sys.stderr,
                            flush=True,
                        )
    return results


def _cell(runs: list[Measurement]) -> tuple[str, float | None]:
    if not runs:
        return "–", None
    bad = [m for m in runs if not m.valid]
    if bad:
        return f"invalid ({len(bad)}/{len(runs)} runs failed)", None
    median = statistics.median(m.ms_per_request for m in runs)
    return f"{median:.3f}", median


def report(results: list[Measurement], args: argparse.Namespace) -> str:
    with_httpx = any(m.contender == "httpx" for m in results)
    head = "| C | body | llmbench ms/req | aiohttp ms/req | ratio |"
    head += " httpx ms/req |" if with_httpx else ""
    with_orjson = any(m.contender == "orjson" for m in results)
    head += " llmbench + orjson ms/req | orjson cut |" if with_orjson else ""
    head += " peak in flight | peak open streams | rep spread |"
    lines = [head, "|" + "---|" * head.count(" |")]
    for body in args.bodies:
        for c in args.concurrency:
            row = [m for m in results if m.body == body and m.concurrency == c]
            by = {k: [m for m in row if m.contender == k] for k in CONTENDERS}
            cells = {k: _cell(v) for k, v in by.items()}
            (llm, llm_ms), (aio, aio_ms) = cells["llmbench"], cells["aiohttp"]
            ratio = f"{llm_ms / aio_ms:.2f}x" if llm_ms and aio_ms else "–"
            httpx_cell = f" {cells['httpx'][0]} |" if with_httpx else ""
            if with_orjson:
                oj, oj_ms = cells["orjson"]
                cut = f"{100 * (1 - oj_ms / llm_ms):.0f}%" if oj_ms and llm_ms else "–"
                httpx_cell += f" {oj} | {cut} |"
            present = [k for k in CONTENDERS if by[k]]
            in_flight = " / ".join(str(min(m.peak_in_flight for m in by[k])) for k in present)
            open_ = " / ".join(str(min(m.peak_open for m in by[k])) for k in present)
            spreads = [
                (max(v) - min(v)) / statistics.median(v)
                for k in present
                if (v := [m.ms_per_request for m in by[k]]) and min(v) > 0
            ]
            spread = f"{100 * max(spreads):.0f}%" if spreads else "–"
            lines.append(
                f"| {c} | {body} | {llm} | {aio} | {ratio} |{httpx_cell} {in_flight} | "
                f"{open_} | {spread} |"
            )
    contenders = " / ".join(k for k in CONTENDERS if any(m.contender == k for m in results))
    lines += [
        "",
        f"Medians of {args.reps} interleaved repetitions, client CPU (user + sys) per request.",
        f"Peak in flight / peak open streams: the lowest peak over the repetitions, {contenders}.",
        "Rep spread: the largest (max - min) / median over the contenders of a row.",
    ]
    if not all(m.valid for m in results):
        lines.append("")
    for m in results:
        if not m.valid:
            lines.append(
                f"- INVALID: {m.contender} {m.body} C={m.concurrency}: {m.ok}/{m.requests} ok, "
                f"first error: {m.first_error}"
            )
    return "\n".join(lines)


def machine_facts(args: argparse.Namespace) -> str:
    def ver(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "not installed"

    libs = ", ".join(
        f"{name} {ver(name)}" for name in ("httpx", "httpcore", "aiohttp", "anyio", "sniffio")
    )
    requests = f"{args.requests}" if args.requests else "max(4*C, 2000)"
    git = ["git", "-C", os.path.dirname(os.path.abspath(__file__))]
    head = subprocess.run([*git, "log", "-1", "--format=%h"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", ":/src"], capture_output=True, text=True)
    changed = len(dirty.stdout.splitlines())
    return "\n".join(
        [
            f"- machine: {os.cpu_count()} CPUs, {platform.platform()}",
            f"- Python {platform.python_version()} ({platform.python_implementation()}), "
            f"asyncio default event loop",
            f"- {libs}",
            f"- mock server: its own process, ttft 0 ms, itl {args.itl_ms:g} ms, {TOKENS} tokens, "
            f"bodies {', '.join(args.bodies)} (chunked = one HTTP chunk per SSE event)",
            f"- per measurement: a fresh child process, warm-up of C requests, then "
            f"{requests} measured requests",
            f"- code: commit {head.stdout.strip() or '?'}"
            + (f", {changed} uncommitted change(s) under src/" if changed else ""),
        ]
    )


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _bodies(text: str) -> list[str]:
    bodies = [x for x in text.split(",") if x]
    if not bodies or any(b not in ("chunked", "static") for b in bodies):
        raise argparse.ArgumentTypeError("bodies are chunked and/or static")
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=_ints, default=[64, 256, 1024])
    parser.add_argument("--bodies", type=_bodies, default=["chunked", "static"])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--requests", type=int, default=None, help="default: max(4*C, 2000)")
    parser.add_argument("--with-httpx", action="store_true", help="add the plain httpx client")
    parser.add_argument(
        "--with-orjson", action="store_true", help="add llmbench with orjson (installed apart)"
    )
    parser.add_argument("--httpx-up-to", type=int, default=256, help="largest C for httpx")
    parser.add_argument("--itl-ms", type=float, default=0.0, help="mock's gap between tokens")
    parser.add_argument("--quick", action="store_true", help="C=64, 1 rep: a smoke run")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--c", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.concurrency, args.reps = [64], 1
    started = time.perf_counter()
    results = run_all(args)
    print("## Client CPU per streamed request\n")
    print(report(results, args))
    print()
    print(machine_facts(args))
    print(f"- whole run: {time.perf_counter() - started:.0f} s")
    if not all(m.valid for m in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
