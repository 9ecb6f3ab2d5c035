"""The real CLI against every fault the mock server can throw: exit code, error kinds,
the report's error line, and a JSONL line for every request that finished."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import cli_env, run_cli, run_cli_peak

from llmbench_async.mock import MockConfig, MockProcess


def _run(
    cfg: MockConfig, tmp_path: Path, *args: str
) -> tuple[int, str, str, dict[str, Any], list[dict[str, Any]]]:
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    with MockProcess(cfg) as mock:
        res = run_cli(
            "--base-url", mock.base_url, "-o", str(out), "--json", str(summary), *args, timeout=60
        )
    data = json.loads(summary.read_text()) if summary.exists() else {}
    lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return res.code, res.stdout, res.stderr, data, [x for x in lines if x["type"] == "request"]


# knob, CLI args, expected exit code, expected error kinds (None: no failure)
CASES: list[tuple[str, MockConfig, tuple[str, ...], int, dict[str, int] | None]] = [
    (
        "fail500",
        MockConfig(ttft_ms=0, itl_ms=0, tokens=3, fail_rate=1.0, fail_status=500),
        ("-n", "4", "--retries", "0"),
        3,
        {"http_5xx": 4},
    ),
    (
        "overloaded529_retried",
        MockConfig(
            ttft_ms=0, itl_ms=0, tokens=3, fail_rate=0.3, fail_status=529, retry_after="0", seed=3
        ),
        ("-n", "10", "-c", "2", "--retries", "6"),
        0,
        None,
    ),
    (
        "auth400",
        MockConfig(ttft_ms=0, itl_ms=0, tokens=3, auth_key="sk-right", auth_status=400),
        ("-n", "3", "--model", "mock-model", "--api-key", "sk-wrong-123456"),
        3,
        {"http_4xx": 3},
    ),
    (
        "disconnect",
        MockConfig(ttft_ms=0, itl_ms=1, tokens=6, disconnect_rate=1.0),
        ("-n", "3"),
        3,
        {"read": 3},
    ),
    (
        "malformed",
        MockConfig(ttft_ms=0, itl_ms=0, tokens=6, malformed_rate=1.0),
        ("-n", "3"),
        3,
        {"bad_stream": 3},
    ),
    (
        "stall",
        MockConfig(ttft_ms=0, itl_ms=1, tokens=6, stall_ms=800),
        ("-n", "2", "--read-timeout", "0.2"),
        3,
        {"read_timeout": 2},
    ),
    (
        "slow_drip",
        MockConfig(ttft_ms=0, itl_ms=0, tokens=3, slow_drip=True),
        ("-n", "2", "-c", "2", "--timeout", "1"),
        3,
        {"timeout": 2},
    ),
    (
        "endless",
        MockConfig(ttft_ms=0, itl_ms=5, tokens=3, endless=True),
        ("-n", "2", "-c", "2", "--timeout", "0.6"),
        3,
        {"timeout": 2},
    ),
    (
        "huge_line",
        MockConfig(ttft_ms=0, itl_ms=0, tokens=4, huge_line_bytes=6_000_000),
        ("-n", "2"),
        3,
        {"bad_stream": 2},
    ),
    ("no_done", MockConfig(ttft_ms=0, itl_ms=0, tokens=4, no_done=True), ("-n", "3"), 0, None),
    ("no_usage", MockConfig(ttft_ms=0, itl_ms=0, tokens=4, no_usage=True), ("-n", "3"), 0, None),
]


@pytest.mark.parametrize(("name", "cfg", "args", "code", "kinds"), CASES, ids=[c[0] for c in CASES])
def test_fault(
    tmp_path: Path,
    name: str,
    cfg: MockConfig,
    args: tuple[str, ...],
    code: int,
    kinds: dict[str, int] | None,
) -> None:
    got, stdout, stderr, summary, requests = _run(cfg, tmp_path, *args)
    assert got == code, (stdout, stderr)
    assert "Traceback" not in stderr
    n = int(args[args.index("-n") + 1])
    assert len(requests) == n  # one JSONL line per finished request
    if kinds is None:
        assert summary["errors"] == {}
        assert summary["requests"]["ok"] == n
    else:
        assert summary["errors"] == kinds
        assert len(stderr.strip().splitlines()) == 1
        assert stderr.startswith("llmbench-async: error: every request failed")
        for kind in kinds:
            assert f"  {kind} " in stdout  # the report's error table names the kind
    if name == "overloaded529_retried":
        assert summary["retries"] > 0
    if name == "no_usage":
        assert summary["tokens"]["output_source"] == {"chunks": n}
        assert summary["tokens"]["output"] == 4 * n
    if name == "huge_line":
        assert "SSE event larger than" in stdout


def test_huge_lines_keep_memory_flat(tmp_path: Path) -> None:
    # 40 requests, 10 at a time, each carrying one huge line: every stream is cut at the
    # 4 MiB event cap, so the client's memory does not grow with the line. Measured here:
    # about 190-205 MiB for 10 streams at the cap (each holds its event buffer and the read
    # pieces around it), the same for 10 MB and 40 MB lines.
    peaks = []
    for size in (10_000_000, 40_000_000):
        cfg = MockConfig(ttft_ms=0, itl_ms=0, tokens=2, huge_line_bytes=size)
        summary = tmp_path / f"s{size}.json"
        with MockProcess(cfg) as mock:
            args = ("--base-url", mock.base_url, "--json", str(summary), "-n", "40", "-c", "10")
            proc, peak_mb = run_cli_peak(*args, "-q", **_QUIET)
            code = proc.returncode
        assert code == 3 and json.loads(summary.read_text())["errors"] == {"bad_stream": 40}
        peaks.append(peak_mb)
    assert peaks[0] < 250, peaks  # the command's own peak RSS, in MiB
    assert peaks[1] < peaks[0] + 30, peaks  # 4x the line, the same memory: flat


# the command line run quiet and bounded: its output is not read
_QUIET: dict[str, Any] = {
    "stdin": subprocess.DEVNULL,
    "stdout": subprocess.DEVNULL,
    "stderr": subprocess.DEVNULL,
    "env": cli_env(),
    "timeout": 60,
}
