"""results/calibration.py: each clock's error against a truth line, the statistics, the
verdict rule and the flags it suggests, the replayed shape, the truth log read back; and the
gate's client_error grammar."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llmbench_async.errors import ConfigError
from llmbench_async.records import RequestRecord
from llmbench_async.results.calibration import (
    CLOCKS,
    MAX_TTFT_MS,
    ClientError,
    Replay,
    clock_errors,
    measure,
    read_truth,
    replay_of_summary,
    replay_requests,
)
from llmbench_async.results.calibration import (
    judge as verdict_of,
)
from llmbench_async.results.gate import ThresholdError, judge, parse_threshold
from llmbench_async.results.stats import summarize

MS = 1_000_000


def _truth(rid: str, arrived: float, received: float, first: float, last: float) -> dict[str, Any]:
    """A truth-log line; instants in seconds on CLOCK_MONOTONIC."""
    return {
        "id": rid,
        "status": 200,
        "monotonic": {
            "arrived": arrived,
            "received": received,
            "headers_sent": received,
            "first_token": first,
            "last_token": last,
        },
    }


def _record(rid: str, send_ms: float, first_ms: float, last_ms: float, **kw: Any) -> RequestRecord:
    base = 1000 * 1000 * MS  # 1000 s on the monotonic clock
    send = base + int(send_ms * MS)
    return RequestRecord(
        index=0,
        scheduled_ns=send - 2 * MS,
        send_ns=send,
        headers_ns=send + int(1 * MS),
        first_token_ns=base + int(first_ms * MS),
        last_token_ns=base + int(last_ms * MS),
        end_ns=base + int(last_ms * MS),
        response_id=rid,
        **kw,
    )


def test_each_clock_is_ours_minus_the_truth_from_the_kernel_arrival() -> None:
    # sent at 0; reached the mock at 3 ms (kernel); its loop read it at 5 ms; first token
    # written at 105 ms, last at 205 ms; we saw them at 107 and 206 ms
    r = _record("a", 0, 107, 206)
    t = _truth("a", 1000.003, 1000.005, 1000.105, 1000.205)
    err = clock_errors(r, t)
    assert err["ttft"] == pytest.approx(107 - (105 - 3), abs=1e-6)
    assert err["e2e"] == pytest.approx(206 - (205 - 3), abs=1e-6)
    assert err["token_span"] == pytest.approx((206 - 107) - (205 - 105), abs=1e-6)
    assert err["queue_delay"] == pytest.approx(2.0)
    assert err["reached_server"] == pytest.approx(3.0, abs=1e-6)
    assert err["server_read"] == pytest.approx(2.0, abs=1e-6)  # the mock's lateness: not ours
    assert err["first_token_late"] == pytest.approx(2.0, abs=1e-6)
    assert err["end_late"] == pytest.approx(1.0, abs=1e-6)
    assert err["headers"] == pytest.approx(1 - (5 - 3), abs=1e-6)


def test_latency_from_schedule_counts_the_queue_delay_as_error() -> None:
    r = _record("a", 0, 107, 206)
    t = _truth("a", 1000.003, 1000.005, 1000.105, 1000.205)
    plain, scheduled = clock_errors(r, t), clock_errors(r, t, from_schedule=True)
    assert scheduled["ttft"] == pytest.approx(plain["ttft"] + 2.0, abs=1e-6)
    assert scheduled["e2e"] == pytest.approx(plain["e2e"] + 2.0, abs=1e-6)
    assert scheduled["reached_server"] == pytest.approx(plain["reached_server"])


def test_a_log_without_kernel_arrival_starts_at_the_read_and_offsets_line_up_files() -> None:
    t = _truth("a", 1000.003, 1000.005, 1000.105, 1000.205)
    t["monotonic"]["arrived"] = None
    err = clock_errors(_record("a", 0, 107, 206), t)
    assert err["ttft"] == pytest.approx(107 - (105 - 5), abs=1e-6)
    # a results file's instants are relative to its t0: the offset puts them back
    rel = _record("a", 0, 107, 206)
    t0 = 500 * 1000 * MS
    shifted = replace(
        rel,
        send_ns=rel.send_ns - t0,
        scheduled_ns=rel.scheduled_ns - t0,
        first_token_ns=(rel.first_token_ns or 0) - t0,
        last_token_ns=(rel.last_token_ns or 0) - t0,
        end_ns=rel.end_ns - t0,
        headers_ns=(rel.headers_ns or 0) - t0,
    )
    assert clock_errors(shifted, t, t0) == pytest.approx(clock_errors(rel, t))


def test_a_truth_line_lacking_instants_yields_only_the_clocks_it_can() -> None:
    r = _record("a", 0, 107, 206)
    assert set(clock_errors(r, {"id": "a"})) == {"queue_delay"}
    partial = {"monotonic": {"arrived": 1000.003, "first_token": "x", "last_token": 1e400}}
    assert set(clock_errors(r, partial)) == {"queue_delay", "reached_server"}


def _client_error(delay_ms: float, n: int = 20, **replay: Any) -> ClientError:
    records, truth = [], {}
    for i in range(n):
        rid = f"r{i}"
        start = i * 10.0
        records.append(_record(rid, start, start + 100 + delay_ms, start + 200 + delay_ms))
        s = 1000 + start / 1000
        truth[rid] = _truth(rid, s, s, s + 0.1, s + 0.2)
    records.append(_record("unknown", 0, 100, 200))  # no truth line
    records.append(replace(_record("r0", 0, 100, 200), warmup=True))  # not measured
    records.append(replace(_record("r1", 0, 100, 200), error_kind="timeout"))  # failed
    shape = Replay(**{"ttft_ms": 100.0, "itl_ms": 1.0, "tokens": 101, **replay})
    lag = {"loop_lag_ms": {"p50": 1.0, "p99": 50.0, "max": 60.0}, "cpu_percent": 30.0}
    return measure(records, truth, shape, lag, workers=1, cpus=2)


def test_measure_matches_by_response_id_and_judges_by_one_percent() -> None:
    err = _client_error(0.0)
    assert (err.matched, err.unmatched) == (20, 1)
    assert err.value("ttft", "p99") == pytest.approx(0.0, abs=1e-6)
    assert err.fine and "fine for latencies above" in err.verdict and not err.suggestions
    late = _client_error(7.0)  # 7 ms is over 1 % of the 100 ms TTFT replayed
    assert late.value("ttft", "p50") == pytest.approx(7.0, abs=1e-6)
    assert late.value("e2e", "max") == pytest.approx(7.0, abs=1e-6)
    assert late.value("ttft", "p99.9") == pytest.approx(7.0, abs=1e-6)
    assert late.value("ttft", "stdev") == pytest.approx(0.0, abs=1e-6)
    assert not late.fine and "too high" in late.verdict and "~700 ms" in late.verdict
    assert late.suggestions[0] == "--workers 2"  # a core is left, and the loop was busy
    assert "lower -c" in late.verdict
    doc = late.to_json()
    assert set(doc["clocks"]) == set(CLOCKS)
    assert doc["clocks"]["ttft"]["count"] == 20 and doc["fine"] is False
    assert doc["replayed"] == {"ttft_ms": 100.0, "itl_ms": 1.0, "tokens": 101, "from": "flags"}
    json.dumps(doc, allow_nan=False)  # plain finite JSON


def test_first_wave_and_the_rest_apart_in_a_closed_loop() -> None:
    records, truth = [], {}
    for i in range(12):
        late = 30.0 if i < 4 else 0.0  # the first wave (C = 4) seen 30 ms late
        rid = f"r{i}"
        records.append(_record(rid, i * 10.0, i * 10.0 + 100 + late, i * 10.0 + 200 + late))
        s = 1000 + i / 100
        truth[rid] = _truth(rid, s, s, s + 0.1, s + 0.2)
    err = measure(reversed(records), truth, Replay(100, 1, 101), {}, first_wave=4)
    waves = err.to_json()["waves"]
    assert waves["first_wave"]["ttft"]["count"] == 4 and waves["rest"]["e2e"]["count"] == 8
    assert waves["first_wave"]["ttft"]["p50"] == pytest.approx(30.0, abs=1e-6)
    assert waves["rest"]["ttft"]["max"] == pytest.approx(0.0, abs=1e-6)
    assert measure(records, truth, Replay(100, 1, 101), {}).to_json()["waves"] is None


def test_verdict_without_a_ttft_uses_the_e2e_and_says_when_nothing_matched() -> None:
    assert _client_error(0.5, ttft_ms=0.0).fine  # 0.5 ms of a 100 ms E2E
    nothing = measure([], {}, Replay(10, 1, 4), {})
    assert not nothing.fine and "no request" in nothing.verdict
    assert nothing.value("ttft", "p99") is None and nothing.to_json()["clocks"]["ttft"] is None


def test_suggestions_when_every_core_already_has_a_worker() -> None:
    late = replace(_client_error(9.0), workers=2)
    fine, line, hints = verdict_of(late, cpus=2)
    assert "--workers" not in line
    assert not fine and hints == (
        "a lower -c / --rate per process (or the client on a machine of its own)",
    )


def test_replay_takes_the_targets_medians_capped() -> None:
    recs = [
        RequestRecord(
            index=i,
            scheduled_ns=0,
            send_ns=0,
            first_token_ns=30 * MS,
            last_token_ns=60 * MS,
            end_ns=60 * MS,
            token_gaps_ns=(10 * MS, 10 * MS, 10 * MS),
            output_tokens=4,
            output_events=4,
            token_source="usage",
        )
        for i in range(5)
    ]
    shape = replay_of_summary(summarize(recs), max_tokens=128)
    assert shape == Replay(ttft_ms=30.0, itl_ms=10.0, tokens=4, source="target")
    assert "the target's medians" in shape.text()
    slow = [replace(r, first_token_ns=10_000 * MS, end_ns=10_030 * MS) for r in recs]
    capped = replay_of_summary(summarize(slow), max_tokens=2)
    assert capped is not None and capped.ttft_ms == MAX_TTFT_MS and capped.tokens == 2
    whole = [replace(r, first_token_ns=None, last_token_ns=None, token_gaps_ns=()) for r in recs]
    assert replay_of_summary(summarize(whole), max_tokens=128) == Replay(60.0, 0.0, 4, "target")
    failed = [replace(r, error_kind="timeout") for r in recs]
    assert replay_of_summary(summarize(failed), max_tokens=128) is None


def test_replay_requests_is_four_waves_or_ten_seconds_within_the_run() -> None:
    assert replay_requests(8, None, None, measured=1000) == 40  # at least 40
    assert replay_requests(64, None, None, measured=1000) == 256
    assert replay_requests(64, None, None, measured=100) == 100  # no more than the run
    assert replay_requests(1, 20.0, None, measured=0) == 200
    assert replay_requests(1, 2.0, 50, measured=10_000) == 200


def test_read_truth_keeps_answered_lines_by_id_and_skips_a_cut_line(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    lines = [
        json.dumps(_truth("a", 1.0, 1.0, 1.1, 1.2)),
        json.dumps({**_truth("b", 1.0, 1.0, 1.1, 1.2), "status": 500}),
        "",
        '{"id": "c", "status": 200, "monotonic": {"arrived": NaN}}',
        '{"id": "d", "sta',
    ]
    log.write_text("\n".join(lines))
    assert list(read_truth(log)) == ["a"]
    with pytest.raises(ConfigError, match="truth log"):
        read_truth(tmp_path)  # a directory


def test_gate_reads_client_error_and_refuses_unknown_clocks_and_stats() -> None:
    t = parse_threshold("client_error.ttft.p99<5ms")
    assert str(t) == "client_error.ttft.p99<5ms" and t.ref.unit == "ms"
    late = _client_error(7.0)
    records = [_record("a", 0, 100, 200)]
    summary = replace(summarize(records), client_error=late)
    (verdict,) = judge(summary, [t])
    assert not verdict.passed and verdict.observed == pytest.approx(7.0, abs=1e-6)
    (ok,) = judge(summary, [parse_threshold("client_error.e2e.max<0.01s")])
    assert ok.passed
    (none,) = judge(summarize(records), [t])  # no calibration: no data, which fails
    assert none.observed is None and not none.passed
    doc = {"client_error": late.to_json()}
    assert t.ref.definition.of_document(doc, "p99") == pytest.approx(7.0, abs=1e-6)
    for bad, reason in (
        ("client_error.ttfb.p99<5ms", "unknown clock 'ttfb'.*did you mean 'ttft'"),
        ("client_error.ttft.q9<5ms", "unknown statistic 'q9'"),
        ("client_error.ttft<5ms", "empty statistic"),
        ("client_error<5ms", "unknown clock ''"),
        ("client_error.ttft.p99<5%", "does not fit"),
    ):
        with pytest.raises(ThresholdError, match=reason):
            parse_threshold(bad)
