"""_version.py: the version constant (read at start-up instead of package metadata) is the
one pyproject.toml declares, and `--version` prints it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from llmbench_async import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
    out = subprocess.run(
        [sys.executable, "-m", "llmbench_async", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout == f"llmbench-async {project['version']}\n"
