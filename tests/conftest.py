"""Shared fixtures: mock servers in their own processes, and a CLI runner."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmbench_async.mock import MockConfig, MockProcess


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


CLI = (sys.executable, "-m", "llmbench_async")


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without OPENAI_* keys, a real job summary or a colour setting (so
    none leaks into a test), plus `env`."""
    drop = ("GITHUB_STEP_SUMMARY", "NO_COLOR")
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k not in drop
    }
    full_env.update(env or {})
    return full_env


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None
) -> CliResult:
    """Run the real command line in a subprocess to its end (in `cwd` when given)."""
    proc = subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=cli_env(env),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_peak(*args: str, **run: Any) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the real command line under GNU time: the finished process (`run` goes to
    `subprocess.run`) and the command's own peak RSS in MiB. GNU time is its parent, so no
    process of the test session counts: a child forked from the pytest worker would report
    the worker's shared pages as its own peak."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak_rss_kib"
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(peak), *CLI, *args], **run)
        return proc, int(peak.read_text().split()[-1]) >> 10


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the real command line in a subprocess, output piped, for signal tests."""
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
    )


def wait_for_records(path: Path, count: int, timeout: float = 30) -> None:
    """Block until the results file at `path` holds `count` request records: the run is
    past its start-up and inside the sending loop (its signal handlers are in place)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count('"type":"request"') >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} request records in {timeout} s")


StartMock = Callable[..., MockProcess]

# the slowest modules first: a parallel run (pytest-xdist, `--dist loadscope` hands out whole
# modules in this order) then never waits on one of them alone at its end
SLOWEST_FIRST = ("test_ray_backend.py", "test_recipes.py", "test_html.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable otherwise


@pytest.fixture
def start_mock() -> Iterator[StartMock]:
    """Start a built-in mock in its own process: `start_mock(ttft_ms=0, fail_rate=0.5)` takes
    MockConfig's fields (or `start_mock(config)`); every mock a test started stops when the
    test ends, so none outlives it and none is shared with another test's counters."""
    with contextlib.ExitStack() as stack:

        def start(config: MockConfig | None = None, **settings: Any) -> MockProcess:
            if config is not None and settings:
                config = dataclasses.replace(config, **settings)
            return stack.enter_context(MockProcess(config or MockConfig(**settings)))

        yield start


@pytest.fixture(scope="session")
def shared_mocks() -> Iterator[StartMock]:
    """Like `start_mock`, but one process per distinct settings for the whole session, for
    tests that read neither the truth log nor the server's counters."""
    started: dict[MockConfig, MockProcess] = {}
    with contextlib.ExitStack() as stack:

        def start(config: MockConfig | None = None, **settings: Any) -> MockProcess:
            wanted = config or MockConfig(**settings)
            if wanted not in started:
                started[wanted] = stack.enter_context(MockProcess(wanted))
            return started[wanted]

        yield start


@pytest.fixture(scope="session")
def fast_mock(shared_mocks: StartMock) -> MockProcess:
    """A mock with small, known timings: TTFT 50 ms, ITL 5 ms, 8 tokens."""
    return shared_mocks(ttft_ms=50, itl_ms=5, tokens=8)


@pytest.fixture(scope="session")
def instant_mock(shared_mocks: StartMock) -> MockProcess:
    """A mock that answers at once: for tests of behaviour, not timing."""
    return shared_mocks(ttft_ms=0, itl_ms=0, tokens=4)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def instant_mock_url(instant_mock: MockProcess) -> str:
    """The base URL of the instant mock."""
    return instant_mock.base_url


def output_paths(directory: Path, stem: str = "out") -> dict[str, Path]:
    """One path for each report file kind: json, md, xml (JUnit), html."""
    return {k: directory / f"{stem}.{k}" for k in ("json", "md", "xml", "html")}


def output_flags(paths: dict[str, Path]) -> list[str]:
    """The flags that write every report file kind to `paths` (see `output_paths`)."""
    return [
        "--json", str(paths["json"]), "--markdown", str(paths["md"]),
        "--junit", str(paths["xml"]), "--html", str(paths["html"]),
    ]  # fmt: skip


# the mock server's own tests (test_mock_*.py)


@pytest.fixture(scope="module")
def fast() -> Iterator[MockProcess]:
    """A server that answers without delays."""
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=8, models=("mock-model", "other"))
    with MockProcess(config) as mock:
        yield mock


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MockProcess, Path]]:
    """ttft 200 ms, itl 10 ms, 10 tokens, with a truth log."""
    log = tmp_path_factory.mktemp("timed") / "truth.jsonl"
    with MockProcess(MockConfig(ttft_ms=200, itl_ms=10, tokens=10, log_path=str(log))) as mock:
        yield mock, log


@pytest.fixture
def client(fast: MockProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fast.base_url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def keyed() -> Iterator[MockProcess]:
    """An instant server that wants the key `sekret`, serving gpt-4o and mock-model."""
    config = MockConfig(ttft_ms=0, itl_ms=0, tokens=6, auth_key="sekret", models=("gpt-4o", "m"))
    with MockProcess(config) as mock:
        yield mock
