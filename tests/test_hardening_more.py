"""More confused inputs: every one a one-line usage error (exit 2) before any
request, with nothing secret in it."""

from __future__ import annotations

import pytest
from test_hardening import cli_quick, one_error_line


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("-H", "X-A: a\x00b"), "control character"),
        (("-H", "X-A: \x1b[31m"), "control character"),
        (("-H", "X-A: 1", "-H", "x-a: 2"), "twice"),
        (tuple(a for i in range(101) for a in ("-H", f"X-{i}: v")), "at most 100"),
        (("-H", "X-Big: " + "v" * 70_000), "64 KiB"),
        (("--warmup", "10s"), "--duration"),
        (("--json", "-", "--junit", "-"), "stdout"),
        (("-o", "-"), "-o/--output"),
        (("--extra-body", '{"input": "x"}'), "--prompt"),
        (("--rate", "1", "--arrival", "constant", "--seed", "1"), "--seed"),
        (("--grace", "inf"), "--grace"),
        (("--max-backoff", "1e300"), "--max-backoff"),
        (("--input-tokens", "10:1000000000"), "--input-tokens"),
        (("--rate", "5", "--max-concurrency", "0"), "--max-concurrency"),
        (("--seed", "-1", "--sample-prompts"), "--seed"),
    ],
)
def test_more_usage_errors(args: tuple[str, ...], hint: str) -> None:
    res = cli_quick(*args)
    assert res.code == 2, res
    assert hint in one_error_line(res)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://user:s3cret-pass@host",
        "http://user:s3cret-pass@",
        "http://:s3cret-pass@127.0.0.1:1",
        "http://s3cret-pass@127.0.0.1:1/v1",
    ],
)
@pytest.mark.parametrize("flag", ["--base-url", "--endpoint"])
def test_credentials_never_shown_whatever_else_is_wrong(flag: str, url: str) -> None:
    res = cli_quick(flag, url)
    assert res.code == 2, res
    line = one_error_line(res)
    assert flag in line and "s3cret" not in line and "***@" in line


def test_a_target_that_fails_during_the_warm_up_is_unusable() -> None:
    res = cli_quick("--warmup", "3", "--retries", "0")  # nothing listens on port 9
    assert res.code == 3, res
    assert "warm-up" in one_error_line(res)
