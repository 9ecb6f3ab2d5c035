"""cli/layout.py: the help panels in their order, and options whose value may be left out."""

from __future__ import annotations

from conftest import run_cli

from llmbench_async.cli import _command
from llmbench_async.cli.layout import PANELS, fill_optional_values


def test_run_help_shows_every_panel_once_in_order() -> None:
    result = run_cli("run", "--help", timeout=30)
    assert result.code == 0
    headings = [line[:-1] for line in result.stdout.splitlines() if line[:-1] in PANELS]
    assert headings == [p for p in PANELS if p in headings]  # in PANELS' order
    assert len(headings) == len(set(headings)) == len(PANELS)  # each panel, once


def test_a_bare_optional_value_is_filled_in_and_other_values_are_passed_over() -> None:
    params = _command("run").params
    assert fill_optional_values(["--ray"], params) == ["--ray", "auto"]
    assert fill_optional_values(["--ray", "-n", "3"], params) == ["--ray", "auto", "-n", "3"]
    assert fill_optional_values(["--ray", "ray://h:10001"], params) == ["--ray", "ray://h:10001"]
    # a value that looks like the option is another option's value, not a bare --ray
    assert fill_optional_values(["--prompt", "--ray"], params) == ["--prompt", "--ray"]
    assert fill_optional_values(["--", "--ray"], params) == ["--", "--ray"]
