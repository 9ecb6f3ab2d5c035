"""Comparing two runs from saved files: detection, changes, directions and tolerances."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from llmbench_async.config import ConfigError
from llmbench_async.records import RequestRecord
from llmbench_async.report.compare import comparison_report
from llmbench_async.report.summary import RunInfo, summary_json
from llmbench_async.results.compare import (
    KEY_METRICS,
    MIN_REQUESTS,
    SAME_PERCENT,
    ComparedRun,
    SweepData,
    Tolerances,
    compare,
    compare_sweeps,
    load,
    load_run,
    parse_tolerances,
)
from llmbench_async.results.gate import MetricRef
from llmbench_async.results.stats import summarize
from llmbench_async.session.results_file import ResultsWriter

MS = 1_000_000


def _records(n: int, ttft_ms: float, *, failures: int = 0) -> list[RequestRecord]:
    """n sequential requests (one every 300 ms), TTFT ttft_ms + i/10, 8 tokens 5 ms apart."""
    out = []
    for i in range(n):
        send = i * 300 * MS
        first = send + int((ttft_ms + i / 10) * MS)
        failed = i < failures
        out.append(
            RequestRecord(
                index=i,
                scheduled_ns=send,
                send_ns=send,
                end_ns=first + 35 * MS,
                headers_ns=None if failed else send,
                first_token_ns=None if failed else first,
                last_token_ns=None if failed else first + 35 * MS,
                token_gaps_ns=() if failed else (5 * MS,) * 7,
                output_events=0 if failed else 8,
                output_tokens=None if failed else 8,
                token_source="none" if failed else "usage",
                status=500 if failed else 200,
                error_kind="http_5xx" if failed else None,
                error_message="boom" if failed else None,
            )
        )
    return out


def _results_file(path: Path, records: list[RequestRecord]) -> Path:
    header = {"config": {"base_url": "http://h/v1", "model": "m", "api": "chat"}}
    writer = ResultsWriter(path, header, 0)
    for record in records:
        writer.write(record)
    writer.write_footer({"interrupted_by": None, "cancelled": 0})
    writer.close()
    return path


def _info(config: dict[str, object] | None = None) -> RunInfo:
    return RunInfo(
        tool_version="t",
        endpoint="http://h/v1/chat/completions",
        model="m",
        settings="",
        started_at="s",
        config=config or {},
    )


def _summary_file(path: Path, records: list[RequestRecord]) -> Path:
    path.write_text(json.dumps(summary_json(summarize(records), _info())))
    return path


def test_tolerance_grammar() -> None:
    tol = parse_tolerances(["10%", "ttft.p95=15%", "error_rate = 0.5%"])
    assert tol.default == 10.0
    assert tol.per_metric == {MetricRef("ttft", "p95"): 15.0, MetricRef("error_rate", None): 0.5}
    assert tol.for_metric(MetricRef("ttft", "p95")) == 15.0
    assert tol.for_metric(MetricRef("e2e", "p50")) == 10.0
    assert parse_tolerances([]) == Tolerances()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10", "--max-regression '10': expected a percentage like 10% or METRIC.STAT=PERCENT"),
        ("ten%", "--max-regression 'ten%': expected a percentage of 0 or more, like 10%"),
        ("-5%", "--max-regression '-5%': expected a percentage of 0 or more, like 10%"),
        ("ttft=5%", "--max-regression 'ttft=5%': ttft needs a statistic, e.g. ttft.p95; "),
        ("foo.p50=5%", "--max-regression 'foo.p50=5%': unknown metric 'foo'; "),
    ],
)
def test_tolerance_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tolerances([text])
    assert str(caught.value).startswith(message)


def test_tolerance_given_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="already given"):
        parse_tolerances(["10%", "5%"])
    with pytest.raises(ConfigError, match=r"ttft\.p95 was already given"):
        parse_tolerances(["ttft.p95=5%", "ttft.p95.0=6%"])


def test_same_run_compares_equal_and_passes(tmp_path: Path) -> None:
    records = _records(40, 50)
    jsonl = load_run(_results_file(tmp_path / "a.jsonl", records))
    summary = load_run(_summary_file(tmp_path / "a.json", records))
    assert (jsonl.kind, summary.kind) == ("results", "summary")
    for other in (jsonl, summary):  # JSONL vs itself, and JSONL vs its own summary JSON
        result = compare(jsonl, other, Tolerances(default=0.0))
        assert [row.ref for row in result.rows] == list(KEY_METRICS)
        assert all(row.direction == "same" and row.change == 0.0 for row in result.rows)
        assert not result.regressions and not result.too_few_samples and result.judged


def test_slower_new_run_is_flagged(tmp_path: Path) -> None:
    base = load_run(_results_file(tmp_path / "a.jsonl", _records(40, 50)))
    new = load_run(_results_file(tmp_path / "b.jsonl", _records(40, 80)))
    result = compare(base, new, parse_tolerances(["10%", "ttft.p99=100%", "e2e.p90=50%"]))
    rows = {str(row.ref): row for row in result.rows}
    ttft = rows["ttft.p50"]
    assert ttft.direction == "worse" and ttft.change == pytest.approx(30 / 51.95 * 100)
    assert ttft.regressed and ttft.tolerance == 10.0
    assert not rows["ttft.p99"].regressed and rows["ttft.p99"].tolerance == 100.0
    assert "e2e.p90" in rows  # a metric with its own tolerance joins the table
    assert rows["itl.p50"].direction == "same" and not rows["itl.p50"].regressed
    assert rows["error_rate"].change == 0.0 and rows["error_rate"].change_unit == "pt"
    assert {str(r.ref) for r in result.regressions} >= {"ttft.p50", "e2e.p50"}
    # the p95 of 40 samples has no upper bound at 95 %: within noise, though 30 ms later
    assert rows["ttft.p95"].direction == "same" and rows["ttft.p95"].within_noise
    # the other way round NEW is faster: better, and no regression
    reverse = compare(new, base, parse_tolerances(["10%"]))
    assert {str(r.ref): r.direction for r in reverse.rows}["ttft.p50"] == "better"
    assert not [r for r in reverse.regressions if r.ref.metric == "ttft"]


def test_throughput_higher_is_better_and_error_rate_in_points(tmp_path: Path) -> None:
    base = load_run(_results_file(tmp_path / "a.jsonl", _records(40, 50)))
    new = load_run(_results_file(tmp_path / "b.jsonl", _records(40, 50, failures=4)))
    result = compare(base, new, parse_tolerances(["10%", "error_rate=5%"]))
    rows = {str(row.ref): row for row in result.rows}
    rps = rows["requests_per_s"]  # 36 ok instead of 40 over the same time: -10 %
    assert rps.direction == "worse" and rps.change == pytest.approx(-10.0, abs=0.5)
    errors = rows["error_rate"]
    assert errors.change == pytest.approx(10.0) and errors.change_unit == "pt"
    assert errors.direction == "worse" and errors.regressed and errors.tolerance == 5.0


def test_lost_data_is_a_regression_only_when_judged(tmp_path: Path) -> None:
    base = load_run(_results_file(tmp_path / "a.jsonl", _records(40, 50)))
    new = load_run(_results_file(tmp_path / "b.jsonl", _records(40, 50, failures=40)))
    rows = {str(r.ref): r for r in compare(base, new).rows}
    assert rows["ttft.p50"].new is None and rows["ttft.p50"].direction == "worse"
    assert not rows["ttft.p50"].regressed
    judged = {str(r.ref): r for r in compare(base, new, Tolerances(default=50.0)).rows}
    assert judged["ttft.p50"].regressed


def test_too_few_samples(tmp_path: Path) -> None:
    small = load_run(_results_file(tmp_path / "a.jsonl", _records(MIN_REQUESTS - 1, 50)))
    enough = load_run(_results_file(tmp_path / "b.jsonl", _records(MIN_REQUESTS, 50)))
    assert compare(small, enough).too_few_samples
    assert compare(enough, small).too_few_samples
    assert not compare(enough, enough).too_few_samples
    # still judged: a real regression fails even on a small sample (the report warns)
    slow = load_run(_results_file(tmp_path / "c.jsonl", _records(10, 200)))
    assert compare(small, slow, Tolerances(default=10.0)).regressions


def test_summary_json_holds_only_the_usual_statistics(tmp_path: Path) -> None:
    records = _records(40, 50)
    jsonl = load_run(_results_file(tmp_path / "a.jsonl", records))
    summary = load_run(_summary_file(tmp_path / "a.json", records))
    ref = MetricRef("ttft", "p99.9")
    assert jsonl.value(ref) is not None
    with pytest.raises(ConfigError, match=r"holds only mean, min, max, stdev, p50"):
        compare(jsonl, summary, parse_tolerances(["ttft.p99.9=5%"]))


def test_files_that_are_neither(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ConfigError, match="neither a results file"):
        load_run(other)
    with pytest.raises(ConfigError, match="cannot read"):
        load_run(tmp_path / "missing.jsonl")
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError):
        load_run(binary)


def _with_config(path: Path, records: list[RequestRecord], **config: object) -> ComparedRun:
    header = {"config": {"base_url": "http://h/v1", "model": "m", "api": "chat", **config}}
    writer = ResultsWriter(path, header, 0)
    for record in records:
        writer.write(record)
    writer.write_footer({"interrupted_by": None, "cancelled": 0})
    writer.close()
    return load_run(path)


def test_settings_that_differ_are_named_one_by_one(tmp_path: Path) -> None:
    records = _records(40, 50)
    base = _with_config(tmp_path / "a.jsonl", records, concurrency=8, max_tokens=128, prompt="hi")
    same = _with_config(tmp_path / "b.jsonl", records, concurrency=8, max_tokens=128, prompt="hi")
    assert compare(base, same).setting_diffs == ()
    other = _with_config(
        tmp_path / "c.jsonl",
        records,
        model="m2",
        api="completions",
        concurrency=2,
        max_tokens=64,
        input_tokens=[512, 0],
    )
    diffs = {d.name: d for d in compare(base, other).setting_diffs}
    assert list(diffs) == ["model", "API", "endpoint", "load", "max tokens", "prompt source"]
    assert str(diffs["load"]) == "load differs: BASE concurrency 8, NEW concurrency 2"
    assert str(diffs["API"]) == "API differs: BASE chat, NEW completions"
    assert diffs["prompt source"].new == "synthetic 512 tokens"
    rate = _with_config(tmp_path / "d.jsonl", records, rate=4, arrival="constant", max_tokens=128)
    assert {d.name: d.new for d in compare(base, rate).setting_diffs}["load"] == (
        "rate 4 req/s (constant)"
    )
    # the exit code the command line gives: 0 (warned), or 2 under --strict
    assert compare(base, other).exit_code() == 0
    assert compare(base, other).exit_code(strict=True) == 2
    assert compare(base, same).exit_code(strict=True) == 0


def test_input_length_measured_by_the_server_is_compared(tmp_path: Path) -> None:
    def with_input(n_tokens: int) -> list[RequestRecord]:
        return [replace(r, input_tokens=n_tokens) for r in _records(40, 50)]

    base = _with_config(tmp_path / "a.jsonl", with_input(100))
    near = _with_config(tmp_path / "b.jsonl", with_input(105))
    far = _with_config(tmp_path / "c.jsonl", with_input(300))
    assert compare(base, near).setting_diffs == ()
    (diff,) = compare(base, far).setting_diffs
    assert str(diff) == (
        "input length differs: BASE 100.0 tokens per request, NEW 300.0 tokens per request"
    )


def test_tiny_changes_are_same_never_worse(tmp_path: Path) -> None:
    base = load_run(_results_file(tmp_path / "a.jsonl", _records(40, 50)))
    # every TTFT 0.01 ms later: about +0.02 %, which would print as +0.0%
    shifted = [
        replace(r, first_token_ns=r.first_token_ns + 10_000) if r.first_token_ns else r
        for r in _records(40, 50)
    ]
    new = load_run(_results_file(tmp_path / "b.jsonl", shifted))
    result = compare(base, new, Tolerances(default=0.0))
    ttft = {str(r.ref): r for r in result.rows}["ttft.p50"]
    assert ttft.change is not None and 0 < ttft.change < SAME_PERCENT
    assert ttft.direction == "same" and not ttft.regressed and not result.regressions
    text = comparison_report(result)
    row = next(line for line in text.splitlines() if line.startswith("ttft.p50 "))
    assert " = " in row and "±0.0%" in row and "same" in row and "worse" not in row
    # a change of 0.7 ms (past the sub-millisecond rule, +1.4 %) is inside both runs' 95 %
    # intervals (the TTFTs spread over 4 ms): same, within noise; one past them is real
    bigger = [
        replace(r, first_token_ns=r.first_token_ns + 700_000) if r.first_token_ns else r
        for r in _records(40, 50)
    ]
    moved = compare(base, load_run(_results_file(tmp_path / "c.jsonl", bigger)))
    row = {str(r.ref): r for r in moved.rows}["ttft.p50"]
    assert (row.direction, row.within_noise) == ("same", True)
    assert row.change is not None and row.change > SAME_PERCENT
    far = [
        replace(r, first_token_ns=r.first_token_ns + 3 * MS) if r.first_token_ns else r
        for r in _records(40, 50)
    ]
    moved = compare(base, load_run(_results_file(tmp_path / "d.jsonl", far)))
    row = {str(r.ref): r for r in moved.rows}["ttft.p50"]
    assert (row.direction, row.within_noise) == ("worse", False)


def _sweep_file(path: Path, levels: dict[str, list[RequestRecord]]) -> Path:
    docs = []
    for label, records in levels.items():
        config = {"base_url": "http://h/v1", "api": "chat", "concurrency": int(label[2:])}
        doc = summary_json(summarize(records), _info(config))
        doc["level"] = {"label": label}
        docs.append(doc)
    path.write_text(json.dumps({"schema": "llmbench-async/sweep/v1", "levels": docs}))
    return path


def test_sweeps_compare_level_by_level(tmp_path: Path) -> None:
    base = load(
        _sweep_file(tmp_path / "a.json", {"c=1": _records(40, 50), "c=4": _records(40, 60)})
    )
    new = load(
        _sweep_file(
            tmp_path / "b.json",
            {"c=1": _records(40, 50), "c=4": _records(40, 90), "c=8": _records(40, 99)},
        )
    )
    assert isinstance(base, SweepData) and isinstance(new, SweepData)
    result = compare_sweeps(base, new, Tolerances(default=10.0))
    assert [label for label, _ in result.levels] == ["c=1", "c=4"]
    assert result.only_new == ("c=8",) and result.only_base == ()
    regressed = {label for label, _ in result.regressions}
    assert regressed == {"c=4"}  # c=1 is the same run
    assert [d.name for d in result.setting_diffs] == ["levels"]  # the load matched per level
    assert result.exit_code() == 1 and result.exit_code(strict=True) == 2
    with pytest.raises(ConfigError, match="is a sweep summary"):
        load_run(tmp_path / "a.json")
    lone = load(_sweep_file(tmp_path / "c.json", {"c=16": _records(40, 50)}))
    assert isinstance(lone, SweepData)
    with pytest.raises(ConfigError, match="share no level"):
        compare_sweeps(base, lone)


def test_a_sub_millisecond_move_is_same_even_from_zero(tmp_path: Path) -> None:
    """Token events read together have 0 ms gaps: a BASE whose ITL p50 is 0 ms and a NEW at
    0.3 ms is no regression (any change from 0 would be infinitely many percent), while a
    whole millisecond more is one."""
    coalesced = [replace(r, token_gaps_ns=(0,) * 7) for r in _records(40, 50)]
    base = load_run(_results_file(tmp_path / "a.jsonl", coalesced))
    slight = [replace(r, token_gaps_ns=(300_000,) * 7) for r in _records(40, 50)]
    result = compare(base, load_run(_results_file(tmp_path / "b.jsonl", slight)))
    itl = {str(r.ref): r for r in result.rows}["itl.p50"]
    assert (itl.base, itl.direction, itl.regressed) == (0.0, "same", False)
    assert not result.regressions
    worse = [replace(r, token_gaps_ns=(1_200_000,) * 7) for r in _records(40, 50)]
    result = compare(
        base, load_run(_results_file(tmp_path / "c.jsonl", worse)), Tolerances(default=10.0)
    )
    itl = {str(r.ref): r for r in result.rows}["itl.p50"]
    assert (itl.direction, itl.regressed) == ("worse", True)
