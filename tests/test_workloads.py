"""report/workloads.py: a workload's settings and its per-turn and per-prefix-group tables,
stated alike in the console, the JSON and the Markdown of one run."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli


def test_turns_and_prefix_groups_in_every_output(instant_mock_url: str, tmp_path: Path) -> None:
    out, md = tmp_path / "s.json", tmp_path / "s.md"
    done = run_cli(
        "--base-url", instant_mock_url, "--turns", "2", "-n", "8", "-c", "2",
        "--prefix-tokens", "32", "--prefix-groups", "2", "--json", str(out),
        "--markdown", str(md),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    doc = json.loads(out.read_text())
    turns = {k: v["ttft_ms"]["count"] for k, v in doc["by_turn"].items()}
    groups = {k: v["ttft_ms"]["count"] for k, v in doc["by_group"].items()}
    assert sum(turns.values()) == sum(groups.values()) == doc["requests"]["ok"] == 8
    assert sorted(turns) == ["1", "2"] and sorted(groups) == ["0", "1"]
    markdown = md.read_text()
    assert "2 turns" in markdown and "prefix 32 tokens × 2" in markdown
    assert "| turn | count |" in markdown and "| prefix group | count |" in markdown
    assert "2 turns" in done.stdout and "prefix 32 tokens × 2" in done.stdout
