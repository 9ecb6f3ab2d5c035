"""Start-up and import boundaries, checked in fresh interpreters."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from llmbench_async import __version__

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "llmbench_async"
HEAVY = (
    "httpx",
    "anyio",
    "tqdm",
    "prometheus_client",
    "ray",
    "llmbench_async.mock.server",
    "llmbench_async.session",
    "llmbench_async.report_html",
    "llmbench_async.ray_backend",
)


def _modules_after(argv: list[str]) -> set[str]:
    """The modules loaded once `main(argv)` returns, in a fresh interpreter."""
    code = (
        "import contextlib, io, json, sys\n"
        "from llmbench_async.cli import main\n"
        "out, err = io.StringIO(), io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        f"    code = main({argv!r})\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    code_, modules = json.loads(out.stdout)
    assert isinstance(code_, int)
    return set(modules)


def test_help_and_version_load_no_network_stack_and_no_mock() -> None:
    for argv in (["--help"], ["--version"], ["report", "--help"], ["compare", "--help"]):
        loaded = _modules_after(argv)
        assert not [m for m in HEAVY if m in loaded], argv


def test_only_the_mock_commands_load_the_mock() -> None:
    for argv in (["-n", "0"], ["mock-server", "--help"], ["report", "/nonexistent.jsonl"]):
        assert "llmbench_async.mock.server" not in _modules_after(argv), argv


def test_a_quiet_run_loads_neither_the_mock_nor_tqdm(instant_mock_url: str) -> None:
    argv = ["--base-url", instant_mock_url, "--model", "mock-model", "-n", "2", "-q"]
    loaded = _modules_after(argv)
    assert "httpx" in loaded and "llmbench_async.session" in loaded  # it did run
    assert not [m for m in loaded if m == "tqdm" or m.startswith("llmbench_async.mock")]
    with_mock = _modules_after(["--mock", "--model", "mock-model", "-n", "1", "-q"])
    assert "llmbench_async.mock.process" in with_mock


def test_a_run_loads_neither_pydantic_nor_httpx_command_line(instant_mock_url: str) -> None:
    """The two largest start-up costs we removed stay removed: typer >= 0.29 coerces every
    option through pydantic (about 0.5 s a start), and httpx imports its own command line
    (rich, pygments) unless the CLI stands an empty module in for it."""
    argv = ["--base-url", instant_mock_url, "--model", "mock-model", "-n", "1", "-q"]
    loaded = _modules_after(argv)
    assert "httpx" in loaded  # it did run
    assert not [m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core", "pygments")]
    assert "rich.syntax" not in loaded
    import httpx

    assert callable(httpx.main)  # in this (library) process httpx is untouched


def test_importing_the_package_is_lazy() -> None:
    code = "import sys, llmbench_async; print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(out.stdout))
    assert "httpx" not in loaded and "llmbench_async.mock.server" not in loaded


def test_public_api_names_resolve() -> None:
    import llmbench_async

    for name in llmbench_async.__all__:
        assert getattr(llmbench_async, name) is not None


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
    out = subprocess.run(
        [sys.executable, "-m", "llmbench_async", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout == f"llmbench-async {project['version']}\n"


def test_a_mistyped_command_gets_a_suggestion() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "llmbench_async", "reprot", "r.jsonl"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr == "llmbench-async: error: no such command 'reprot'; did you mean 'report'?\n"


# the pipeline, top to bottom; a module may import only modules below its own layer
LAYERS = [
    {"cli"},
    {"flags", "publish"},
    {"session"},
    {"report_sweep"},
    {"sweep"},
    {"report", "report_html"},
    {"compare", "gate"},
    {"ray_backend"},
    {"workers", "observe"},
    {"runner"},
    {"client", "workload", "route", "live", "server_metrics"},
    {"config", "transport", "odd"},
    {"pacing", "protocol", "sse", "histogram", "stats", "timeseries"},
    {"records", "_version", "metrics"},
    {"inbound", "headers"},
    {"limits", "errors"},
    {"redact"},
]


def _layer(module: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if module in layer:
            return i
    return None


def test_no_module_imports_upward() -> None:
    upward = []
    for path in SRC.glob("*.py"):
        here = _layer(path.stem)
        if here is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                there = _layer(node.module.split(".")[0])
                if there is not None and there < here:
                    upward.append(f"{path.stem} -> {node.module}")
    assert upward == []
