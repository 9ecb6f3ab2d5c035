"""With --endpoint, the endpoint is the target: the ready check waits for it (not for the
base URL, which may be only the default), and a target unreachable from the start is named
by the URL the requests went to. Through the CLI, on loopback only."""

from __future__ import annotations

from conftest import run_cli

DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_ready_check_waits_for_the_endpoint(instant_mock_url: str) -> None:
    endpoint = f"{instant_mock_url}/chat/completions?api-version=1"
    res = run_cli(
        "--base-url", f"{DEAD}/v1", "--endpoint", endpoint, "-m", "mock-model", "-n", "1",
        "-q", "--ready-timeout", "5s",
    )  # fmt: skip
    assert res.code == 0, res.stderr


def test_ready_check_names_the_endpoint_it_waited_for() -> None:
    endpoint = f"{DEAD}/openai/deployments/d/chat/completions?api-version=1"
    res = run_cli("--endpoint", endpoint, "-m", "m", "-n", "1", "--ready-timeout", "1s")
    assert res.code == 3
    assert _one_line(res.stderr).startswith(f"llmbench-async: error: {endpoint} not ready after")


def test_unreachable_endpoint_is_named(instant_mock_url: str) -> None:
    endpoint = f"{DEAD}/v1/chat/completions"
    res = run_cli("--base-url", instant_mock_url, "--endpoint", endpoint, "-m", "mock-model")
    assert res.code == 3
    assert _one_line(res.stderr).startswith(f"llmbench-async: error: cannot reach {endpoint}:")
