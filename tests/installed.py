"""Helpers for tests that use llmbench-async the way a user installs it: a wheel built with
`uv build`, installed by uv into temporary tool directories, run from an empty directory
outside this repository, against a mock server started by the installed tool itself.

uv works offline (UV_OFFLINE=1) from its cache. A cache that has never resolved the runtime
dependencies from an index (a fresh `uv sync --locked` only fetched locked URLs) is filled
once, online, from PyPI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-test-9f8e7d6c5b4a"  # the key the tests pass; it must appear in no output
UV = shutil.which("uv") or "uv"


def clean_env(tools: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A user's shell: no virtual environment of this repository on PATH or in the
    environment, no OPENAI_* or GitHub variables; uv's tools go to `tools`."""
    here = str(REPO)
    path = [str(tools / "bin"), str(Path(UV).parent)]
    path += [p for p in os.environ.get("PATH", "").split(os.pathsep) if not p.startswith(here)]
    drop = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "NO_COLOR", "PYTHONPATH", "CONDA_PREFIX")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("OPENAI_", "GITHUB_", "LLMBENCH_", "INPUT_"))
    }
    env.update(
        PATH=os.pathsep.join(path),
        UV_TOOL_DIR=str(tools / "tools"),
        UV_TOOL_BIN_DIR=str(tools / "bin"),
        UV_NO_PROGRESS="1",
        UV_PYTHON=f"{sys.version_info.major}.{sys.version_info.minor}",
    )
    env.update(extra or {})
    return env


def uv_offline_or_online(wheel: Path, scratch: Path) -> dict[str, str]:
    """{"UV_OFFLINE": "1"}, after filling uv's cache with what the README's routes need.

    Two routes resolve differently: `uv tool install` for this platform only, `uv add` for
    every platform (a universal lock, which needs each dependency's index page). So the
    cache is filled by both, online when PyPI answers; offline (a cache that already holds
    everything) otherwise. The routes then run offline: no test depends on the network."""
    env = clean_env(scratch)
    project = scratch / "warm-project"
    project.mkdir(parents=True)
    steps = (
        [UV, "tool", "install", "--force", str(wheel)],
        [UV, "init", "--bare", "--name", "warm-project", str(project)],
        [UV, "add", "--project", str(project), "--dev", str(wheel)],
    )
    for step in steps:
        online = subprocess.run(step, env=env, capture_output=True, text=True, timeout=300)
        if online.returncode != 0:
            offline = subprocess.run(
                step, env={**env, "UV_OFFLINE": "1"}, capture_output=True, text=True, timeout=300
            )
            assert offline.returncode == 0, online.stderr + offline.stderr
    return {"UV_OFFLINE": "1"}


def build_wheel(out: Path) -> Path:
    """`uv build --wheel` of this repository into `out`; the wheel's path."""
    for offline in ("1", ""):
        proc = subprocess.run(
            [UV, "build", "--wheel", "--out-dir", str(out), str(REPO)],
            env={**os.environ, "UV_OFFLINE": offline, "UV_NO_PROGRESS": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("llmbench_async-*.whl")
    return wheel


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Shell:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def bash(script: str, cwd: Path, env: Mapping[str, str], timeout: float = 120) -> Shell:
    """Run a script the way CI runners do: bash, stop at the first failing command."""
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Shell(proc.returncode, proc.stdout, proc.stderr)


@contextmanager
def mock_server(tool: Path, port: int, *flags: str, env: Mapping[str, str]) -> Iterator[str]:
    """The installed tool's `mock-server` on `port`; yields its base URL once it answers."""
    proc = subprocess.Popen(
        [str(tool), "mock-server", "--port", str(port), *flags],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                request = urllib.request.Request(
                    base + "/v1/models", headers={"Authorization": f"Bearer {SECRET}"}
                )
                with urllib.request.urlopen(request, timeout=1) as response:
                    json.load(response)
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the mock server did not start"
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def assert_no_secret(*places: str | Path) -> None:
    """The API key appears in none of these texts or files (nor in any file of a folder)."""
    for place in places:
        if isinstance(place, Path):
            files = [p for p in place.rglob("*") if p.is_file()] if place.is_dir() else [place]
            for file in files:
                assert SECRET not in file.read_text(errors="replace"), file
        else:
            assert SECRET not in place
