"""Thresholds: the expression grammar (every error message) and judging against a Summary."""

from __future__ import annotations

import pytest

from llmbench_async import RunConfig, check, run
from llmbench_async.config import ConfigError
from llmbench_async.mock import MockProcess
from llmbench_async.records import RequestRecord
from llmbench_async.results.gate import (
    MetricRef,
    Threshold,
    ThresholdError,
    judge,
    observe,
    parse_metric_ref,
    parse_threshold,
)
from llmbench_async.results.stats import percentile, summarize

MS = 1_000_000


# the grammar's names, as an unknown name's message lists them: the times first
ALL_NAMES = (
    "ttft, ttfc, e2e, itl, tpot, queue_delay, dispatch_lag, connect, dns, tcp, tls, headers, "
    "headers_new, headers_reused, server_queue, server_prefill, server_decode, network_client, "
    "output_tokens_per_s, error_rate, incomplete_rate, wrong_model_rate, invalid_output_rate, "
    "request_bytes, retry_rate, requests_per_s, goodput, good_fraction, inputs_per_s, "
    "input_tokens_per_s, cache_hit_rate, retries"
)


def _rec(i: int, ttft_ms: float, e2e_ms: float, *, tokens: int = 10) -> RequestRecord:
    """A successful request sent at i*100 ms with a known TTFT and E2E."""
    send = i * 100 * MS
    first = send + int(ttft_ms * MS)
    end = send + int(e2e_ms * MS)
    gap = (end - first) // (tokens - 1)
    return RequestRecord(
        index=i,
        scheduled_ns=send,
        send_ns=send,
        end_ns=end,
        headers_ns=send,
        first_token_ns=first,
        last_token_ns=first + gap * (tokens - 1),
        token_gaps_ns=(gap,) * (tokens - 1),
        output_events=tokens,
        output_tokens=tokens,
        token_source="usage",
        status=200,
    )


def _failed(i: int) -> RequestRecord:
    send = i * 100 * MS
    return RequestRecord(
        index=i,
        scheduled_ns=send,
        send_ns=send,
        end_ns=send + 5 * MS,
        status=500,
        error_kind="http_5xx",
        error_message="boom",
    )


# 100 requests, TTFT 1..100 ms, E2E = TTFT + 900 ms; then 2 failures
RECORDS = [_rec(i, ttft_ms=i + 1, e2e_ms=i + 901) for i in range(100)] + [
    _failed(100),
    _failed(101),
]
SUMMARY = summarize(RECORDS)


@pytest.mark.parametrize(
    ("text", "canonical", "metric", "stat", "op", "limit"),
    [
        ("ttft.p95<800ms", "ttft.p95<800ms", "ttft", "p95", "<", 800.0),
        ("e2e.p99<=5s", "e2e.p99<=5s", "e2e", "p99", "<=", 5000.0),
        ("itl.p50 < 20", "itl.p50<20", "itl", "p50", "<", 20.0),
        ("tpot.mean>0.5ms", "tpot.mean>0.5ms", "tpot", "mean", ">", 0.5),
        ("queue_delay.max<=1s", "queue_delay.max<=1s", "queue_delay", "max", "<=", 1000.0),
        ("ttft.p99.9<1.5s", "ttft.p99.9<1.5s", "ttft", "p99.9", "<", 1500.0),
        ("TTFT.P95 < 800 MS", "ttft.p95<800ms", "ttft", "p95", "<", 800.0),
        ("ttft.p95.0<1", "ttft.p95<1", "ttft", "p95", "<", 1.0),
        ("e2e.stdev<.5s", "e2e.stdev<0.5s", "e2e", "stdev", "<", 500.0),
        ("e2e.min>=0", "e2e.min>=0", "e2e", "min", ">=", 0.0),
        (
            "output_tokens_per_s.p50>=20",
            "output_tokens_per_s.p50>=20",
            "output_tokens_per_s",
            "p50",
            ">=",
            20.0,
        ),
        (
            "output_tokens_per_s>=100",
            "output_tokens_per_s>=100",
            "output_tokens_per_s",
            None,
            ">=",
            100.0,
        ),
        ("error_rate<1%", "error_rate<1%", "error_rate", None, "<", 1.0),
        ("error_rate<=0.5%", "error_rate<=0.5%", "error_rate", None, "<=", 0.5),
        ("error_rate<=0", "error_rate<=0", "error_rate", None, "<=", 0.0),
        ("requests_per_s>=2", "requests_per_s>=2", "requests_per_s", None, ">=", 2.0),
    ],
)
def test_parse_valid(
    text: str, canonical: str, metric: str, stat: str | None, op: str, limit: float
) -> None:
    t = parse_threshold(text)
    assert (t.ref.metric, t.ref.stat, t.op, t.limit) == (metric, stat, op, limit)
    assert str(t) == canonical
    assert parse_threshold(str(t)) == t  # the canonical form reads back the same


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty expression; expected METRIC.STAT OP VALUE[UNIT], e.g. ttft.p95<800ms"),
        (
            "ttft.p95",
            "no comparison (<, <=, >, >=); expected METRIC.STAT OP VALUE[UNIT], "
            "e.g. ttft.p95<800ms",
        ),
        ("ttft.p95=5ms", "unsupported comparison '='; expected one of <, <=, >, >="),
        ("ttft.p95==5ms", "unsupported comparison '=='; expected one of <, <=, >, >="),
        ("ttft.p95=<5ms", "unsupported comparison '=<'; expected one of <, <=, >, >="),
        ("ttft.p95!=5ms", "unsupported comparison '!='; expected one of <, <=, >, >="),
        ("ttft.p95<<5ms", "unsupported comparison '<<'; expected one of <, <=, >, >="),
        (
            "<5ms",
            "missing metric before '<'; expected METRIC.STAT OP VALUE[UNIT], e.g. ttft.p95<800ms",
        ),
        (
            "ttfb.p95<5ms",
            "unknown metric 'ttfb' (did you mean 'ttft'?); expected one of " + ALL_NAMES,
        ),
        (
            "latency.p95<5ms",
            "unknown metric 'latency'; expected one of " + ALL_NAMES,
        ),
        (
            "ttft<5ms",
            "ttft needs a statistic, e.g. ttft.p95; expected one of mean, min, max, stdev, "
            "p50, p90, p95, p99 or any pNN / pNN.N",
        ),
        (
            "ttft.avg<5ms",
            "unknown statistic 'avg' for ttft; expected one of mean, min, max, stdev, p50, p90, "
            "p95, p99 or any pNN / pNN.N",
        ),
        (
            "ttft.<5ms",
            "unknown empty statistic for ttft; expected one of mean, min, max, stdev, p50, p90, "
            "p95, p99 or any pNN / pNN.N",
        ),
        ("ttft.p101<5ms", "percentile p101 is out of range; expected p0 to p100"),
        (
            "error_rate.p95<1%",
            "error_rate is a run-level metric and takes no statistic; write e.g. error_rate<1%",
        ),
        (
            "requests_per_s.mean>2",
            "requests_per_s is a run-level metric and takes no statistic; "
            "write e.g. requests_per_s>=2",
        ),
        (
            "ttft.p95<",
            "missing value after '<'; expected a number with an optional unit (ms, s, %)",
        ),
        ("ttft.p95<fast", "expected a number (0 or more) after '<', got 'fast'"),
        ("ttft.p95<-5ms", "expected a number (0 or more) after '<', got '-5ms'"),
        ("ttft.p95<5 m s", "expected a number (0 or more) after '<', got '5 m s'"),
        ("ttft.p95<5min", "unknown unit 'min'; expected ms, s, % or none"),
        (
            "ttft.p95<5%",
            "unit '%' does not fit ttft.p95 (a time); use ms or s (a bare number means ms)",
        ),
        (
            "error_rate<5ms",
            "unit 'ms' does not fit error_rate (a percentage); use %, e.g. 1%",
        ),
        (
            "requests_per_s>=2s",
            "unit 's' does not fit requests_per_s (req/s); write a bare number",
        ),
        (
            "output_tokens_per_s.p50>=20%",
            "unit '%' does not fit output_tokens_per_s.p50 (tok/s); write a bare number",
        ),
    ],
)
def test_parse_errors_say_what_was_expected(text: str, reason: str) -> None:
    with pytest.raises(ThresholdError) as caught:
        parse_threshold(text)
    assert caught.value.reason == reason
    assert str(caught.value) == f"bad threshold {caught.value.expression!r}: {reason}"
    assert isinstance(caught.value, ConfigError)  # the CLI turns it into exit code 2


def test_metric_refs_alone() -> None:
    assert parse_metric_ref("ttft.p95") == MetricRef("ttft", "p95")
    assert parse_metric_ref("error_rate") == MetricRef("error_rate", None)
    assert parse_metric_ref("e2e.p50.0") == MetricRef("e2e", "p50")
    assert MetricRef("requests_per_s", None).higher_is_better
    assert MetricRef("output_tokens_per_s", "p50").higher_is_better
    assert not MetricRef("output_tokens_per_s", "stdev").higher_is_better
    assert not MetricRef("ttft", "p95").higher_is_better
    assert not MetricRef("error_rate", None).higher_is_better


def test_observed_values_come_from_the_summary_exactly() -> None:
    ttft = SUMMARY.samples["ttft_ms"]
    assert observe(SUMMARY, MetricRef("ttft", "p95")) == SUMMARY.metrics["ttft_ms"].p95
    assert observe(SUMMARY, MetricRef("ttft", "p99.9")) == percentile(ttft, 99.9)
    assert observe(SUMMARY, MetricRef("ttft", "p0")) == 1.0
    assert observe(SUMMARY, MetricRef("ttft", "p100")) == 100.0
    assert observe(SUMMARY, MetricRef("ttft", "mean")) == pytest.approx(50.5)
    assert observe(SUMMARY, MetricRef("e2e", "min")) == 901.0
    assert observe(SUMMARY, MetricRef("error_rate", None)) == pytest.approx(100 * 2 / 102)
    assert observe(SUMMARY, MetricRef("requests_per_s", None)) == SUMMARY.requests_per_s
    aggregate = observe(SUMMARY, MetricRef("output_tokens_per_s", None))
    assert aggregate == SUMMARY.output_tokens_per_s
    per_request = observe(SUMMARY, MetricRef("output_tokens_per_s", "p50"))
    assert per_request == SUMMARY.metrics["output_tokens_per_s"].p50 != aggregate


def test_judge_pass_fail_and_units() -> None:
    verdicts = check(
        SUMMARY,
        [
            "ttft.p50<=50.5ms",  # p50 of 1..100 is exactly 50.5
            "ttft.p50<50.5ms",
            "e2e.max<=1s",  # 1000 ms
            "e2e.max<1s",
            "error_rate<1%",  # 1.96 %
            "error_rate<2%",
            "requests_per_s>=1",
        ],
    )
    assert [v.passed for v in verdicts] == [True, False, True, False, False, True, True]
    e2e = verdicts[2]
    assert e2e.observed == 1000.0 and e2e.observed_text == "1.00 s"
    assert e2e.threshold.limit_text == "<= 1 s"
    assert str(verdicts[1]) == "FAIL ttft.p50<50.5ms: observed 50.50 ms vs limit < 50.5 ms"
    assert verdicts[4].observed_text == "1.96 %"


def test_no_data_fails_the_threshold() -> None:
    only_failures = summarize([_failed(0), _failed(1)])
    verdicts = check(only_failures, ["ttft.p95<10s", "itl.p50>=0", "error_rate<=100%"])
    assert [(v.passed, v.observed_text) for v in verdicts] == [
        (False, "no data"),
        (False, "no data"),
        (True, "100.0 %"),
    ]
    empty = summarize([])
    (verdict,) = judge(empty, [parse_threshold("requests_per_s>=0")])
    assert not verdict.passed and verdict.observed is None


def test_check_takes_text_or_parsed_thresholds_and_raises_on_bad_text() -> None:
    parsed = parse_threshold("ttft.p95<800ms")
    assert isinstance(parsed, Threshold)
    assert check(SUMMARY, [parsed]) == check(SUMMARY, ["ttft.p95<800ms"])
    with pytest.raises(ThresholdError):
        check(SUMMARY, ["ttft.p95<800 parsecs"])


def test_readme_python_api_example(fast_mock: MockProcess) -> None:
    """The README's pytest example, as written there, against the mock (TTFT 50 ms)."""
    result = run(RunConfig(base_url=fast_mock.base_url, n=4, concurrency=2))
    verdicts = check(result.summary, ["ttft.p95<800ms", "error_rate<1%"])
    assert all(v.passed for v in verdicts), [str(v) for v in verdicts]
    assert len(result.records) == 4
    assert 45 <= result.summary.metrics["ttft_ms"].p50 < 800


def test_a_bound_and_a_model_label_combine() -> None:
    from llmbench_async.results.gate import for_models, parse_threshold

    threshold = parse_threshold("ttft.p99.upper{model=b}<1s")
    assert (threshold.ref.bound, threshold.ref.model) == ("upper", "b")
    assert str(threshold) == "ttft.p99.upper{model=b}<1s"
    kept = for_models((threshold,), ("a", "b"))
    assert kept[0].ref.bound == "upper" and kept[0].ref.model == "b"
    alone = for_models((parse_threshold("ttft.p99.lower{model=a}<1s"),), ("a",))
    assert alone[0].ref.bound == "lower" and alone[0].ref.model is None  # one model: no label
