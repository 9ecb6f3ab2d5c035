"""cli/metavars.py: every option that takes a value shows what to write, never a Python
type, in every command's --help."""

from __future__ import annotations

import re

import pytest
from conftest import run_cli

from llmbench_async.cli import SUBCOMMANDS, _command
from llmbench_async.cli.metavars import METAVARS

PYTHON_TYPES = re.compile(r"\b(INTEGER|FLOAT|BOOLEAN|LIST|TUPLE|CHOICE)\b")


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_value_option_names_its_value(name: str) -> None:
    command = _command(name)
    for param in command.params:
        if param.param_type_name != "option" or param.is_flag:
            continue
        assert param.metavar, f"{name} {param.opts[0]} has no value name"
        assert not PYTHON_TYPES.search(param.metavar), (name, param.opts, param.metavar)


def test_help_prints_the_table_names() -> None:
    result = run_cli("run", "--help", timeout=30)
    text = " ".join(result.stdout.split())
    for flag in ("--duration", "--concurrency", "--fail-if", "--min-achieved"):
        assert f"{flag} {METAVARS[flag]}" in text or f"{flag}, " in text, flag
