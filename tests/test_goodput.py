"""Goodput: per-request SLO conditions, judged against the mock's known timing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import StartMock, run_cli

from llmbench_async import RunConfig, run
from llmbench_async.config import RetryPolicy
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.records import RequestRecord
from llmbench_async.results.gate import ThresholdError, check
from llmbench_async.results.goodput import is_good, parse_goodput


def test_parse_goodput_reuses_the_threshold_grammar() -> None:
    spec = parse_goodput("ttft<200ms, tpot<=0.05s")
    assert str(spec) == "ttft<200ms,tpot<=0.05s"
    assert [c.limit for c in spec.conditions] == [200.0, 50.0]  # ms
    assert parse_goodput(["e2e<1s", "itl<20"]).conditions[1].ref.metric == "itl"
    for bad, reason in (
        ("ttft.p99<200ms", "per request"),
        ("latency<1s", "per request"),
        ("ttft", "per request"),
        ("ttft<5%", "unit '%' does not fit ttft"),
        (" , ", "at least one condition"),
    ):
        with pytest.raises(ThresholdError, match=reason):
            parse_goodput(bad)


def _record(**fields: int | None) -> RequestRecord:
    base = {"index": 0, "scheduled_ns": 0, "send_ns": 10_000_000, "end_ns": 500_000_000}
    return RequestRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_a_request_is_good_only_when_it_meets_every_condition() -> None:
    spec = parse_goodput("ttft<100ms,tpot<20ms")
    fast = _record(first_token_ns=60_000_000, last_token_ns=150_000_000, output_tokens=10)
    assert is_good(fast, spec)  # TTFT 50 ms, TPOT 10 ms
    slow_start = _record(first_token_ns=200_000_000, last_token_ns=210_000_000, output_tokens=2)
    assert not is_good(slow_start, spec)
    one_token = _record(first_token_ns=20_000_000, last_token_ns=20_000_000, output_tokens=1)
    assert is_good(one_token, spec)  # TPOT of a single token counts as 0
    no_ttft = _record()
    assert not is_good(no_ttft, spec)  # no first token: the condition is not met
    failed = _record(first_token_ns=20_000_000, output_tokens=1)
    assert is_good(failed, spec)
    assert not is_good(replace(failed, error_kind="read"), spec)  # a failure is never good
    # from the schedule: queue delay counts against TTFT
    queued = _record(scheduled_ns=0, send_ns=80_000_000, first_token_ns=130_000_000)
    assert is_good(queued, parse_goodput("ttft<100ms"))
    assert not is_good(queued, parse_goodput("ttft<100ms"), from_schedule=True)


def test_goodput_against_the_mock_timing(fast_mock: MockProcess) -> None:
    # TTFT 50 ms, ITL 5 ms: every request meets ttft<150ms, none meets ttft<30ms
    url = fast_mock.base_url
    met = run(RunConfig(base_url=url, n=8, concurrency=4, goodput=("ttft<150ms",)))
    missed = run(RunConfig(base_url=url, n=4, goodput=("ttft<30ms",)))
    tpot = run(RunConfig(base_url=url, n=4, goodput=("ttft<150ms,tpot<1ms",)))
    s = met.summary
    assert s.good == 8 and s.good_fraction == 1.0
    assert s.goodput_per_s == pytest.approx(8 / s.duration_s)
    assert missed.summary.good == 0 and missed.summary.goodput_per_s == 0.0
    assert tpot.summary.good == 0  # TPOT is ~5 ms
    assert all(v.passed for v in check(s, ["goodput>1", "good_fraction>=100%"]))
    assert not check(missed.summary, ["goodput>0"])[0].passed


def test_failed_requests_are_never_good(start_mock: StartMock) -> None:
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=2, fail_rate=0.5, seed=4)
    config = RunConfig(
        base_url=mock.base_url, n=20, goodput=("e2e<10s",), retry=RetryPolicy(retries=0)
    )
    result = run(config)
    s = result.summary
    assert 0 < s.failed < 20
    assert s.good == s.ok and s.good_fraction == pytest.approx(s.ok / 20)


def test_without_conditions_every_successful_request_is_good(instant_mock: MockProcess) -> None:
    summary = run(RunConfig(base_url=instant_mock.base_url, n=2)).summary
    assert summary.good == summary.ok == 2 and summary.good_fraction == 1.0
    verdict = check(summary, ["goodput>0"])[0]
    assert verdict.observed == pytest.approx(summary.requests_per_s) and verdict.passed


def test_cli_goodput_in_json_markdown_and_gate(tmp_path: Path) -> None:
    out, md = tmp_path / "s.json", tmp_path / "s.md"
    # four short replies at once: the mock's 200 ms TTFT, 4 tokens each
    args = ("--mock", "-n", "4", "-c", "4", "--max-tokens", "4", "-q")
    args += ("--goodput", "ttft<2s,tpot<1s", "--json", str(out))
    saved = tmp_path / "r.jsonl"
    done = run_cli(*args, "--markdown", str(md), "--fail-if", "goodput>0.5", "-o", str(saved))
    assert done.code == 0, done.stderr
    data = json.loads(out.read_text())
    good = data["goodput"]
    assert good["conditions"] == ["ttft<2s,tpot<1s"]
    assert good["good"] == 4 and good["fraction"] == 1.0
    assert good["per_s"] == pytest.approx(4 / data["duration_s"])
    assert "**Goodput**" in md.read_text()
    # a saved run is re-reported with its own --goodput
    again = run_cli("report", str(saved), "--fail-if", "good_fraction>=100%")
    assert again.code == 0, again.stderr
    assert "Goodput:" in again.stdout and "100.0% good (4 met ttft<2s,tpot<1s)" in again.stdout
    failing = run_cli(*args, "--fail-if", "goodput>1000")
    assert failing.code == 1


def test_a_sweep_names_the_highest_level_that_keeps_its_goodput(tmp_path: Path) -> None:
    # the mock generates 2 responses at once (TTFT 60 ms): at concurrency 1 every request
    # is good under ttft<150ms; at 8, requests queue for a slot and most are not
    out, md = tmp_path / "sweep.json", tmp_path / "sweep.md"
    with MockProcess(MockConfig(ttft_ms=60, itl_ms=2, tokens=4, capacity=2)) as mock:
        done = run_cli(
            "--base-url", mock.base_url, "-c", "1,8", "-n", "16", "--markdown", str(md),
            "--goodput", "ttft<150ms", "--fail-if", "good_fraction>=90%", "--json", str(out),
        )  # fmt: skip
    assert done.code == 0, done.stderr
    data = json.loads(out.read_text())
    fractions = [level["goodput"]["fraction"] for level in data["levels"]]
    assert fractions[0] == 1.0 and fractions[1] < 0.9
    # the sweep table has a goodput column (good requests/s) after req/s
    goodputs = [level["goodput"]["per_s"] for level in data["levels"]]
    table = done.stdout.splitlines()
    head = next(line for line in table if line.startswith("level"))
    assert head.split()[:6] == ["level", "in", "flight", "req/s", "goodput", "out"]
    for label, per_s in zip(("c=1", "c=8"), goodputs, strict=True):
        row = next(line for line in table if line.startswith(label + " "))
        assert row.split()[3] == f"{per_s:.2f}"  # after the level, in flight and req/s
    assert "| level | in flight | req/s | goodput | out tok/s |" in md.read_text()
    assert data["capacity_under_slo"]["label"] == "c=1"
    assert data["capacity_under_slo"]["goodput_per_s"] > 0
