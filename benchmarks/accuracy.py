"""How far each of our clocks is from the server's own truth, measured the way users run
the tool.

Runs the mock server (TTFT 200 ms, ITL 10 ms, 64 tokens) with its truth log, then the
command line exactly as a user types it, with the default flags (no warm-up; preconnect on,
as by default) unless `--flags` adds some:

    llmbench-async --base-url MOCK --model mock-model -n N -c C --max-tokens 64 -q -o R --json S

Every record of the results file is matched to the server's log line by response id. The
results file's header holds its t0 on CLOCK_MONOTONIC, which the mock's log also uses, so
instants compare across the two processes. The mock writes a stream's end ([DONE] and the
last chunk) in the same write as its last token, so the server's end is its last-token
instant. Errors are ours − the server's, in ms, p50 / p99 / max, over all requests, over
the first wave (the C requests sent first: every slot's first request) and over the rest
(steady state), one row per clock:

* TTFT: (first token − send) − (first token written − request arrived);
* E2E: (end − send) − (last token written − request arrived): the end of a request is the
  arrival of its final bytes;
* headers: (headers − send) − (head written − request arrived);
* token span: (last token − first token) − the server's: the sum of every ITL's error (the
  truth log holds no per-token instants, so a per-gap error cannot be matched);
* first token seen late / end seen late: our instant − the server's write instant (the
  client's own lag in seeing the bytes, loopback included);
* reached server after: the request's arrival at the server − our send instant (our write
  and loopback). The arrival is the kernel's receive timestamp of the request at the mock
  (SO_TIMESTAMPNS), or, in an old truth log without it, when the mock's loop read it;
* server read it after: when the mock's loop read the request − its kernel arrival: the
  mock's own lateness. The mock's schedule starts when it read the request, so this delay is
  real latency that the client rightly sees; the truth of TTFT, E2E and headers starts at
  the kernel arrival so that it is not counted as the client's error;
* queue delay: our send − our scheduled instant (no server truth: the client's own delay
  in sending a due request, connect included).

A second table: new connections and connect p50 (none with preconnect), requests/s, the
closed-loop ideal requests/s (C ÷ the mean of the server's true E2E, its kernel arrival of a
request to its last token's write: every slot busy all the time, no client delay between a
response's end and the next request) and the achieved share of it, the command's CPU
(user + sys, workers included), peak RSS (from wait4) and loop lag p50 / p99.

    uv run python benchmarks/accuracy.py                       # C = 128, 512, 1000; n = 4·C
    uv run python benchmarks/accuracy.py --concurrency 512 --workers 1,2
    uv run python benchmarks/accuracy.py --concurrency 128 --flags="--no-preconnect"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from llmbench_async import MockConfig, MockProcess
from llmbench_async.records import record_from_json
from llmbench_async.results.calibration import clock_errors
from llmbench_async.results.stats import percentile

TTFT_MS, ITL_MS, TOKENS = 200.0, 10.0, 64


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def run_cli(base_url: str, c: int, n: int, workers: int, flags: list[str], tmp: Path) -> Any:
    """Run the command line; returns (results lines, summary JSON, rusage of the command)."""
    results, summary = tmp / "results.jsonl", tmp / "summary.json"
    argv = [sys.executable, "-m", "llmbench_async", "--base-url", base_url, "--model"]
    argv += ["mock-model", "-n", str(n), "-c", str(c), "--max-tokens", str(TOKENS)]
    argv += ["--workers", str(workers), "-q", "-o", str(results), "--json", str(summary)]
    pid = os.posix_spawn(argv[0], [*argv, *flags], os.environ)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the run failed: {shlex.join(argv + flags)}")
    return _lines(results), json.loads(summary.read_text()), usage


CLOCKS = (
    "TTFT",
    "E2E",
    "headers",
    "token span",
    "first token seen late",
    "end seen late",
    "reached server after",
    "server read it after",
    "queue delay",
)


# the package's names of the clocks (results/calibration.py) → this table's
_LABELS = {
    "ttft": "TTFT",
    "e2e": "E2E",
    "headers": "headers",
    "token_span": "token span",
    "first_token_late": "first token seen late",
    "end_late": "end seen late",
    "reached_server": "reached server after",
    "server_read": "server read it after",
    "queue_delay": "queue delay",
}


def _errors(r: dict[str, Any], t: dict[str, Any], t0: int) -> dict[str, float]:
    """One request's error per clock (ms): ours − the server's truth `t`, by the math that
    `calibrate` uses (results/calibration.py)."""
    return {_LABELS[k]: v for k, v in clock_errors(record_from_json(r), t, t0).items()}


def measure(c: int, workers: int, n: int, flags: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        log = tmp / "truth.jsonl"
        mock_cfg = MockConfig(ttft_ms=TTFT_MS, itl_ms=ITL_MS, tokens=TOKENS, log_path=str(log))
        with MockProcess(mock_cfg) as mock:
            lines, summary, usage = run_cli(mock.base_url, c, n, workers, flags, tmp)
        truth = {t["id"]: t for t in _lines(log) if t.get("status") == 200}
    t0 = lines[0]["t0_monotonic_ns"]
    records = [r for r in lines if r["type"] == "request" and not r.get("error_kind")]
    records.sort(key=lambda r: r["send_ns"])
    rows, true_e2e = [], []
    for r in records:
        t = truth.get(r.get("response_id"))
        if t is None or r["first_token_ns"] is None or r["last_token_ns"] is None:
            continue
        rows.append(_errors(r, t, t0))
        true_e2e.append(_true_e2e_s(t))
    first, rest = rows[:c], rows[c:]

    def per_clock(part: list[dict[str, float]]) -> dict[str, list[float]]:
        return {k: _stats([row[k] for row in part if k in row]) for k in CLOCKS}

    connect = summary["metrics"].get("connect_ms")
    # closed-loop ideal: every slot busy all the time, each request taking the server's E2E
    ideal = c / (sum(true_e2e) / len(true_e2e)) if true_e2e else None
    return {
        "matched": len(rows),
        "failed": summary["requests"]["failed"],
        "all": per_clock(rows),
        "first": per_clock(first),
        "steady": per_clock(rest),
        "new_connections": summary["requests"]["new_connections"],
        "connect_p50": None if connect is None else connect["p50"],
        "rps": summary["throughput"]["requests_per_s"],
        "ideal_rps": ideal,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "lag": summary["client"]["loop_lag_ms"],
    }


def _true_e2e_s(t: dict[str, Any]) -> float:
    """The server's E2E of one request (s): its kernel arrival to its last token's write."""
    mono = t["monotonic"]
    return float(mono["last_token"] - (mono.get("arrived") or mono["received"]))


def _stats(values: list[float]) -> list[float]:
    if not values:
        return []
    values = sorted(values)
    return [percentile(values, 50), percentile(values, 99), values[-1]]


def _fmt(values: list[float], k: int = 3) -> str:
    return " / ".join(f"{v:.2f}" for v in values[:k]) if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=0, help="requests per level (default 4×C)")
    parser.add_argument("--concurrency", default="128,512,1000")
    parser.add_argument("--workers", default="1", help="worker counts to try, e.g. 1,2")
    parser.add_argument("--flags", default="", help="more command-line flags, one string")
    args = parser.parse_args()
    flags = shlex.split(args.flags)
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, ")
    print(f"load average {os.getloadavg()[0]:.2f}; extra flags: {args.flags or 'none'}; mock:")
    print(f"TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, {TOKENS} tokens; errors = ours − truth (ms)")
    print()
    runs = []
    for workers in (int(x) for x in args.workers.split(",")):
        for c in (int(x) for x in args.concurrency.split(",")):
            n = args.n or max(32, 4 * c)
            runs.append((workers, c, n, measure(c, workers, n, flags)))
            _print_errors(runs[-1:], header=len(runs) == 1)
    print()
    print(
        "| workers | C | n | new conns (connect p50 ms) | req/s | ideal req/s | % of ideal "
        "| CPU s | peak RSS MB | loop lag p50 / p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workers, c, n, d in runs:
        conns = str(d["new_connections"])
        if d["connect_p50"] is not None:
            conns += f" ({d['connect_p50']:.2f})"
        print(
            f"| {workers} | {c} | {d['matched']} of {n} (failed {d['failed']}) | {conns} "
            f"| {d['rps']:.1f} | {_ideal(d)} | {d['cpu_s']:.2f} | {d['rss_mb']:.0f} "
            f"| {d['lag']['p50']:.1f} / {d['lag']['p99']:.1f} |"
        )


def _ideal(d: dict[str, Any]) -> str:
    """The closed-loop ideal requests/s and the achieved share of it (two table cells)."""
    if not d["ideal_rps"]:
        return "– | –"
    return f"{d['ideal_rps']:.1f} | {100 * d['rps'] / d['ideal_rps']:.1f} %"


def _print_errors(runs: list[tuple[int, int, int, dict[str, Any]]], *, header: bool) -> None:
    """One row per clock: its error over all requests, the first wave and the rest (ms)."""
    if header:
        print(
            "| workers | C | clock | all p50 / p99 / max | first wave p50 / p99 / max "
            "| rest p50 / p99 / max |"
        )
        print("|---|---|---|---|---|---|")
    for workers, c, _n, d in runs:
        for clock in CLOCKS:
            print(
                f"| {workers} | {c} | {clock} | {_fmt(d['all'][clock])} "
                f"| {_fmt(d['first'][clock])} | {_fmt(d['steady'][clock])} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
