"""Each `run` flag is declared once (a field of `Flags`: type, default, help and panel, in
cli/options.py and cli/workload_options.py). The command typer builds, its `--help`, the
Python API's `Flags()` and the default `RunConfig` must all agree with that declaration."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from typer.models import OptionInfo

from llmbench_async.cli import _command
from llmbench_async.cli.flags import Flags, flags_to_config
from llmbench_async.cli.layout import PANELS
from llmbench_async.config import RunConfig


def _declared() -> dict[str, tuple[Any, OptionInfo]]:
    """Each field of Flags: its default and the one option its annotation declares."""
    hints = typing.get_type_hints(Flags, include_extras=True)
    out = {}
    for field in dataclasses.fields(Flags):
        infos = [
            m for m in getattr(hints[field.name], "__metadata__", ()) if isinstance(m, OptionInfo)
        ]
        assert len(infos) == 1, f"{field.name}: declare exactly one option"
        out[field.name] = (field.default, infos[0])
    return out


def _names(info: OptionInfo) -> list[str]:
    """An option's names: in the Annotated form typer keeps the first one as `default`."""
    decls = [info.default, *(info.param_decls or ())]
    return [n for d in decls if isinstance(d, str) for n in d.split("/")]


def test_every_flag_is_declared_with_help_a_panel_and_a_default() -> None:
    declared = _declared()
    assert len(declared) >= 70
    for name, (default, info) in declared.items():
        assert default is not dataclasses.MISSING, name
        assert info.help and info.help.strip().endswith((".", ")")), name
        assert info.rich_help_panel in PANELS, name
        assert any(n.startswith("--") for n in _names(info)), name


def test_the_command_typer_builds_is_the_declaration() -> None:
    command = _command("run")
    params = {p.name: p for p in command.params}
    declared = _declared()
    assert sorted(params) == sorted(declared)
    ctx = command.make_context("run", [])  # parse an empty command line: every default
    given = {k: (None if v == () else v) for k, v in ctx.params.items()}  # click: () for none
    assert given == dataclasses.asdict(Flags())
    for name, (_, info) in declared.items():
        opts = set(params[name].opts) | set(params[name].secondary_opts)
        assert opts == set(_names(info)), name


def test_the_default_flags_make_the_default_run() -> None:
    config = flags_to_config(Flags(), env={})
    plain = RunConfig(base_url=config.base_url)
    for name in ("n", "concurrency", "max_tokens", "stream", "api", "prompt", "timeouts", "retry"):
        assert getattr(config, name) == getattr(plain, name), name
    assert config.lost_after == 10 and config.ready_timeout_s is None


@pytest.mark.parametrize("flag", ["--timeout", "--max-tokens", "--window", "--retries"])
def test_help_shows_the_declared_default(flag: str) -> None:
    declared = {name: default for default, info in _declared().values() for name in _names(info)}
    result = run_cli("run", "--help", timeout=30)
    assert result.code == 0
    # the option's own entry: from its line in the list to the next option's line
    entry = re.search(
        rf"^  (?:-\w, )?{re.escape(flag)}[ ,].*?(?=^  -|\Z)", result.stdout, re.M | re.S
    )
    assert entry is not None, flag
    shown = re.search(r"\[default: ([^\]]+)\]", " ".join(entry.group(0).split()))
    assert shown is not None, flag
    assert shown.group(1) == str(declared[flag])


DOCS = Path(__file__).resolve().parents[1] / "docs"
# where each command's options are documented, one row or line each
DOCUMENTED_IN = {
    "run": ("options.md",),
    "report": ("options.md", "ci.md"),
    "compare": ("options.md", "ci.md"),
    "mock-server": ("mock.md",),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED_IN))
def test_every_option_of_every_command_is_documented(name: str) -> None:
    text = "\n".join((DOCS / page).read_text() for page in DOCUMENTED_IN[name])
    missing = []
    for param in _command(name).params:
        if param.param_type_name != "option":
            continue
        longs = [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
        if not any(re.search(re.escape(o) + r"(?![\w-])", text) for o in longs):
            missing.append(longs[0])
    assert missing == [], f"document these in {DOCUMENTED_IN[name]}"
