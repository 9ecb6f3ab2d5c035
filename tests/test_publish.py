"""report/publish.py: the one writer of every output. Every file gets the same rendering
with secrets scrubbed, a failed write does not stop the others, outputs are checked before
a run, and the exit code follows its priority order."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from llmbench_async.errors import ConfigError, ExitCode, OutputError
from llmbench_async.report.publish import STDOUT, Outputs, exit_code, publish

SECRET = "sk-publish-secret-0001"


class _Rendered:
    """A rendering whose every form carries a secret a server echoed."""

    def console(self, *, width: int, color: bool) -> str:
        return f"console {SECRET}\n"

    def json(self) -> dict[str, Any]:
        return {"echo": SECRET, "ok": 1}

    def markdown(self) -> str:
        return f"# md {SECRET}\n"

    def junit(self) -> str:
        return f"<testsuite name='{SECRET}'/>\n"

    def html(self) -> str:
        return f"<p>{SECRET}</p>\n"


def _outputs(tmp_path: Path, **extra: Any) -> Outputs:
    return Outputs(
        json_path=tmp_path / "s.json",
        markdown_path=tmp_path / "s.md",
        junit_path=tmp_path / "s.xml",
        html_path=tmp_path / "s.html",
        secrets=(SECRET,),
        **extra,
    )


def test_every_output_is_written_and_scrubbed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    publish(_Rendered(), _outputs(tmp_path))
    for name in ("s.json", "s.md", "s.xml", "s.html", "step.md"):
        text = (tmp_path / name).read_text()
        assert SECRET not in text and text.strip(), name
    assert json.loads((tmp_path / "s.json").read_text())["ok"] == 1
    assert SECRET not in capsys.readouterr().out


def test_a_failed_write_does_not_stop_the_others(tmp_path: Path) -> None:
    blocked = tmp_path / "dir.json"
    blocked.mkdir()  # a directory where the JSON should go: that write fails
    outputs = Outputs(
        json_path=blocked, markdown_path=tmp_path / "s.md", quiet=True, secrets=(SECRET,)
    )
    with pytest.raises(OutputError):
        publish(_Rendered(), outputs)
    assert (tmp_path / "s.md").read_text().startswith("# md")


def test_outputs_are_checked_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both ask for stdout"):
        Outputs(json_path=STDOUT, markdown_path=STDOUT).check_dirs()
    with pytest.raises(ConfigError, match="does not exist"):
        Outputs(json_path=tmp_path / "no" / "s.json").check_dirs()
    with pytest.raises(ConfigError, match="both name"):
        Outputs(json_path=tmp_path / "x", markdown_path=tmp_path / "x").check_dirs()
    results = tmp_path / "r.jsonl"
    results.write_text("{}\n")
    with pytest.raises(ConfigError, match="both name"):
        Outputs(json_path=results).check_dirs([("RESULTS", results)])
    assert results.read_text() == "{}\n"  # never truncated by the check
    Outputs(json_path=tmp_path / "fresh.json").check_dirs()
    assert not (tmp_path / "fresh.json").exists()  # the probe leaves nothing behind
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="cannot write"):
        Outputs(json_path=fifo).check_dirs()  # no reader: fails at once, never hangs


def test_exit_code_priority(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code() == ExitCode.OK
    assert exit_code(failure="ttft.p95 failed") == ExitCode.THRESHOLD
    assert exit_code(problem="target down", failure="x") == ExitCode.TARGET
    assert exit_code(interrupted_by="SIGINT", problem="x") == ExitCode.SIGINT
    assert exit_code(problem=f"echo {SECRET}", secrets=(SECRET,)) == ExitCode.TARGET
    assert SECRET not in capsys.readouterr().err
