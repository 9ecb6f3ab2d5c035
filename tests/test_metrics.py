"""The metric table: every metric in it is reachable from the threshold grammar, the
report and compare, and they all agree with it on names, units and directions."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import StartMock, run_cli
from test_gate import MS, _failed, _rec  # the same known records

from llmbench_async.cli.results import saved_goodput
from llmbench_async.errors import ExitCode
from llmbench_async.metrics import (
    METRICS,
    PER_REQUEST,
    RETRIES,
    RETRY_CAUSES,
    RUN_LEVEL,
    STATS,
    SUMMARY_KEYS,
    Metric,
)
from llmbench_async.metrics import metric as metric_named
from llmbench_async.records import RequestRecord, read_results
from llmbench_async.report.summary import RunInfo, console_report, summary_json
from llmbench_async.results.compare import ComparedRun, compare, parse_tolerances
from llmbench_async.results.gate import MetricRef, check, observe, parse_metric_ref
from llmbench_async.results.stats import Summary, summarize

SERVER_SPLIT = {"source": "vllm", "queue_ms": 2.0, "prefill_ms": 50.0, "decode_ms": 30.0}


def _records(n: int, ttft_ms: int) -> list[RequestRecord]:
    """One failure (after one retry on a 429), then n - 1 successes sent 2 ms after they
    were due (handed on 1 ms after, as a trace replay's are), the first 4 on new
    connections (1 ms to connect), each body 500 bytes."""
    ok = [_rec(i, ttft_ms=ttft_ms, e2e_ms=ttft_ms + 40, tokens=5) for i in range(1, n)]
    due = [
        replace(
            r,
            scheduled_ns=r.send_ns - 2 * MS,
            dispatched_ns=r.send_ns - MS,
            first_content_ns=r.first_token_ns,
            new_connection=r.index <= 4,
            connect_ns=MS if r.index <= 4 else 0,
            # the new connections' set-up phases, a head 3 ms after the send, the server's
            # own split and its prefix-cache hits
            dns_ns=MS // 10 if r.index <= 4 else None,
            tcp_ns=MS // 2 if r.index <= 4 else None,
            tls_ns=MS // 4 if r.index <= 4 else None,
            headers_ns=r.send_ns + 3 * MS,
            server_timing=SERVER_SPLIT,
            input_tokens=20,
            cached_tokens=15,
            request_bytes=500,
        )
        for r in ok
    ]
    # and one answer of each kind that is not a success: cut short, from another model, and
    # with a tool call that breaks its schema
    cut = replace(_failed(n), error_kind="incomplete", status=200)
    other = replace(_failed(n + 1), error_kind="wrong_model", status=200, model="other")
    invalid = replace(_failed(n + 2), error_kind="invalid_output", status=200)
    first = replace(_failed(0), attempts=2, retry_causes=("http_429",))
    return [first, *due, cut, other, invalid]


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
        # inputs/s: embeddings; B: the request size
        assert m.unit in ("ms", "tok/s", "req/s", "%", "inputs/s", "B")
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
    # retry_rate: top level; cache_hit_rate: beside the server's own figures
    keys = {*document["throughput"], "error_rate", *document, *document["server_timing"]}
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
        # TTFT doubled: a latency got worse (the p95 of 40 samples has no upper bound, so
        # its change lies within noise; the median's does not)
        assert row.direction == "same" and row.within_noise
        median = parse_metric_ref(f"{metric.name}.p50")
        tolerance = parse_tolerances([f"{median}=1000%"])
        (row,) = [r for r in compare(base, new, tolerance).rows if r.ref == median]
        assert row.direction == "worse" and not row.within_noise


# runs whose saved files every metric is read back from: the built-in mock (`--mock`, cold
# connections in all, so `connect` has samples), a mock refusing half its requests with 429
# (one retry: about a quarter of the requests fail, never none in practice), and a trace
# replayed on that mock (the only run with a dispatch lag)
_SAVED_RUNS = {
    "mock": ("--mock", "--no-preconnect", "-n", "24", "-c", "6", "--max-tokens", "4"),
    "refusing": ("--no-preconnect", "--retries", "1", "-n", "30", "-c", "5", "--max-tokens", "4"),
    "trace": ("--no-preconnect", "--retries", "1", "--trace"),
}
# metrics only some saved runs produce (by default, every run does): the refusing mock (which
# also serves the trace replay) sends llama.cpp timings (no queue time); TLS is read back in
# tests/test_tls.py, vLLM's queue time in tests/test_servertiming.py; elsewhere both
# readings must say "none"
_PRODUCED_BY: dict[str, tuple[str, ...]] = {
    "tls": (),
    "server_queue": (),
    **dict.fromkeys(
        ("server_prefill", "server_decode", "network_client", "cache_hit_rate"),
        ("refusing", "trace"),
    ),
}
_TRACE_ONLY = ("dispatch_lag",)
_QUALIFIERS: dict[str, tuple[str | None, ...]] = {
    "retries": (None, *RETRY_CAUSES),
}


@pytest.fixture(scope="module")
def saved_runs(
    tmp_path_factory: pytest.TempPathFactory, shared_mocks: StartMock
) -> dict[str, tuple[Summary, Any]]:
    """Each run's Summary (rebuilt from its JSONL, as `report` does) and its summary JSON."""
    out = tmp_path_factory.mktemp("saved")
    mock = shared_mocks(
        ttft_ms=0, itl_ms=1, tokens=4, fail_rate=0.5, fail_status=429, seed=7, server_timings=True
    )
    runs = {}
    trace = out / "replayed.jsonl"
    trace.write_text(
        "".join(
            json.dumps({"timestamp": 5 * k, "input_length": 8, "output_length": 4}) + "\n"
            for k in range(30)
        )
    )
    for name, args in _SAVED_RUNS.items():
        target = () if name == "mock" else ("--base-url", mock.base_url, "--model", "mock-model")
        res = run_cli(
            *args,
            *((str(trace),) if name == "trace" else ()),
            *target,
            "--goodput",
            "ttft<10s,tpot<5s",
            "-o",
            str(out / f"{name}.jsonl"),
            "--json",
            str(out / f"{name}.json"),
            "-q",
        )
        assert res.code == 0, res.stderr
        saved = read_results(out / f"{name}.jsonl")
        summary = summarize(saved.records, good=saved_goodput(saved.header["config"]))
        runs[name] = (summary, json.loads((out / f"{name}.json").read_text()))
    return runs


@pytest.mark.parametrize("metric", (*METRICS, RETRIES), ids=lambda m: _ref(m))
def test_every_metric_reads_the_same_value_from_a_summary_and_its_saved_document(
    metric: Metric, saved_runs: dict[str, tuple[Summary, Any]]
) -> None:
    qualifiers = STATS if metric.per_request else _QUALIFIERS.get(metric.name, (None,))
    for name, (summary, document) in saved_runs.items():
        if metric.name in _TRACE_ONLY and name != "trace":  # no sample: no value, anywhere
            assert metric.of_summary(summary, "p50") is None
            assert metric.of_document(document, "p50") is None
            continue
        for qualifier in qualifiers:
            from_summary = metric.of_summary(summary, qualifier)
            from_document = metric.of_document(document, qualifier)
            if name not in _PRODUCED_BY.get(metric.name, (name,)):
                assert from_summary is None and from_document is None, (name, qualifier)
                continue
            assert from_summary is not None, (name, qualifier)
            assert from_document == pytest.approx(from_summary, rel=1e-12), (name, qualifier)
            ref = MetricRef(metric.name, qualifier if metric.per_request or qualifier else None)
            assert observe(summary, ref) == from_summary  # the gate asks the table
    summary, _ = saved_runs["refusing"]
    if metric.name in ("error_rate", "retries", "retry_rate"):
        assert metric.of_summary(summary) > 0  # the refusals were counted, not defaulted


def test_a_saved_run_without_requests_has_no_run_level_value() -> None:
    empty = {"requests": {"total": 0, "failed": 0}, "throughput": {"requests_per_s": 0.0}}
    summary = summarize([])
    for metric in (*RUN_LEVEL, RETRIES):
        assert metric.of_summary(summary) is None
        assert metric.of_document(empty) is None


def test_the_summary_json_throughput_is_read_from_the_table(
    saved_runs: dict[str, tuple[Summary, Any]],
) -> None:
    _, document = saved_runs["mock"]
    expected = {m.key for m in RUN_LEVEL if m.section == "throughput"}
    assert set(document["throughput"]) == expected
    assert document["throughput"]["good_fraction"] == 100.0  # every request met 10 s


def test_an_unknown_metric_is_an_error_never_a_default() -> None:
    with pytest.raises(KeyError, match="unknown run-level metric 'bogus'"):
        metric_named("bogus", per_request=False)
    with pytest.raises(KeyError, match="unknown per-request metric 'bogus'"):
        observe(_summary(), MetricRef("bogus", "p95"))
    with pytest.raises(KeyError, match="bogus"):
        ComparedRun("x.json", "summary", 1, 1, "m", "e", "").value(MetricRef("bogus", None))


def test_an_unknown_metric_in_fail_if_is_a_one_line_error(instant_mock_url: str) -> None:
    for expression in ("bogus<1", "bogus.p95<1ms", "ttft_p95<1"):
        res = run_cli(
            "--base-url",
            instant_mock_url,
            "--model",
            "mock-model",
            "-n",
            "1",
            "--fail-if",
            expression,
        )
        assert res.code == ExitCode.USAGE, res.stderr
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
        assert "unknown metric" in res.stderr and expression in res.stderr
