"""One exit-code table: README.md, the command line's help, the Action and the Python API
(`ExitCode`) give the same codes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from llmbench_async import ExitCode
from llmbench_async.cli.options import EXIT_CODES_HELP
from llmbench_async.errors import EXIT_FOR_SIGNAL, ConfigError, MockServerError, TargetError

REPO = Path(__file__).resolve().parent.parent
CODES = {int(code) for code in ExitCode}


def test_readme_table_lists_exactly_the_codes() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Failures and exit codes") :]
    table = section[: section.index("\n\n", section.index("| code | when |"))]
    rows = re.findall(r"^\| (\d+) \|", table, flags=re.M)
    assert sorted(int(code) for code in rows) == sorted(CODES)


def test_cli_action_and_api_agree() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 4, 130, 143]
    assert (ConfigError.exit_code, TargetError.exit_code, MockServerError.exit_code) == (2, 3, 4)
    assert EXIT_FOR_SIGNAL == {"SIGINT": 130, "SIGTERM": 143}
    assert {int(c) for c in re.findall(r"\b(\d+) ", EXIT_CODES_HELP)} == CODES
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    described = action["outputs"]["exit-code"]["description"]
    assert {int(c) for c in re.findall(r"\d+", described)} == CODES
