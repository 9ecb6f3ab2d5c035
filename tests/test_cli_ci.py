"""CI features through the real command line, against the mock server over loopback:
--fail-if exit codes, --junit, --markdown and $GITHUB_STEP_SUMMARY, `report`, `compare`,
and plain output (no colour, no progress bar) when piped."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CLI, CliResult, cli_env, run_cli, start_cli

from llmbench_async.mock import MockConfig, MockProcess

ANSI = "\x1b["
# no step summary, no NO_COLOR and a capable terminal type unless a test asks otherwise
PLAIN_ENV = {"GITHUB_STEP_SUMMARY": "", "NO_COLOR": "", "TERM": "xterm"}


def cli(*args: str, **env: str) -> CliResult:
    res = run_cli(*args, env={**PLAIN_ENV, **env})
    assert ANSI not in res.stdout and ANSI not in res.stderr, "escape codes in piped output"
    return res


def _one_error_line(res: CliResult) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmbench-async: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0].removeprefix("llmbench-async: error: ")


def test_fail_if_fails_and_passes_with_junit_and_markdown(
    fast_mock: MockProcess, tmp_path: Path
) -> None:
    junit, markdown, step = tmp_path / "j.xml", tmp_path / "m.md", tmp_path / "step.md"
    step.write_text("earlier step\n")
    res = cli(
        *("--base-url", fast_mock.base_url, "-n", "4", "-c", "2"),
        *("--fail-if", "ttft.p95<1ms", "--fail-if", "error_rate<1%"),
        *("--junit", str(junit), "--markdown", str(markdown)),
        GITHUB_STEP_SUMMARY=str(step),
    )
    assert res.code == 1, res
    error = _one_error_line(res)
    match = re.fullmatch(
        r"1 of 2 thresholds failed: ttft\.p95<1ms \(observed ([\d.]+) ms, limit < 1 ms\)", error
    )
    assert match is not None, error
    assert 45 <= float(match.group(1)) < 500  # the mock's TTFT is 50 ms
    table = res.stdout[res.stdout.index("\nThresholds\n") :]
    assert "  FAIL  ttft.p95<1ms " in table and "  PASS  error_rate<1% " in table
    assert "1 of 2 thresholds failed" in table

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "llmbench-async"
    outcome = {case.get("name"): case.find("failure") is None for case in suite.iter("testcase")}
    assert outcome == {"ttft.p95<1ms": False, "error_rate<1%": True, "no request failed": True}
    failure = suite.find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == f"observed {match.group(1)} ms vs limit < 1 ms"

    text = markdown.read_text()
    assert text.startswith("### llmbench-async: ❌ 1 of 2 thresholds failed\n")
    assert "| ❌ **FAIL** | `ttft.p95<1ms` |" in text and "| TTFT (ms) | 4 |" in text
    assert step.read_text() == "earlier step\n" + text + "\n"  # appended, not overwritten

    res = cli(
        *("--base-url", fast_mock.base_url, "-n", "4", "-c", "2", "-q"),
        *("--fail-if", "ttft.p95<10s", "--fail-if", "e2e.p99 <= 10 s"),
        GITHUB_STEP_SUMMARY=str(step),
    )
    assert (res.code, res.stdout, res.stderr) == (0, "", "")
    assert step.read_text().count("### llmbench-async:") == 2
    assert "✅ all 2 thresholds passed" in step.read_text()


def test_bad_usage_exits_2_in_one_line_before_any_network(tmp_path: Path) -> None:
    closed = "http://127.0.0.1:9"  # nothing listens: reaching the network would give exit 3
    summary = tmp_path / "s.json"
    summary.write_text('{"schema": "x", "metrics": {}, "requests": {}}')
    cases = {
        ("--base-url", closed, "--fail-if", "ttft.p95<abc"): (
            "--fail-if 'ttft.p95<abc': expected a number (0 or more) after '<', got 'abc'"
        ),
        ("--base-url", closed, "--fail-if", "ttft.p95<5%"): (
            "--fail-if 'ttft.p95<5%': unit '%' does not fit ttft.p95 (a time); use ms or s "
            "(a bare number means ms)"
        ),
        ("--base-url", closed, "--junit", str(tmp_path / "no" / "j.xml")): (
            f"--junit: directory {tmp_path / 'no'} does not exist"
        ),
        ("--base-url", closed, "-o", str(tmp_path / "no" / "r.jsonl")): (
            f"--output: directory {tmp_path / 'no'} does not exist"
        ),
        ("report", str(summary)): (
            f"{summary} is a summary JSON (--json); `report` needs the per-request JSONL "
            "written by `run -o`"
        ),
        ("report", str(tmp_path / "missing.jsonl")): (
            f"cannot read {tmp_path / 'missing.jsonl'}: No such file or directory"
        ),
        ("compare", str(summary), str(summary), "--max-regression", "10"): (
            "--max-regression '10': expected a percentage like 10% or METRIC.STAT=PERCENT"
        ),
    }
    for args, message in cases.items():
        res = cli(*args)
        assert res.code == 2, (args, res)
        assert _one_error_line(res) == message
        assert res.stdout == ""


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, CliResult]]:
    """A run where about a quarter of the requests fail with HTTP 500 (no retries)."""
    out = tmp_path_factory.mktemp("failing")
    config = MockConfig(ttft_ms=5, itl_ms=1, tokens=4, fail_rate=0.25, fail_status=500, seed=7)
    with MockProcess(config) as mock:
        res = cli(
            *("--base-url", mock.base_url, "-n", "40", "-c", "8", "--retries", "0"),
            *("-o", str(out / "r.jsonl"), "--json", str(out / "s.json")),
        )
    assert res.code == 0, res
    yield out, res


def test_report_reproduces_the_original_run(failing_run: tuple[Path, CliResult]) -> None:
    out, original = failing_run
    res = cli("report", str(out / "r.jsonl"), "--json", str(out / "again.json"))
    assert (res.code, res.stderr) == (0, "")
    before = json.loads((out / "s.json").read_text())
    after = json.loads((out / "again.json").read_text())
    assert 0 < before["requests"]["failed"] < 40 and before["errors"]
    for part in (
        "metrics",
        "requests",
        "throughput",
        "errors",
        "error_details",
        "duration_s",
        "tokens",
        "retries",
        "config",
        "target",
        "started_at",
        "tool",
    ):
        assert after[part] == before[part], part
    # the same console report, the client self-check included (saved in the footer)
    assert res.stdout == original.stdout

    junit = out / "j.xml"
    res = cli(
        *("report", str(out / "r.jsonl"), "-q", "--junit", str(junit)),
        *("--fail-if", "error_rate<1%", "--fail-if", "ttft.p50<10s"),
    )
    assert res.code == 1 and res.stdout == ""
    assert _one_error_line(res).startswith("1 of 2 thresholds failed: error_rate<1% (observed ")
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert list(cases) == ["error_rate<1%", "ttft.p50<10s", "no request failed"]
    assert cases["error_rate<1%"].find("failure") is not None
    assert cases["ttft.p50<10s"].find("failure") is None
    request_failure = cases["no request failed"].find("failure")
    assert request_failure is not None
    failed = before["requests"]["failed"]
    assert request_failure.get("message") == f"{failed} of 40 requests failed (http_5xx {failed})"


@pytest.fixture(scope="module")
def fast_and_slow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results of 30 requests against a mock with TTFT 20 ms (a) and one with 80 ms (b)."""
    out = tmp_path_factory.mktemp("compare")
    for name, ttft in (("a", 20), ("b", 80)):
        with MockProcess(MockConfig(ttft_ms=ttft, itl_ms=1, tokens=4)) as mock:
            res = cli(
                *("--base-url", mock.base_url, "-n", "30", "-c", "10", "-q"),
                *("-o", str(out / f"{name}.jsonl"), "--json", str(out / f"{name}.json")),
            )
            assert res.code == 0, res
    return out


def test_compare_flags_a_slower_server(fast_and_slow: Path) -> None:
    a, b = fast_and_slow / "a.jsonl", fast_and_slow / "b.jsonl"
    step = fast_and_slow / "step.md"
    res = cli("compare", str(a), str(b), "--max-regression", "10%", GITHUB_STEP_SUMMARY=str(step))
    assert res.code == 1, res
    assert _one_error_line(res).startswith("NEW is worse than BASE beyond tolerance: ttft.p50 +")
    row = next(line for line in res.stdout.splitlines() if line.startswith("ttft.p50 (ms)"))
    assert " ↑ " in row and " worse " in row and "REGRESSION" in row
    assert "too few samples" not in res.stdout  # 30 requests a side is enough
    assert step.read_text().startswith("### llmbench-async compare: ❌ ")
    # per metric: NEW (a) faster than BASE (b) on TTFT passes
    res = cli("compare", str(b), str(a), "--max-regression", "ttft.p50=10%")
    assert res.code == 0, res
    assert "ok (within 10%)" in res.stdout


def test_compare_passes_an_equal_run(fast_and_slow: Path) -> None:
    a = fast_and_slow / "a.jsonl"
    for new in (a, fast_and_slow / "a.json"):  # itself, and its own summary JSON
        md = fast_and_slow / "cmp.md"
        res = cli("compare", str(a), str(new), "--max-regression", "0%", "--markdown", str(md))
        assert (res.code, res.stderr) == (0, ""), res
        rows = [line for line in res.stdout.splitlines() if "(ms)" in line or "_s (" in line]
        assert len(rows) == 11 and all(" = " in r and " same " in r for r in rows), rows
        assert res.stdout.rstrip().endswith(
            "compare: no metric worse than BASE beyond its tolerance"
        )
        assert md.read_text().startswith("### llmbench-async compare: ✅ ")


def _on_terminal(*args: str, env: dict[str, str], stderr_too: bool = False) -> tuple[str, str]:
    """Run the CLI with stdout (and stderr) on a pseudo-terminal; (terminal text, stderr)."""
    master, slave = pty.openpty()
    # a real terminal has a size; tqdm draws nothing on a 0-column one
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [*CLI, *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave if stderr_too else subprocess.PIPE,
        env=cli_env(env),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    _, err = proc.communicate(timeout=30)
    return b"".join(chunks).decode(errors="replace"), (err or b"").decode()


def test_colour_and_progress_only_on_a_terminal(
    fast_and_slow: Path, instant_mock: MockProcess
) -> None:
    a, b = str(fast_and_slow / "a.jsonl"), str(fast_and_slow / "b.jsonl")
    shown, _ = _on_terminal("compare", a, b, env=PLAIN_ENV)
    assert "\x1b[31mworse" in shown  # colour on a terminal...
    shown, _ = _on_terminal("compare", a, b, env={**PLAIN_ENV, "NO_COLOR": "1"})
    assert ANSI not in shown and " worse\r\n" in shown  # ...unless NO_COLOR is set
    shown, _ = _on_terminal("compare", a, b, env={**PLAIN_ENV, "TERM": "dumb"})
    assert ANSI not in shown

    run = ("--base-url", instant_mock.base_url, "-n", "3")
    shown, _ = _on_terminal(*run, env=PLAIN_ENV, stderr_too=True)
    assert "| 0/3 [" in shown  # the progress bar, on a terminal
    shown, err = _on_terminal(*run, env=PLAIN_ENV)
    assert err == ""  # stderr piped: no progress bar
    res = cli(*run, "--fail-if", "ttft.p95<0ms")  # piped: plain text, no bar (checked in cli())
    assert res.code == 1 and "FAIL  ttft.p95<0ms" in res.stdout


def test_thresholds_are_judged_when_interrupted_but_exit_stays_130(
    fast_mock: MockProcess, tmp_path: Path
) -> None:
    out, junit = tmp_path / "r.jsonl", tmp_path / "j.xml"
    args = ["--base-url", fast_mock.base_url, "-n", "5000", "-c", "2", "--grace", "0.2"]
    args += ["-o", str(out), "--junit", str(junit)]
    args += ["--fail-if", "ttft.p95<1ms", "--fail-if", "ttft.p95<10s"]
    proc = start_cli(*args, env=PLAIN_ENV)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait until requests are being recorded
        if out.exists() and out.read_text().count('"type":"request"') >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    match = re.search(
        r"Thresholds \(judged on the (\d+) requests that finished before SIGINT\)", stdout
    )
    assert match is not None and int(match.group(1)) >= 4, stdout
    assert "FAIL  ttft.p95<1ms " in stdout and "PASS  ttft.p95<10s " in stdout
    assert "thresholds failed" not in stderr  # the exit code says "interrupted", not "failed"
    root = ET.parse(junit).getroot()
    assert root.find("testsuite/properties/property[@name='interrupted_by']") is not None
    assert "interrupted by SIGINT" in (root.findtext("testsuite/system-out") or "")
