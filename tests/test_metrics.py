"""The metric table: every metric in it is reachable from the threshold grammar, the
report and compare, and they all agree with it on names, units and directions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_gate import MS, _failed, _rec  # the same known records

from llmbench_async.compare import ComparedRun, compare, parse_tolerances
from llmbench_async.gate import check, parse_metric_ref
from llmbench_async.metrics import METRICS, PER_REQUEST, RUN_LEVEL, SUMMARY_KEYS, Metric
from llmbench_async.records import RequestRecord
from llmbench_async.report import RunInfo, console_report, summary_json
from llmbench_async.stats import Summary, summarize


def _records(n: int, ttft_ms: int) -> list[RequestRecord]:
    """One failure (after one retry on a 429), then n - 1 successes sent 2 ms after they
    were due, the first 4 on new connections (1 ms to connect)."""
    ok = [_rec(i, ttft_ms=ttft_ms, e2e_ms=ttft_ms + 40, tokens=5) for i in range(1, n)]
    due = [
        replace(
            r,
            scheduled_ns=r.send_ns - 2 * MS,
            first_content_ns=r.first_token_ns,
            new_connection=r.index <= 4,
            connect_ns=MS if r.index <= 4 else 0,
        )
        for r in ok
    ]
    # and one answer of each kind that is not a success: cut short, and from another model
    cut = replace(_failed(n), error_kind="incomplete", status=200)
    other = replace(_failed(n + 1), error_kind="wrong_model", status=200, model="other")
    return [replace(_failed(0), attempts=2, retry_causes=("http_429",)), *due, cut, other]


def _summary(ttft_ms: int = 100) -> Summary:
    return summarize(_records(40, ttft_ms))


def _ref(metric: Metric) -> str:
    return f"{metric.name}.p95" if metric.per_request else metric.name


def test_table_is_consistent() -> None:
    assert len({(m.name, m.per_request) for m in METRICS}) == len(METRICS)
    assert tuple(m.key for m in PER_REQUEST) == SUMMARY_KEYS
    aliases = [a for m in METRICS for a in m.aliases]
    names = {m.name for m in METRICS}
    assert not names & set(aliases)
    for m in METRICS:
        assert m.unit in ("ms", "tok/s", "req/s", "%", "inputs/s")  # inputs/s: embeddings
        assert m.label and m.description


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: _ref(m))
def test_every_metric_is_reachable_from_the_gate_grammar(metric: Metric) -> None:
    ref = parse_metric_ref(_ref(metric))
    assert ref.definition == metric
    assert ref.unit == metric.unit
    assert ref.higher_is_better == metric.higher_is_better
    for alias in metric.aliases:
        expression = f"{alias}.p95" if metric.per_request else alias
        assert parse_metric_ref(expression).definition == metric
    op = ">=" if metric.higher_is_better else "<="
    (verdict,) = check(_summary(), [f"{_ref(metric)}{op}0"])
    assert verdict.observed is not None
    assert verdict.passed is metric.higher_is_better  # x >= 0 holds; x <= 0 fails for x > 0


@pytest.mark.parametrize("metric", PER_REQUEST, ids=lambda m: m.key)
def test_every_per_request_metric_is_in_the_report(metric: Metric) -> None:
    summary = _summary()
    info = RunInfo(
        tool_version="t", endpoint="http://127.0.0.1:1/v1", model="m", settings="", started_at=""
    )
    document = summary_json(summary, info)
    assert metric.key in document["metrics"]
    text = console_report(summary, info, width=120)
    if metric.key != "ttfc_ms":  # TTFC is shown only when it differs from TTFT
        assert metric.label in text


@pytest.mark.parametrize("metric", RUN_LEVEL, ids=lambda m: m.name)
def test_every_run_level_metric_is_in_the_summary_json(metric: Metric) -> None:
    info = RunInfo(
        tool_version="t", endpoint="http://127.0.0.1:1/v1", model="m", settings="", started_at=""
    )
    document = summary_json(_summary(), info)
    keys = {*document["throughput"], "error_rate", *document}  # retry_rate: top level
    assert metric.key in keys


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: _ref(m))
def test_every_metric_is_reachable_from_compare(metric: Metric, tmp_path: Path) -> None:
    def side(name: str, ttft_ms: int) -> ComparedRun:
        summary = _summary(ttft_ms)
        return ComparedRun(
            path=str(tmp_path / name),
            kind="results",
            total=summary.total,
            ok=summary.ok,
            model="m",
            endpoint="http://127.0.0.1:1/v1",
            started_at="",
            summary=summary,
        )

    base, new = side("a", 100), side("b", 200)
    comparison = compare(base, new, parse_tolerances([f"{_ref(metric)}=1000%"]))
    (row,) = [r for r in comparison.rows if str(r.ref) == _ref(metric)]
    assert row.base is not None and row.new is not None
    if metric.name in ("ttft", "e2e", "ttfc"):
        assert row.direction == "worse"  # TTFT doubled: a latency got worse
