"""`--ramp-up`: the schedule itself (slot start instants, arrival offsets), the runner keeping
it against the mock, and its conflicts with other flags."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from llmbench_async import MockProcess, RunConfig
from llmbench_async.cli.flags import Flags, flags_to_config
from llmbench_async.errors import ConfigError
from llmbench_async.pacing import ConstantRate, LoadPlan, PoissonRate, Ramp


def test_closed_loop_slots_start_evenly_over_the_ramp() -> None:
    assert Ramp(2.0).slot_offsets(5) == (0.0, 0.5, 1.0, 1.5, 2.0)
    assert Ramp(2.0).slot_offsets(1) == (0.0,)
    plan = RunConfig(concurrency=3, ramp_up_s=1.0).plan
    assert plan.slot_offsets(3) == (0.0, 0.5, 1.0)
    assert RunConfig(concurrency=3).plan.slot_offsets(3) == (0.0, 0.0, 0.0)


def test_constant_rate_ramps_linearly_then_keeps_its_spacing() -> None:
    # rate 1 → 10 req/s over 2 s: the ramp holds 2 * (1 + 10) / 2 = 11 arrivals
    ramp = Ramp(2.0)
    offsets = list(itertools.islice(ramp.warp(ConstantRate(10.0).offsets(), 10.0), 40))
    inside = [t for t in offsets if t < 2.0]
    assert len(inside) == 11
    assert offsets[0] == 0.0
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    ramp_gaps = gaps[: len(inside) - 1]
    assert all(b < a for a, b in itertools.pairwise(ramp_gaps))  # ever closer: rising rate
    # the 2nd arrival solves 0.1 t + 0.45 t² / 2 = 0.1 (start rate 1 = 0.1 of the target)
    assert ramp_gaps[0] == pytest.approx((math.sqrt(0.1) - 0.1) / 0.45)
    after = [t for t in offsets if t >= 2.0 - 1e-9]
    assert after[0] == pytest.approx(2.0)  # the 12th arrival lands on the ramp's end
    assert all(b - a == pytest.approx(0.1) for a, b in itertools.pairwise(after))
    # the instantaneous rate at t is 1 + 9 t / 2: arrivals by t are t + 9 t² / 4 (+1 at 0)
    for t in (0.5, 1.0, 1.5):
        expected = t + 9 * t * t / 4
        assert abs(sum(o <= t for o in offsets) - (math.floor(expected) + 1)) <= 1


def test_poisson_ramp_has_the_expected_arrivals_in_each_half() -> None:
    ramp, rate = Ramp(10.0), 1000.0
    offsets = ramp.warp(PoissonRate(rate, seed=7).offsets(), rate)
    first_half = second_half = 0
    for t in offsets:
        if t >= 10.0:
            break
        if t < 5.0:
            first_half += 1
        else:
            second_half += 1
    # Λ(t) = t + 999 t² / 20: 1253.75 by 5 s, 5005 by 10 s; Poisson spread ~sqrt(mean)
    assert abs(first_half - 1253.75) < 5 * math.sqrt(1253.75)
    assert abs(second_half - (5005 - 1253.75)) < 5 * math.sqrt(5005 - 1253.75)


def test_a_ramp_below_one_request_per_second_is_flat() -> None:
    offsets = list(itertools.islice(Ramp(3.0).warp(ConstantRate(0.5).offsets(), 0.5), 4))
    assert offsets == [0.0, 2.0, 4.0, 6.0]


def test_the_load_plan_carries_the_ramp() -> None:
    plan = RunConfig(rate=10.0, arrival="constant", ramp_up_s=2.0, n=5).plan
    assert plan.ramp_s == 2.0
    assert len([t for t in itertools.islice(plan.arrivals(), 30) if t < 2.0]) == 11
    flat = LoadPlan(ConstantRate(10.0), count=5)
    assert list(itertools.islice(flat.arrivals(), 3)) == [0.0, 0.1, 0.2]
    assert "ramp-up 2 s" in RunConfig(ramp_up_s=2.0).load_description()


def test_flags_parse_the_ramp_and_its_conflicts() -> None:
    assert flags_to_config(Flags(ramp_up="1.5s"), {}).ramp_up_s == 1.5
    with pytest.raises(ConfigError, match="--ramp-up"):
        flags_to_config(Flags(ramp_up="soon"), {})
    with pytest.raises(ConfigError, match="--ramp-up and --warmup exclude each other"):
        flags_to_config(Flags(ramp_up="5s", warmup="3"), {})


def test_ramp_conflict_is_one_line_on_the_command_line() -> None:
    res = run_cli("--ramp-up", "5s", "--warmup", "10s", "--model", "m", "-n", "1")
    assert res.code == 2
    assert res.stderr.strip().count("\n") == 0 and "--ramp-up" in res.stderr


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_closed_loop_ramp_against_the_mock(fast_mock: MockProcess, tmp_path: Path) -> None:
    """C=4 over a 0.9 s ramp: slot k starts at 0.3·k s, so in the first 0.3 s one request at
    a time is in flight; ramp requests are marked, extra to -n, and left out."""
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    res = run_cli(
        "--base-url", fast_mock.base_url, "--model", "mock-model", "-n", "8", "-c", "4",
        "--ramp-up", "0.9s", "-q", "-o", str(out), "--json", str(summary),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    records = [r for r in _lines(out) if r["type"] == "request"]
    ramp = [r for r in records if r.get("ramp")]
    measured = [r for r in records if not r.get("ramp")]
    assert len(measured) == 8 and len(ramp) >= 4
    data = json.loads(summary.read_text())
    assert data["requests"]["total"] == 8 and data["requests"]["ramp"] == len(ramp)
    start = min(r["scheduled_ns"] for r in records)
    early = sorted(
        (r for r in records if r["scheduled_ns"] < start + 250_000_000),
        key=lambda r: r["send_ns"],
    )
    assert len(early) >= 2
    for a, b in itertools.pairwise(early):  # one slot only: each waits for the last
        assert b["send_ns"] >= a["end_ns"]
    ramp_end = max(r["scheduled_ns"] for r in ramp)
    assert all(r["scheduled_ns"] > ramp_end for r in measured)
    assert ramp_end - start < 1_000_000_000
    # the time series shades the ramp, from its first request's due instant to the first
    # measured request's (record instants count from the run's t0, as the series does)
    (mark,) = data["timeseries"]["marks"]
    first_measured = min(r["scheduled_ns"] for r in measured)
    assert mark["label"] == "ramp-up"
    assert mark["start_s"] == pytest.approx(start / 1e9, abs=1e-6)
    assert mark["end_s"] == pytest.approx(first_measured / 1e9, abs=1e-6)
