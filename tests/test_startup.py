"""Start-up and import boundaries, checked in fresh interpreters."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import unittest.mock
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "llmbench_async"
HEAVY = (
    "httpx",
    "anyio",
    "tqdm",
    "prometheus_client",
    "ray",
    "llmbench_async.mock.server",
    "llmbench_async.session.run",
    "llmbench_async.report.html",
    "llmbench_async.loadgen.ray_backend",
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
    assert "httpx" in loaded and "llmbench_async.session.run" in loaded  # it did run
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


def test_a_mistyped_command_gets_a_suggestion() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "llmbench_async", "reprot", "r.jsonl"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr == "llmbench-async: error: no such command 'reprot'; did you mean 'report'?\n"


# The wings, top to bottom: each sub-package of the package is a wing, and a wing imports
# only the wings below it, never its own level or above. The modules at the package root are
# the ground, which imports no wing; `__init__` (the public API) and `__main__` may import
# anything. `mock/` imports nothing else of ours, and any wing may start it. Every import
# counts: absolute or relative, at the top or inside a function or TYPE_CHECKING.
WINGS = ["cli", "report", "session", "loadgen", "watch", "results", "wire"]
FACADE = {"__init__", "__main__"}
MAX_ROOT_MODULES = 15
PACKAGE = "llmbench_async"


def _unit(path: Path) -> str:
    """The layered unit a source file belongs to: its module, or its sub-package."""
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> set[str]:
    """Every unit of the package that `path` imports, however it is written."""
    here = [PACKAGE, *path.relative_to(SRC).with_suffix("").parts[:-1]]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            dotted = [alias.name.split(".") for alias in node.names]
            found.update(parts[1] for parts in dotted if parts[0] == PACKAGE and len(parts) > 1)
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".") if node.module else []
            if node.level:
                module = here[: len(here) - node.level + 1] + module
            if module[:1] != [PACKAGE]:
                continue
            if len(module) > 1:
                found.add(module[1])
            else:  # `from . import x`, `from llmbench_async import x`
                found.update(alias.name for alias in node.names)
    return found


def _sources() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if "vendor" not in p.relative_to(SRC).parts]


def _folders() -> set[str]:
    return {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}


def _ground() -> set[str]:
    return {p.stem for p in SRC.glob("*.py")} - FACADE


def test_the_wings_are_the_folders() -> None:
    assert len(WINGS) == len(set(WINGS))
    assert set(WINGS) == _folders() - {"mock"}
    assert len(list(SRC.glob("*.py"))) <= MAX_ROOT_MODULES


def test_a_wing_imports_only_the_wings_below_it() -> None:
    level = {wing: i for i, wing in enumerate(WINGS)}
    wrong = []
    for path in _sources():
        unit = _unit(path)
        if unit not in level:
            continue
        for there in _imported_units(path) - {unit}:
            if there in level and level[there] <= level[unit]:
                wrong.append(f"{path.relative_to(SRC)} -> {there}")
    assert wrong == []


def test_the_ground_imports_no_wing_and_has_no_cycle() -> None:
    ground = _ground()
    graph = {unit: _imported_units(SRC / f"{unit}.py") - {unit} for unit in ground}
    assert {u: sorted(deps - ground) for u, deps in graph.items() if deps - ground} == {}
    done: set[str] = set()

    def visit(unit: str, stack: tuple[str, ...]) -> None:
        assert unit not in stack, f"import cycle: {' -> '.join((*stack, unit))}"
        if unit not in done:
            for there in graph[unit]:
                visit(there, (*stack, unit))
            done.add(unit)

    for unit in sorted(ground):
        visit(unit, ())


def test_the_import_reader_sees_every_form() -> None:
    """The layer test would pass vacuously if the reader missed a form of import."""
    path = SRC / "cli" / "probe.py"
    code = (
        "import llmbench_async.results.stats\n"
        "from llmbench_async.results.gate import judge\n"
        "from llmbench_async import records\n"
        "from ..config import RunConfig\n"
        "from .. import errors\n"
        "from . import options\n"
        "def f() -> None:\n"
        "    from ..session.run import run\n"
        "if TYPE_CHECKING:\n"
        "    from ..results.compare import Comparison\n"
        "import httpx, llmbench_async\n"
    )
    with unittest.mock.patch.object(Path, "read_text", return_value=code):
        found = _imported_units(path)
    assert found == {"results", "records", "config", "errors", "cli", "session"}


def test_the_mock_imports_nothing_else_of_ours() -> None:
    """The mock is the truth the client is checked against: it imports none of the client's
    code, but for `wire/rxstamp.py` (stdlib only), so both read kernel receive stamps alike."""
    for path in (SRC / "mock").rglob("*.py"):
        assert _imported_units(path) <= {"mock", "wire"}, path
        wire = [n for n in ast.walk(ast.parse(path.read_text())) if _names_wire(n)]
        assert all(getattr(n, "module", "") == "wire.rxstamp" for n in wire), path
    assert _imported_units(SRC / "wire" / "rxstamp.py") == set()


def _names_wire(node: ast.AST) -> bool:
    return isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wire")


def test_httpx_private_names_stay_in_their_compatibility_module() -> None:
    """Private httpx names may change in any release: one module holds them all."""
    for path in _sources():
        if path == SRC / "wire" / "httpx_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            private = [n for n in names if n.startswith("httpx.") and "._" in f".{n[6:]}"]
            assert not private, (path, private)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert not (
                    node.value.id == "httpx" and node.attr.startswith("_")
                ) or node.attr.startswith("__"), path
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not node.value.startswith("httpx._"), path


def test_each_source_module_has_a_test_module_named_after_it() -> None:
    """tests/ mirrors the package: `wing/module.py` is tested in tests/test_module.py, or in
    tests/test_wing_module.py when two modules share the name (cli/run.py, session/run.py)."""
    tests = ROOT / "tests"
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        if path.stem in FACADE:
            continue
        names = {path.stem.lstrip("_"), f"{path.parent.name}_{path.stem}"}
        if not any((tests / f"test_{name}.py").is_file() for name in names):
            missing.append(str(path.relative_to(SRC)))
    assert missing == []
