"""Sweeps through the real CLI: one row per level, capacity under SLO, --stop-on-fail."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from llmbench_async.mock import MockConfig, MockProcess


@pytest.fixture(scope="module")
def limited_mock() -> Iterator[MockProcess]:
    # beyond 2 concurrent streams requests queue, so latency grows with load
    with MockProcess(MockConfig(ttft_ms=40, itl_ms=5, tokens=8, capacity=2)) as mock:
        yield mock


def test_capacity_under_slo(limited_mock: MockProcess, tmp_path: Path) -> None:
    summary, junit = tmp_path / "s.json", tmp_path / "j.xml"
    res = run_cli(
        "--base-url",
        limited_mock.base_url,
        "-c",
        "1,2,4",
        "-n",
        "8",
        "--fail-if",
        "ttft.p99<70ms",
        "--json",
        str(summary),
        "--junit",
        str(junit),
        "-o",
        str(tmp_path / "r.jsonl"),
    )
    assert res.code == 0, res.stderr
    assert "Capacity under SLO: c=2" in res.stdout
    for label in ("c=1", "c=2", "c=4"):
        assert label in res.stdout
    doc = json.loads(summary.read_text())
    assert doc["schema"] == "llmbench-async/sweep/v1"
    assert [lv["level"]["label"] for lv in doc["levels"]] == ["c=1", "c=2", "c=4"]
    assert [lv["level"]["passed"] for lv in doc["levels"]] == [True, True, False]
    assert doc["capacity_under_slo"]["label"] == "c=2"
    assert all(lv["requests"]["ok"] == 8 for lv in doc["levels"])
    # every level keeps its own results file
    for tag in ("c1", "c2", "c4"):
        lines = (tmp_path / f"r.{tag}.jsonl").read_text().splitlines()
        assert len([x for x in lines if '"type":"request"' in x]) == 8
    cases = ET.parse(junit).getroot().iter("testcase")
    assert [c.find("failure") is not None for c in cases] == [False, False, True]


def test_stop_on_fail_and_no_capacity(limited_mock: MockProcess, tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    res = run_cli(
        "--base-url",
        limited_mock.base_url,
        "-c",
        "1,4,8",
        "-n",
        "4",
        "--fail-if",
        "ttft.p99<1ms",
        "--stop-on-fail",
        "--json",
        str(summary),
    )
    assert res.code == 1
    assert "no level of the sweep meets every --fail-if threshold" in res.stderr
    doc = json.loads(summary.read_text())
    assert len(doc["levels"]) == 1  # stopped at the first failing level
    assert doc["capacity_under_slo"] is None


def test_rate_sweep_without_thresholds(limited_mock: MockProcess) -> None:
    res = run_cli(
        "--base-url", limited_mock.base_url, "--rate", "5,10", "-n", "4", "--arrival", "constant"
    )
    assert res.code == 0, res.stderr
    assert "rate=5" in res.stdout and "rate=10" in res.stdout
    assert "Capacity under SLO" not in res.stdout


def test_cannot_sweep_both(limited_mock: MockProcess) -> None:
    res = run_cli("--base-url", limited_mock.base_url, "-c", "1,2", "--rate", "1,2")
    assert res.code == 2 and "not both" in res.stderr
