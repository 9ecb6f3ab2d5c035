"""One grammar for durations and sizes, through the command line as users type it: every
duration flag takes ms, s, m and h; a bare number keeps the flag's documented unit; bad,
non-finite and huge values are one line and exit 2; --mock refuses the flags it overrides."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import CLI, CliResult, cli_env, run_cli

from llmbench_async.errors import ConfigError
from llmbench_async.units import parse_size, parse_time

FAST = ("-n", "2", "-q", "--json", "-")


def _one_error(res: CliResult) -> str:
    stderr = res.stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("llmbench-async: error: "), stderr
    return lines[0].removeprefix("llmbench-async: error: ")


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("30s", "s", 30.0),
        ("500ms", "s", 0.5),
        ("2m", "s", 120.0),
        ("1.5h", "s", 5400.0),
        (" 45 ", "s", 45.0),
        ("2M", "s", 120.0),
        ("0.2s", "ms", 200.0),
        ("200", "ms", 200.0),
        ("1m", "ms", 60_000.0),
        ("1e3ms", "s", 1.0),
    ],
)
def test_parse_time(text: str, unit: str, value: float) -> None:
    assert parse_time(text, "--x", unit) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "s", "30x", "30 sec", "1m30s", "--", "3..", "ms500"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--x must be a duration like 30s"):
        parse_time(text, "--x")


@pytest.mark.parametrize(
    ("text", "value"),
    [("4096", 4096), ("64KiB", 65536), ("1MiB", 1 << 20), ("2MB", 2_000_000), ("1k", 1024)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text, "--x") == value


@pytest.mark.parametrize("text", ["1.5B", "inf", "1e30GiB", "12 parsecs", ""])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--x must be a"):
        parse_size(text, "--x")


def test_every_run_duration_flag_takes_the_grammar(instant_mock_url: str) -> None:
    """Each duration flag with a unit: the run uses it as that many seconds."""
    res = run_cli(
        "--base-url", instant_mock_url, *FAST,
        "--timeout", "30s", "--connect-timeout", "500ms", "--read-timeout", "2m",
        "--max-backoff", "1m", "--grace", "1500ms", "--think-time", "0ms",
        "--window", "250ms", "--scrape-interval", "2s", "--ramp-up", "0s",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    config = json.loads(res.stdout)["config"]
    assert config["timeouts"] == {"total": 30.0, "connect": 0.5, "read": 120.0}
    assert config["retry"]["max_backoff"] == 60.0
    assert config["grace_s"] == 1.5


def test_bare_numbers_keep_their_unit(instant_mock_url: str) -> None:
    res = run_cli(
        "--base-url", instant_mock_url, *FAST, "--timeout", "45", "--connect-timeout", "3",
        "--read-timeout", "7.5", "--grace", "0",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    config = json.loads(res.stdout)["config"]
    assert config["timeouts"] == {"total": 45.0, "connect": 3.0, "read": 7.5}
    assert config["grace_s"] == 0.0


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--timeout", "30x", "--timeout must be a duration like 30s, 500ms or 2m; a bare "
         "number is seconds (got '30x')"),
        ("--timeout", "inf", "--timeout must be more than 0 and at most 86,400 seconds (got inf)"),
        ("--connect-timeout", "nan", "--connect-timeout must be more than 0 and at most "
         "86,400 seconds (got nan)"),
        ("--read-timeout", "2d", "--read-timeout must be a duration like 30s, 500ms or 2m; "
         "a bare number is seconds (got '2d')"),
        ("--read-timeout", "1e9h", "--read-timeout must be more than 0 and at most 86,400 "
         "seconds (got 3600000000000.0)"),
        ("--grace", "-1s", "--grace must be 0 or more"),
        ("--max-backoff", "25h", "--max-backoff must be 0 or more and at most 86,400 seconds "
         "(got 90000.0)"),
        ("--duration", "0s", "--duration must be finite and more than 0 (got '0s')"),
        ("--window", "1e400", "--window must be finite and more than 0 (got '1e400')"),
        ("--think-time", "fast", "--think-time must be a duration like 30s"),
        ("--ramp-up", "2w", "--ramp-up must be a duration like 30s"),
        ("--warmup", "10q", "--warmup must be a duration like 30s"),
    ],
)  # fmt: skip
def test_bad_durations_are_one_line(flag: str, value: str, message: str) -> None:
    res = run_cli("--base-url", "http://127.0.0.1:9/v1", "-m", "m", flag, value, "-q")
    assert res.code == 2, res.stderr
    assert _one_error(res).startswith(message)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--ttft-ms", "5x"), "--ttft-ms must be a duration like 30s, 500ms or 2m; a bare "
         "number is milliseconds (got '5x')"),
        (("--itl-ms", "inf"), "--itl-ms must be >= 0, got inf"),
        (("--stall-ms", "-1s"), "--stall-ms must be >= 0, got -1000.0"),
        (("--huge-line-bytes", "1.5B"), "--huge-line-bytes must be a whole number of bytes"),
        (("--huge-line-bytes", "1000"), "--huge-line-bytes must be 0 (off) or >= 1024"),
        (("--huge-line-bytes", "12 parsecs"), "--huge-line-bytes must be a size like 4096"),
    ],
)  # fmt: skip
def test_mock_server_grammar_errors(flags: tuple[str, ...], message: str) -> None:
    res = run_cli("mock-server", "--port", "0", *flags, timeout=20)
    assert res.code == 2, res.stderr
    assert _one_error(res).startswith(message)


def test_mock_server_takes_durations_and_sizes() -> None:
    """`mock-server --ttft-ms 0.3s --huge-line-bytes 2KiB`: a run against it measures a TTFT
    of at least 300 ms (not 0.3 ms); the size is taken (the server starts)."""
    proc = subprocess.Popen(
        [*CLI, "mock-server", "--port", "0", "--ttft-ms", "0.3s", "--itl-ms", "1",
         "--tokens", "4", "--huge-line-bytes", "2KiB"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert found, banner
        res = run_cli("--base-url", found.group(), *FAST)
        assert res.code == 0, res.stderr
        ttft = json.loads(res.stdout)["metrics"]["ttft_ms"]
        assert ttft["min"] >= 300, ttft
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    "flags",
    [
        ("--base-url", "http://127.0.0.1:9/v1"),
        ("--endpoint", "http://127.0.0.1:9/v1/chat/completions"),
        ("http://127.0.0.1:9/v1",),
    ],
)
def test_mock_refuses_the_flags_it_overrides(flags: tuple[str, ...]) -> None:
    res = run_cli("--mock", "-n", "1", "-q", *flags)
    assert res.code == 2, res.stderr
    line = _one_error(res)
    assert "--mock" in line and ("would be ignored" in line or "both name the target" in line)
