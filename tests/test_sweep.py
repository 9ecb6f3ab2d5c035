"""Sweeps through the real CLI: one row per level, capacity under SLO, --stop-on-fail."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    assert "Capacity under SLO: c=2 (c=4 fails)" in res.stdout
    for label in ("c=1", "c=2", "c=4"):
        assert label in res.stdout
    doc = json.loads(summary.read_text())
    assert doc["schema"] == "llmbench-async/sweep/v1"
    assert [lv["level"]["label"] for lv in doc["levels"]] == ["c=1", "c=2", "c=4"]
    assert [lv["level"]["passed"] for lv in doc["levels"]] == [True, True, False]
    assert doc["capacity_under_slo"]["label"] == "c=2"
    capacity = doc["capacity"]
    assert (capacity["value"], capacity["bound"], capacity["first_failing_level"]) == (
        2,
        "exact",
        "c=4",
    )
    # closed loop: the concurrency actually reached is reported against the target
    assert [(lv["level"]["offered"], lv["level"]["achieved"]) for lv in doc["levels"]] == [
        (1, 1),
        (2, 2),
        (4, 4),
    ]
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
    assert "no level of the sweep meets the SLO: ttft.p99<1ms (observed" in res.stderr
    assert "Capacity under SLO: none (the lowest level, c=1, already fails)" in res.stdout
    doc = json.loads(summary.read_text())
    assert len(doc["levels"]) == 1  # stopped at the first failing level
    assert doc["capacity_under_slo"] is None
    assert doc["capacity"] == {
        "value": None,
        "label": None,
        "bound": None,
        "first_failing_level": "c=1",
        "requests_per_s": None,
        "output_tokens_per_s": None,
        "goodput_per_s": None,
    }


def test_every_level_passing_is_a_lower_bound(limited_mock: MockProcess, tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    res = run_cli(
        "--base-url",
        limited_mock.base_url,
        "-c",
        "1,2",
        "-n",
        "4",
        "--fail-if",
        "error_rate<1%",
        "--json",
        str(summary),
    )
    assert res.code == 0, res.stderr
    assert "Capacity under SLO: capacity ≥ c=2 (not reached); every level passed" in res.stdout
    capacity = json.loads(summary.read_text())["capacity"]
    assert (capacity["value"], capacity["bound"], capacity["first_failing_level"]) == (
        2,
        "lower",
        None,
    )


def test_concurrency_sweep_without_thresholds_is_not_judged(limited_mock: MockProcess) -> None:
    res = run_cli("--base-url", limited_mock.base_url, "-c", "1,2", "-n", "2")
    assert res.code == 0, res.stderr
    assert "c=1" in res.stdout and "c=2" in res.stdout
    assert "Capacity under SLO" not in res.stdout and "SLO" not in res.stdout.split("\n")[4]


@pytest.fixture(scope="module")
def one_slot_mock() -> Iterator[MockProcess]:
    # one response at a time, 8 x 5 ms + 20 ms: at most about 1/60 ms = 16 requests/s
    with MockProcess(MockConfig(ttft_ms=20, itl_ms=5, tokens=8, capacity=1)) as mock:
        yield mock


def rate_sweep(mock: MockProcess, tmp_path: Path, *extra: str) -> tuple[int, str, dict[str, Any]]:
    summary = tmp_path / "rate.json"
    res = run_cli(
        "--base-url",
        mock.base_url,
        "--rate",
        "8,60",
        "-n",
        "12",
        "--arrival",
        "constant",
        "--json",
        str(summary),
        *extra,
    )
    return res.code, res.stdout + res.stderr, json.loads(summary.read_text())


def test_rate_level_the_server_cannot_keep_up_with_is_saturated(
    one_slot_mock: MockProcess, tmp_path: Path
) -> None:
    code, out, doc = rate_sweep(one_slot_mock, tmp_path)
    assert code == 0, out  # rate=8 keeps up: capacity exists
    low, high = (lv["level"] for lv in doc["levels"])
    assert low["saturated"] is False and low["passed"] is True
    assert 0.9 <= low["achieved_ratio"] <= 1.1 and low["arrivals_per_s"] == pytest.approx(8)
    # 60 arrivals/s offered, one slot of ~60 ms: completions at most ~17/s
    assert high["saturated"] is True and high["passed"] is False
    assert high["offered"] == 60 and high["achieved"] < 25 and high["achieved_ratio"] < 0.5
    assert high["failures"][0].startswith("saturated: offered 60 req/s, achieved ")
    assert doc["capacity"]["value"] == 8 and doc["capacity"]["bound"] == "exact"
    assert doc["capacity"]["first_failing_level"] == "rate=60"
    assert "SATURATED" in out and "Capacity under SLO: rate=8 (rate=60 fails)" in out


def test_min_achieved_sets_the_saturation_bar(one_slot_mock: MockProcess, tmp_path: Path) -> None:
    code, out, doc = rate_sweep(one_slot_mock, tmp_path, "--min-achieved", "5%")
    assert code == 0, out
    assert [lv["level"]["saturated"] for lv in doc["levels"]] == [False, False]
    assert doc["capacity"]["bound"] == "lower"
    assert "Capacity under SLO: capacity ≥ rate=60 (not reached); every level passed" in out


@pytest.mark.parametrize("bad", ["abc", "150%", "-5%"])
def test_bad_min_achieved_is_a_usage_error(limited_mock: MockProcess, bad: str) -> None:
    res = run_cli("--base-url", limited_mock.base_url, "--rate", "1,2", "--min-achieved", bad)
    assert res.code == 2 and res.stderr.count("\n") == 1
    assert "--min-achieved must be a percentage" in res.stderr


def test_cannot_sweep_both(limited_mock: MockProcess) -> None:
    res = run_cli("--base-url", limited_mock.base_url, "-c", "1,2", "--rate", "1,2")
    assert res.code == 2 and "not both" in res.stderr
