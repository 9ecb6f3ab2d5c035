"""Every command example of README.md runs as printed, with the tool installed from its
wheel, in an empty folder outside this repository.

Each `sh` block that holds an `llmbench-async` command runs whole, as a bash script that stops
at its first failing command, and must exit 0. An HTML comment on the line before a block
says how it runs when it cannot run as is:

* `<!-- example: exits N -->`: the block is meant to exit N (a threshold it breaks);
* `<!-- example: your endpoint -->`: it points at the user's server through `export
  OPENAI_BASE_URL=...` / `OPENAI_API_KEY=...` lines; here those lines are dropped and the
  variables point at the installed tool's mock server (model `my-model`, with a key);
* `<!-- example: capacity -->`: it starts a mock server on port 8000 itself; here a free
  port replaces 8000 (the machine may run something there);
* `<!-- example: in a clone -->`: the set-up commands run in this repository, with `uv run`;
  `uv run pytest` is left out (it is this very suite).

Every block runs with a bounded timeout, and the mock servers a block starts are stopped with
its process group."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from installed import (
    REPO,
    SECRET,
    UV,
    Shell,
    assert_no_secret,
    build_wheel,
    clean_env,
    free_port,
    mock_server,
)

README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"((?:<!-- [^\n]*-->\n)*)```(\w*)\n(.*?)\n```", re.S)
COMMAND = re.compile(r"^(uv run )?llmbench-async\b", re.M)
FAST = ("--model", "my-model", "--ttft-ms", "20", "--itl-ms", "1", "--tokens", "8")
# what a block promises in its text, checked in its output
PROMISED = {
    "capacity": "Capacity under SLO: c=4 (c=8 fails)",
    "server-timing": "prefill 50.00, decode 14.00, network+client",
}


@dataclass(frozen=True)
class Example:
    line: int  # where the block starts in README.md
    mark: str  # the `example:` comment before it, or ""
    script: str

    @property
    def expected_code(self) -> int:
        found = re.fullmatch(r"exits (\d+)", self.mark)
        return int(found.group(1)) if found else 0


def examples() -> list[Example]:
    found = []
    for match in BLOCK.finditer(README):
        comments, lang, body = match.groups()
        if not lang or not COMMAND.search(body):  # a block without a language is output
            continue
        assert lang in ("sh", "bash"), f"an llmbench-async example in a {lang!r} block"
        mark = re.search(r"<!-- example: ([^>]*?) -->", comments)
        line = README.count("\n", 0, match.start(3))
        found.append(Example(line, mark.group(1) if mark else "", body))
    return found


EXAMPLES = examples()


def run_script(script: str, cwd: Path, env: dict[str, str], timeout: float = 60) -> Shell:
    """bash -e over the block; its whole process group (background servers) ends after."""
    proc = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Shell(proc.returncode, out, err)


@dataclass(frozen=True)
class Installed:
    tools: Path
    env: dict[str, str]

    @property
    def tool(self) -> Path:
        return self.tools / "bin" / "llmbench-async"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """The wheel, installed the README's recommended way (`uv tool install`), outside the
    repository; from uv's cache when it can, else from PyPI."""
    wheel = build_wheel(tmp_path_factory.mktemp("dist"))
    tools = tmp_path_factory.mktemp("home")
    env = clean_env(tools)
    command = [UV, "tool", "install", "--compile-bytecode", str(wheel)]
    done = subprocess.run(
        command, env={**env, "UV_OFFLINE": "1"}, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    yield Installed(tools, {**env, "UV_OFFLINE": "1"})


def test_every_example_is_collected() -> None:
    """The blocks found hold every command line of the README that starts the tool."""
    outputs = "".join(m.group(3) for m in BLOCK.finditer(README) if not m.group(2))
    commands = [line for line in README.splitlines() if COMMAND.match(line)]
    commands = [line for line in commands if line not in outputs.splitlines()]
    collected = [line for e in EXAMPLES for line in e.script.splitlines() if COMMAND.match(line)]
    assert commands == collected and len(EXAMPLES) >= 6
    assert {e.mark for e in EXAMPLES} >= {"your endpoint", "capacity", "exits 1"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"README.md:{e.line}")
def test_readme_example_runs_as_printed(
    example: Example, installed: Installed, tmp_path: Path
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    script, cwd, env = example.script, folder, dict(installed.env)
    assert REPO not in folder.parents and installed.tool.is_file()
    if example.mark == "in a clone":
        script = "\n".join(s for s in script.splitlines() if not s.startswith("uv run pytest"))
        cwd = REPO
    if example.mark == "capacity":
        port = str(free_port())
        script = script.replace("--port 8000", f"--port {port}").replace(":8000", f":{port}")
    if example.mark == "your endpoint":
        script = re.sub(r"^export OPENAI_(BASE_URL|API_KEY)=.*\n", "", script, flags=re.M)
        args = (*FAST, "--auth-key", SECRET)
        with mock_server(installed.tool, free_port(), *args, env=env) as base:
            env.update(OPENAI_BASE_URL=f"{base}/v1", OPENAI_API_KEY=SECRET)
            done = run_script(script, cwd, env)
        assert_no_secret(done.text, folder)
    else:
        done = run_script(script, cwd, env)
    assert done.code == example.expected_code, done.text
    assert "Traceback" not in done.text
    if example.expected_code:
        (line,) = done.stderr.splitlines()
        assert line.startswith("llmbench-async: error: ")
    if example.mark in PROMISED:
        assert PROMISED[example.mark] in done.stdout, done.stdout
