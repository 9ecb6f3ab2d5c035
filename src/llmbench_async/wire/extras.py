"""The command that adds an optional package, for the way this copy of the tool was installed.

`pip install 'llmbench-async[http2]'` cannot help a `uv tool` install (its environment has
no pip) nor a `uvx` run (a throw-away environment): the hint names the route in use, read
from where this interpreter's environment lives.
"""

from __future__ import annotations

import sys
from pathlib import Path

DIST = "llmbench-async"


def install_route(prefix: str | None = None) -> str:
    """`uv-tool`, `uvx`, `pipx`, `uv-project`, `uv-checkout` (of this tool) or `pip`: how
    the environment at `prefix` (default: this interpreter's) was made."""
    path = Path(sys.prefix if prefix is None else prefix)
    parts = [p.lower() for p in path.parts]
    joined = "/".join(parts)
    if (path / "uv-receipt.toml").is_file() or "uv/tools/" in joined + "/":
        return "uv-tool"  # `uv tool install` writes its receipt into the environment
    if any(p.startswith(("archive-v", "builds-v")) for p in parts):
        return "uvx"  # a throw-away environment in uv's cache: `uvx` / `uv tool run`
    if (path / "pipx_metadata.json").is_file() or "pipx/venvs/" in joined + "/":
        return "pipx"
    project = path.parent
    if (project / "uv.lock").is_file() and (project / "pyproject.toml").is_file():
        return "uv-checkout" if _is_this_project(project / "pyproject.toml") else "uv-project"
    return "pip"


def _is_this_project(pyproject: Path) -> bool:
    """Whether a uv project is a checkout of llmbench-async itself (not one that uses it)."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return f'name = "{DIST}"' in text


def install_command(package: str, extra: str, prefix: str | None = None) -> str:
    """The one command that installs `package` (the `extra`'s) into this tool's environment."""
    route = install_route(prefix)
    if route == "uv-tool":
        return f"uv tool install --with {package} {DIST}"
    if route == "uvx":
        return f"uvx --with {package} {DIST} ..."
    if route == "pipx":
        return f"pipx inject {DIST} {package}"
    if route == "uv-checkout":
        return f"uv sync --extra {extra}"
    if route == "uv-project":
        return f"uv add '{DIST}[{extra}]'"
    return f"pip install '{DIST}[{extra}]' (or pip install {package})"


def missing_extra(flag: str, package: str, extra: str) -> str:
    """The one-line error for a flag whose optional package is not installed."""
    return f"{flag} needs the {package} package: {install_command(package, extra)}"
