"""results/steady.py: --until-stable (its grammar, the rule, a run that stops early and
one that hits its maximum, closed and open loop) and the steady-state window (its bounds
on known records; beside the whole run with a ramp, in the JSON and from a saved file)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import StartMock, run_cli

from llmbench_async.errors import ConfigError
from llmbench_async.records import RequestRecord
from llmbench_async.results.steady import (
    Convergence,
    SteadyAcc,
    parse_until_stable,
    saved_convergence,
    steady_state,
    steady_target,
)

MS = 1_000_000


def test_until_stable_grammar() -> None:
    assert parse_until_stable(["ttft.p99:5%", "E2E.P50 : 2.5 %"]) == (
        ("ttft.p99", 0.05),
        ("e2e.p50", 0.025),
    )
    assert parse_until_stable(["time_to_first_token.p95:1%"]) == (("ttft.p95", 0.01),)


def test_until_stable_refuses_a_metric_the_api_never_has() -> None:
    with pytest.raises(ConfigError, match="embeddings answers have no tokens; use e2e"):
        parse_until_stable(["ttft.p50:5%"], "embeddings")
    assert parse_until_stable(["e2e.p50:5%"], "embeddings") == (("e2e.p50", 0.05),)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ttft.p99", "expected METRIC.pNN:PCT"),
        ("ttft.p99:5", "expected METRIC.pNN:PCT"),
        ("ttft.mean:5%", "give a percentile"),
        ("ttft.p99.upper:5%", "give a percentile"),
        ("error_rate:5%", "give a percentile"),
        ("tfft.p99:5%", "did you mean 'ttft'"),
        ("ttft.p99:0%", "above 0 %"),
        ("ttft.p99:100%", "below 100 %"),
        ("ttft.p99:nan%", "above 0 %"),
        ("ttft.p99:x%", "is not a percentage"),
    ],
)
def test_until_stable_refuses_bad_text(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=r"^--until-stable ") as caught:
        parse_until_stable([text])
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_convergence_rule_on_known_samples() -> None:
    samples: dict[str, list[float]] = {"ttft_ms": []}
    check = Convergence((("ttft.p50", 0.04),), samples.__getitem__, lambda: 0)
    assert not check.check()  # no sample
    samples["ttft_ms"] = [100.0 + i for i in range(20)]  # p50 109.5, interval [105, 114]
    assert not check.check()  # its half-width, 4.5, is 4.1 % of 109.5: not within 4 %
    assert check.widths["ttft.p50"] == pytest.approx(4.5 / 109.5)
    assert check.to_json()["converged"] is False and check.checks == 2
    tight = Convergence((("ttft.p50", 0.05),), samples.__getitem__, lambda: 0)
    assert tight.check() and tight.requests == 20  # 4.1 % <= 5 %
    assert tight.to_json()["converged"] and tight.to_json()["targets"] == {"ttft.p50": 5.0}
    p99 = Convergence((("ttft.p99", 0.5),), samples.__getitem__, lambda: 0)
    assert not p99.check() and p99.widths["ttft.p99"] is None  # open: 20 samples
    assert p99.to_json()["relative_half_width_pct"] == {"ttft.p99": None}


def _rec(i: int, send_ms: float, end_ms: float, **kw: object) -> RequestRecord:
    send, end = int(send_ms * MS), int(end_ms * MS)
    return RequestRecord(
        index=i,
        scheduled_ns=send,
        send_ns=send,
        end_ns=end,
        headers_ns=send,
        first_token_ns=send + 10 * MS,
        last_token_ns=end,
        output_events=2,
        output_tokens=2,
        token_source="usage",
        status=200,
        **kw,  # type: ignore[arg-type]
    )


def test_steady_window_from_known_records() -> None:
    """Two slots: the second starts 50 ms late, so two are in flight from 50 ms; the last
    request is due at 300 ms. Requests due inside [50, 300] ms count."""
    acc = SteadyAcc()
    for r in (
        _rec(0, 0, 100, ramp=True),
        _rec(1, 50, 150),
        _rec(2, 100, 200),
        _rec(3, 150, 250),
        _rec(4, 200, 300),
        _rec(5, 250, 350),
        _rec(6, 300, 400),
    ):
        acc.add(r)
    found = steady_state(acc, 2)
    assert found["window"] == {"start_s": 0.0, "end_s": 0.25, "duration_s": 0.25}
    assert (found["requests"], found["ok"]) == (6, 6)
    # completions inside [50, 300] ms: the requests ending at 150, 200, 250 and 300 ms
    assert found["requests_per_s"] == pytest.approx(4 / 0.25)
    assert found["metrics"]["ttft_ms"]["p50"] == pytest.approx(10.0)
    assert steady_state(acc, 3)["reason"] == "requests in flight never reached 3"
    assert steady_state(acc, None)["window"]["start_s"] == 0.0  # open loop: first arrival
    assert steady_state(SteadyAcc(), 2)["reason"] == "no measured request"


def test_steady_target_from_config() -> None:
    assert steady_target({"concurrency": 8, "n": 100}) == 8
    assert steady_target({"concurrency": 8, "n": 3, "warmup_requests": 2}) == 5
    assert steady_target({"concurrency": 8, "n": None}) == 8
    assert steady_target({"concurrency": 1, "rate": 5.0}) is None
    assert steady_target({}) is None


@pytest.fixture(scope="module")
def jittery(shared_mocks: StartMock) -> str:
    """A fast mock whose TTFT varies (20 ± 2 ms), so a p99 takes a few hundred samples."""
    return shared_mocks(ttft_ms=20, itl_ms=1, tokens=4, jitter_ms=2, seed=5).base_url


@pytest.mark.parametrize("load", [("-c", "16"), ("--rate", "400", "--max-concurrency", "32")])
def test_until_stable_ends_the_run_early(jittery: str, tmp_path: Path, load: tuple[str]) -> None:
    """A 60 s run that converges in a few seconds (the p99 of a few hundred samples within
    20 %): it stops early, says so, and still counts every request it finished."""
    out, results = tmp_path / "s.json", tmp_path / "r.jsonl"
    began = time.monotonic()
    res = run_cli(
        *("--base-url", jittery, *load, "--duration", "60s", "--window", "200ms"),
        *("--until-stable", "ttft.p99:20%", "--until-stable", "e2e.p50:5%"),
        *("--json", str(out), "-o", str(results)),
        timeout=50,
    )
    took = time.monotonic() - began
    assert res.code == 0, res
    assert took < 40, took  # far below the 60 s maximum, even on a loaded machine
    doc = json.loads(out.read_text())
    conv = doc["convergence"]
    assert conv["converged"] is True and 0 < conv["at_s"] < 40
    assert conv["targets"] == {"ttft.p99": 20.0, "e2e.p50": 5.0}
    assert all(
        0 < w <= goal
        for w, goal in zip(
            conv["relative_half_width_pct"].values(), conv["targets"].values(), strict=True
        )
    )
    assert conv["samples"] >= 368  # a closed p99 interval needs 368 samples
    assert doc["requests"]["total"] >= conv["samples"] and doc["requests"]["failed"] == 0
    assert "Converged (--until-stable) after" in res.stdout
    # the saved run says the same when reported again
    again = run_cli("report", str(results))
    assert again.code == 0 and "Converged (--until-stable) after" in again.stdout


def test_until_stable_not_reached_ends_at_the_count(jittery: str, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    res = run_cli(
        *("--base-url", jittery, "-c", "4", "-n", "24", "--window", "100ms"),
        *("--until-stable", "ttft.p99:1%", "--json", str(out)),
    )
    assert res.code == 0, res
    conv = json.loads(out.read_text())["convergence"]
    assert conv["converged"] is False and conv["at_s"] is None
    assert conv["relative_half_width_pct"] == {"ttft.p99": None}  # 24 samples: open
    assert "Not converged (--until-stable): the run hit its --duration / --n" in res.stdout
    assert json.loads(out.read_text())["requests"]["total"] == 24


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--until-stable", "ttft.p99"), "--until-stable 'ttft.p99': expected METRIC.pNN:PCT"),
        (("--until-stable", "ttft.p99:5%", "--workers", "2"), "needs a single-process run"),
    ],
)
def test_until_stable_usage_errors(jittery: str, extra: tuple[str, ...], says: str) -> None:
    res = run_cli("--base-url", jittery, "-n", "4", "-c", "2", *extra)
    assert res.code == 2 and res.stderr.count("\n") == 1, res
    assert says in res.stderr and "Traceback" not in res.stderr


def test_steady_state_beside_the_whole_run_with_a_ramp(jittery: str, tmp_path: Path) -> None:
    """Concurrency 8 reached through a 0.3 s ramp: the window starts once the ramp is over
    and eight are in flight, ends at the last request due, and has its own figures."""
    out, results = tmp_path / "s.json", tmp_path / "r.jsonl"
    res = run_cli(
        *("--base-url", jittery, "-c", "8", "--duration", "1s", "--ramp-up", "300ms"),
        *("--json", str(out), "-o", str(results)),
    )
    assert res.code == 0, res
    doc = json.loads(out.read_text())
    steady = doc["steady_state"]
    assert steady["target_in_flight"] == 8 and steady["reason"] is None
    window = steady["window"]
    # offsets from the first measured due instant; the run's duration counts from its first
    # send (a queue delay later) to its last end (an E2E after the last due instant)
    assert 0 <= window["start_s"] < window["end_s"] <= doc["duration_s"] + 0.5
    assert 0 < steady["requests"] <= doc["requests"]["total"]
    assert doc["requests"]["ramp"] > 0  # the ramp's requests are in neither
    for key in ("ttft_ms", "e2e_ms", "tpot_ms"):
        whole, own = doc["metrics"][key], steady["metrics"][key]
        assert own["count"] <= whole["count"] and whole["min"] <= own["p50"] <= whole["max"]
    assert steady["requests_per_s"] > 0
    assert "Steady state (8 in flight): " in res.stdout and "steady p99" in res.stdout
    # the saved run gives the same window when reported again
    again = run_cli("report", str(results), "--json", str(tmp_path / "again.json"))
    assert again.code == 0, again
    assert json.loads((tmp_path / "again.json").read_text())["steady_state"] == steady


def test_open_loop_steady_state_is_every_measured_arrival(jittery: str, tmp_path: Path) -> None:
    """An open loop's target is its rate: the window runs from the first measured arrival to
    the last, so it holds every measured request, the last one (sent a little after it was
    due) included."""
    out = tmp_path / "s.json"
    res = run_cli(
        *("--base-url", jittery, "--rate", "40", "--arrival", "constant"),
        *("--duration", "1s", "--json", str(out), "-q"),
    )
    assert res.code == 0, res
    doc = json.loads(out.read_text())
    steady = doc["steady_state"]
    assert steady["target_in_flight"] is None and steady["window"]["start_s"] == 0.0
    assert steady["requests"] == doc["requests"]["total"] > 30
    assert steady["window"]["end_s"] == pytest.approx(39 / 40, abs=0.05)  # 40 arrivals in 1 s


def test_saved_convergence_keeps_only_its_shape() -> None:
    """A results file's footer is outside data: only the expected fields come back, text
    capped, at most 20 targets, anything odd as null."""
    hostile = {
        "converged": True,
        "at_s": "soon",
        "samples": 1.5,
        "checks": True,
        "targets": {f"t{i}" + "x" * 500: i for i in range(100)},
        "relative_half_width_pct": {"ttft.p99": [1], "e2e.p50": 2},
        "extra": {"deep": "data"},
    }
    found = saved_convergence(hostile)
    assert found is not None and set(found) == {
        "targets", "converged", "at_s", "samples", "relative_half_width_pct", "checks"
    }  # fmt: skip
    assert (found["at_s"], found["samples"], found["checks"]) == (None, None, None)
    assert len(found["targets"]) == 20 and all(len(k) == 100 for k in found["targets"])
    assert found["relative_half_width_pct"] == {"ttft.p99": None, "e2e.p50": 2.0}
    assert saved_convergence({"converged": "yes"}) is None
    assert saved_convergence(None) is None and saved_convergence([1]) is None


def test_report_of_a_tampered_footer_stays_one_screen(jittery: str, tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    res = run_cli("--base-url", jittery, "-n", "8", "-c", "2", "-q", "-o", str(results))
    assert res.code == 0, res
    lines = results.read_text().splitlines()
    footer = json.loads(lines[-1])
    footer["convergence"] = {
        "converged": False,
        "targets": {"\x1b[2Jttft.p99": 5},
        "relative_half_width_pct": {"\x1b[2Jttft.p99": 1e308},
    }
    results.write_text("\n".join([*lines[:-1], json.dumps(footer)]) + "\n")
    again = run_cli("report", str(results))
    assert again.code == 0, again
    line = next(x for x in again.stdout.splitlines() if x.startswith("Not converged"))
    assert "\x1b" not in again.stdout and "ttft.p99 open" in line  # 1e308 %: not a figure
