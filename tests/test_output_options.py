"""cli/output_options.py: the Outputs, CI gate and Observe options. Each sits in its panel,
and each output a run is given is written, through the real command line."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

from conftest import run_cli
from typer.models import OptionInfo

from llmbench_async.cli.layout import GATE, OBSERVE, OUTPUTS
from llmbench_async.cli.output_options import OutputOptions


def test_every_field_is_in_an_output_gate_or_observe_panel() -> None:
    hints = typing.get_type_hints(OutputOptions, include_extras=True)
    for field in dataclasses.fields(OutputOptions):
        (info,) = [m for m in hints[field.name].__metadata__ if isinstance(m, OptionInfo)]
        assert info.rich_help_panel in (OUTPUTS, GATE, OBSERVE), field.name


def test_each_output_is_written(instant_mock_url: str, tmp_path: Path) -> None:
    paths = {name: tmp_path / f"out.{name}" for name in ("jsonl", "json", "md", "html", "xml")}
    done = run_cli(
        "--base-url", instant_mock_url, "-n", "4", "-q", "-o", str(paths["jsonl"]),
        "--json", str(paths["json"]), "--markdown", str(paths["md"]), "--html",
        str(paths["html"]), "--junit", str(paths["xml"]), "--fail-if", "error_rate<1%",
        "--window", "200ms",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert done.stdout == ""  # -q: no console report
    assert json.loads(paths["json"].read_text())["timeseries"]["window_s"] == 0.2
    assert len(paths["jsonl"].read_text().splitlines()) >= 5  # header and 4 requests
    assert paths["md"].read_text().startswith("### llmbench-async")
    assert paths["html"].read_text().lstrip().lower().startswith("<!doctype html")
    assert "error_rate&lt;1%" in paths["xml"].read_text()
