"""One exit-code table: README.md, the command line's help, the Action and the Python API
(`ExitCode`) give the same codes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from llmbench_async import ExitCode
from llmbench_async.cli import EXIT_CODES_HELP
from llmbench_async.publish import (
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_TARGET,
    EXIT_THRESHOLD,
    EXIT_USAGE,
)

REPO = Path(__file__).resolve().parent.parent
CODES = {int(code) for code in ExitCode}


def test_readme_table_lists_exactly_the_codes() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Failures and exit codes") :]
    table = section[: section.index("\n\n", section.index("| code | when |"))]
    rows = re.findall(r"^\| (\d+) \|", table, flags=re.M)
    assert sorted(int(code) for code in rows) == sorted(CODES)


def test_cli_action_and_api_agree() -> None:
    assert (EXIT_OK, EXIT_THRESHOLD, EXIT_USAGE, EXIT_TARGET, EXIT_SIGINT, EXIT_SIGTERM) == (
        0,
        1,
        2,
        3,
        130,
        143,
    )
    assert {int(c) for c in re.findall(r"\b(\d+) ", EXIT_CODES_HELP)} == CODES
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    described = action["outputs"]["exit-code"]["description"]
    assert {int(c) for c in re.findall(r"\d+", described)} == CODES
