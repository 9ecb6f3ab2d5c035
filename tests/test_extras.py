"""extras.py: the one command that adds an optional package, for the way this copy of the
tool was installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench_async.wire.extras import install_command, install_route


@pytest.mark.parametrize(
    ("layout", "route", "command"),
    [
        ("tools/llmbench-async/uv-receipt.toml", "uv-tool",
         "uv tool install --with h2 llmbench-async"),
        (".cache/uv/archive-v0/AbC123/pyvenv.cfg", "uvx", "uvx --with h2 llmbench-async ..."),
        ("pipx/venvs/llmbench-async/pipx_metadata.json", "pipx", "pipx inject llmbench-async h2"),
        ("proj/.venv/pyvenv.cfg", "uv-project", "uv add 'llmbench-async[http2]'"),
        ("proj/.venv/pyvenv.cfg", "uv-checkout", "uv sync --extra http2"),
        ("venv/pyvenv.cfg", "pip", "pip install 'llmbench-async[http2]' (or pip install h2)"),
    ],
)  # fmt: skip
def test_install_route(tmp_path: Path, layout: str, route: str, command: str) -> None:
    """Environments laid out as each installer leaves them (the real routes run in
    test_recipes.py's test_missing_extra_names_the_install_route)."""
    marker = tmp_path / layout
    marker.parent.mkdir(parents=True)
    marker.write_text("")
    if route in ("uv-project", "uv-checkout"):
        name = "llmbench-async" if route == "uv-checkout" else "my-service"
        (tmp_path / "proj" / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n')
        (tmp_path / "proj" / "uv.lock").write_text("")
    prefix = str(marker.parent)
    assert install_route(prefix) == route
    assert install_command("h2", "http2", prefix) == command
