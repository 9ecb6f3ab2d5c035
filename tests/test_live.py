"""The live view: under a real pseudo-terminal the header comes before the first request and
the bar shows tallies and the time left; off the terminal, in CI or with --quiet, nothing."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

from conftest import CLI, cli_env, run_cli

from llmbench_async.config import RunConfig
from llmbench_async.mock import MockProcess
from llmbench_async.records import RequestRecord
from llmbench_async.watch.live import LiveView, planned_seconds

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_in_pty(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run the CLI with stdin/stdout/stderr on a pseudo-terminal; return (code, output)."""
    master, slave = pty.openpty()
    # a real terminal has a size; a bare pty has 0 x 0, on which tqdm draws nothing
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    proc = subprocess.Popen(
        [*CLI, *args], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode("utf-8", "replace")


def _tty_env() -> dict[str, str]:
    env = cli_env({"TERM": "xterm"})
    env.pop("CI", None)  # the live view is off in CI: this test is the terminal case
    return env


def test_header_before_the_run_then_tallies_and_time_left(fast_mock: MockProcess) -> None:
    code, out = _run_in_pty(
        "--base-url", fast_mock.base_url, "--rate", "20", "--duration", "2s",
        env=_tty_env(),
    )  # fmt: skip
    assert code == 0, out
    text = _ANSI.sub("", out)
    header = text.index(f"llmbench-async → {fast_mock.base_url}/chat/completions")
    assert "model mock-model · Poisson arrivals at 20 req/s · 2 s" in text[header:].splitlines()[1]
    live = re.search(r"(\d+) ok · (\d+) failed · \d+ in flight · [\d.]+ req/s", text)
    assert live is not None and header < live.start(), text
    assert re.search(r"TTFT p50 \d+ ms p99 \d+ ms", text), text
    left = re.findall(r"(\d\d):(\d\d) elapsed, (\d\d):(\d\d) left", text)
    assert left, text
    # the clock runs down: the last reading has less time left than the first
    first, last = left[0], left[-1]
    assert int(last[2]) * 60 + int(last[3]) <= int(first[2]) * 60 + int(first[3])
    assert int(last[0]) * 60 + int(last[1]) >= 1


def test_off_with_quiet_and_in_ci(fast_mock: MockProcess) -> None:
    code, out = _run_in_pty("--base-url", fast_mock.base_url, "-n", "5", "-q", env=_tty_env())
    assert code == 0 and out.strip() == "", out
    code, out = _run_in_pty(
        "--base-url", fast_mock.base_url, "-n", "5", env={**_tty_env(), "CI": "true"}
    )
    assert code == 0, out
    # tqdm's plain bar as before, no live tallies, and only the report's own header
    assert " in flight · " not in out and "llmbench-async →" not in out
    assert "llmbench-async 0." in out


def test_off_when_not_a_terminal(fast_mock: MockProcess) -> None:
    res = run_cli("--base-url", fast_mock.base_url, "-n", "5", env={"CI": ""})
    assert res.code == 0
    assert res.stderr == ""


def _record(i: int, ok: bool = True) -> RequestRecord:
    return RequestRecord(
        index=i,
        scheduled_ns=0,
        send_ns=0,
        end_ns=10_000_000,
        first_token_ns=(i % 100 + 1) * 1_000_000 if ok else None,
        error_kind=None if ok else "timeout",
    )


class _Bar:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.texts.append(s)


def test_redraws_are_throttled_and_counts_exact() -> None:
    view, bar = LiveView(max_redraws_per_s=4), _Bar()
    started = time.perf_counter()
    for i in range(20_000):
        view.update(bar, _record(i, ok=i % 10 != 0), in_flight=3)
    elapsed = time.perf_counter() - started
    assert view.ok == 18_000 and view.failed == 2_000
    assert 1 <= len(bar.texts) <= 1 + 4 * elapsed + 1
    text = view.text(3, time.perf_counter_ns())
    assert text.startswith("18000 ok · 2000 failed · 3 in flight · ")
    assert re.search(r"TTFT p50 (\d+) ms p99 (\d+) ms", text)


def test_planned_seconds() -> None:
    assert planned_seconds(RunConfig(n=None, duration_s=30, warmup_s=5)) == 35
    assert planned_seconds(RunConfig(n=100, rate=20)) == 5
    assert planned_seconds(RunConfig(n=100, concurrency=4)) is None
