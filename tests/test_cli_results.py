"""cli/results.py: `report` re-renders a saved run from its results file (no network), and
refuses what is not one in one line; `compare --init-baseline` saves a first baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli


@pytest.fixture(scope="module")
def saved(instant_mock_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("saved")
    results, summary = out / "r.jsonl", out / "s.json"
    done = run_cli(
        "--base-url", instant_mock_url, "-n", "8", "-c", "2", "-q", "-o", str(results),
        "--json", str(summary),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    return results, summary


def test_report_restates_the_run_and_rejudges_it(saved: tuple[Path, Path], tmp_path: Path) -> None:
    results, summary = saved
    again = tmp_path / "again.json"
    done = run_cli("report", str(results), "-q", "--json", str(again))
    assert done.code == 0, done.stderr
    first, second = json.loads(summary.read_text()), json.loads(again.read_text())
    assert second["requests"] == first["requests"]
    assert second["metrics"]["e2e_ms"] == first["metrics"]["e2e_ms"]
    failed = run_cli("report", str(results), "-q", "--fail-if", "e2e.p50<0.001ms")
    assert failed.code == 1 and "e2e.p50" in failed.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, s: d / "missing.jsonl", "cannot read"),
        (lambda d, s: s, "is a summary JSON (--json)"),
        (lambda d, s: _write(d / "x.txt", "hello\n"), "not a results file"),
        (lambda d, s: _write(d / "bin.jsonl", "\udcff"), "not a results file"),
    ],
)
def test_report_refuses_what_is_not_a_results_file(
    saved: tuple[Path, Path], tmp_path: Path, make: object, message: str
) -> None:
    path = make(tmp_path, saved[1])  # type: ignore[operator]
    done = run_cli("report", str(path), "-q")
    assert done.code == 2
    assert message in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_compare_init_baseline_saves_the_first_run(
    saved: tuple[Path, Path], tmp_path: Path
) -> None:
    base = tmp_path / "baseline.json"
    done = run_cli("compare", str(base), str(saved[1]), "--init-baseline")
    assert done.code == 0, done.stderr
    assert base.read_bytes() == saved[1].read_bytes()


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path
