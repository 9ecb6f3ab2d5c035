"""cli/run.py: the `run` command's parameters are the fields of `Flags`, so what typer
parses is what the run gets; `llmbench-async` with no sub-command is `run`."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

from conftest import run_cli

from llmbench_async.cli.flags import Flags
from llmbench_async.cli.run import run_command


def test_the_signature_is_the_fields_of_flags() -> None:
    params = inspect.signature(run_command).parameters
    fields = dataclasses.fields(Flags)
    assert list(params) == [f.name for f in fields]
    assert all(params[f.name].default == f.default for f in fields)


def test_run_and_the_bare_command_make_the_same_run(instant_mock_url: str, tmp_path: Path) -> None:
    outs = []
    for argv in (["run"], []):
        out = tmp_path / f"{len(argv)}.json"
        result = run_cli(
            *argv, "--base-url", instant_mock_url, "-n", "3", "-c", "2", "-q", "--json", str(out)
        )
        assert result.code == 0, result.stderr
        outs.append(json.loads(out.read_text()))
    for doc in outs:
        assert doc["requests"]["ok"] == 3
    assert outs[0]["config"]["concurrency"] == outs[1]["config"]["concurrency"] == 2
