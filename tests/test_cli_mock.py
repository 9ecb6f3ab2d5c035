"""cli/mock.py: the `mock-server` command: every knob in --help, bad values as one line."""

from __future__ import annotations

import pytest

from llmbench_async.cli import main


def test_mock_server_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "mock-server", "--help")
    assert code == 0
    for flag in (
        "--auth-key",
        "--auth-status",
        "--fail-rate",
        "--fail-status",
        "--retry-after",
        "--retry-after-header",
        "--disconnect-rate",
        "--malformed-rate",
        "--stall-ms",
        "--slow-drip",
        "--huge-line-bytes",
        "--no-done",
        "--no-usage",
        "--endless",
        "--capacity",
        "--reasoning-tokens",
        "--litellm-usage-shape",
        "--gzip",
        "--embedding-ms",
        "--embedding-dims",
        "--error-event-rate",
    ):
        assert flag in out, flag


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fail-rate", "2"), "--fail-rate must be in 0..1"),
        (("--retry-after-header", "bogus"), "--retry-after-header must be one of"),
        (("--huge-line-bytes", "10"), "--huge-line-bytes must be 0 (off) or >= 1024"),
        (("--error-event-rate", "-1"), "--error-event-rate must be in 0..1"),
        (("--embedding-dims", "0"), "--embedding-dims must be >= 1"),
    ],
)
def test_mock_server_bad_values_are_one_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = cli(capsys, "mock-server", "--port", "0", *args)
    assert code == 2
    assert err.startswith(f"llmbench-async: error: {message}")
    assert err.count("\n") == 1 and out == ""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real command line's entry point, in this process: exit code, stdout, stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
