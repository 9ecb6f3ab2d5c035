"""cli/pipeline.py: the path of one `run`, start to exit code, through the real command
line: a single run, a sweep, an unusable target (reported in full, then exit 3), and
outputs checked before any request is sent."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from conftest import run_cli


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_sweep_writes_one_document_with_every_level(
    instant_mock_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "sweep.json"
    done = run_cli("--base-url", instant_mock_url, "-c", "1,2", "-n", "4", "-q", "--json", str(out))
    assert done.code == 0, done.stderr
    doc = json.loads(out.read_text())
    assert [level["requests"]["ok"] for level in doc["levels"]] == [4, 4]


def test_an_unusable_target_is_reported_then_exits_3(tmp_path: Path) -> None:
    out, md = tmp_path / "s.json", tmp_path / "s.md"
    url = f"http://127.0.0.1:{_dead_port()}"
    done = run_cli("--base-url", url, "--model", "m", "-n", "2", "-q", "--json", str(out),
                   "--markdown", str(md))  # fmt: skip
    assert done.code == 3
    assert done.stderr.count("\n") == 1 and "cannot reach" in done.stderr
    doc = json.loads(out.read_text())  # the report is written before the exit
    assert doc["problem"].startswith("cannot reach") and doc["requests"]["ok"] == 0
    assert "cannot reach" in md.read_text()


def test_outputs_are_checked_before_any_request(instant_mock_url: str, tmp_path: Path) -> None:
    done = run_cli("--base-url", instant_mock_url, "-n", "2", "-q",
                   "--json", str(tmp_path / "missing" / "s.json"))  # fmt: skip
    assert done.code == 2 and "does not exist" in done.stderr
    assert done.stderr.count("\n") == 1
