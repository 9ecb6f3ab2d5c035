"""results/stats.py against hand-computed numbers."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmbench_async.records import RequestRecord, TokenSource
from llmbench_async.results.stats import (
    METRIC_KEYS,
    ErrorGroup,
    MetricStats,
    describe,
    percentile,
    summarize,
)

MS = 1_000_000  # ns


# ---------------------------------------------------------------- percentile / describe


def test_percentile_four_values() -> None:
    xs = [1.0, 2.0, 3.0, 4.0]
    assert percentile(xs, 50) == 2.5
    assert percentile(xs, 90) == pytest.approx(3.7, abs=1e-12)
    assert percentile(xs, 0) == 1.0
    assert percentile(xs, 100) == 4.0
    assert percentile(xs, 25) == 1.75


def test_percentile_ten_values() -> None:
    xs = sorted([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0])  # 1 1 2 3 3 4 5 5 6 9
    # h = 9 * q / 100, then x[floor h] + frac(h) * (x[floor h + 1] - x[floor h])
    assert percentile(xs, 50) == pytest.approx(3.5)  # h 4.5: 3 + .5 * 1
    assert percentile(xs, 90) == pytest.approx(6.3)  # h 8.1: 6 + .1 * 3
    assert percentile(xs, 95) == pytest.approx(7.65)  # h 8.55: 6 + .55 * 3
    assert percentile(xs, 99) == pytest.approx(8.73)  # h 8.91: 6 + .91 * 3
    assert percentile(xs, 25) == pytest.approx(2.25)  # h 2.25: 2 + .25 * 1


def test_percentile_one_value_and_errors() -> None:
    assert percentile([7.5], 0) == 7.5
    assert percentile([7.5], 99) == 7.5
    with pytest.raises(ValueError):
        percentile([], 50)
    for bad in (-0.1, 100.1, math.nan):
        with pytest.raises(ValueError):
            percentile([1.0, 2.0], bad)


@given(st.lists(st.floats(-1e9, 1e9), min_size=2, max_size=60))
def test_percentile_matches_statistics_inclusive(values: list[float]) -> None:
    # statistics.quantiles(method="inclusive") is the same Hyndman-Fan type 7
    xs = sorted(values)
    cuts = statistics.quantiles(xs, n=100, method="inclusive")
    for q in (1, 25, 50, 90, 95, 99):
        assert percentile(xs, q) == pytest.approx(cuts[q - 1], rel=1e-9, abs=1e-6)
    assert xs[0] <= percentile(xs, 37.5) <= xs[-1]


def test_describe_ten_values() -> None:
    stats = describe([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    assert stats is not None
    assert stats.count == 10
    assert stats.mean == pytest.approx(3.9)
    # squared deviations from 3.9 sum to 54.9; sample variance 54.9 / 9 = 6.1
    assert stats.stdev == pytest.approx(math.sqrt(6.1))
    assert stats.min == 1.0
    assert stats.max == 9.0
    assert stats.p50 == pytest.approx(3.5)
    assert stats.p90 == pytest.approx(6.3)
    assert stats.p95 == pytest.approx(7.65)
    assert stats.p99 == pytest.approx(8.73)


def test_describe_stdev_is_sample_stdev() -> None:
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]  # population stdev 2, sample sqrt(32/7)
    stats = describe(values)
    assert stats is not None
    assert stats.stdev == pytest.approx(math.sqrt(32 / 7))
    assert stats.stdev == pytest.approx(statistics.stdev(values))


def test_describe_one_value_and_empty() -> None:
    assert describe([]) is None
    assert describe(iter([])) is None
    one = describe([42.0])
    assert one == MetricStats(
        count=1, mean=42.0, stdev=0.0, min=42.0, p50=42.0, p90=42.0, p95=42.0, p99=42.0, max=42.0
    )


def test_describe_large_offset_is_accurate() -> None:
    # naive sum-of-squares would lose everything here
    stats = describe([1e9 + 1, 1e9 + 2, 1e9 + 3])
    assert stats is not None
    assert stats.mean == 1e9 + 2
    assert stats.stdev == pytest.approx(1.0)


def test_metric_stats_to_json() -> None:
    stats = describe([1.0, 2.0, 3.0, 4.0])
    assert stats is not None
    data = stats.to_json()
    assert list(data) == ["count", "mean", "stdev", "min", "p50", "p90", "p95", "p99", "max"]
    assert data["count"] == 4
    assert data["p50"] == 2.5
    assert data["max"] == 4.0


# ---------------------------------------------------------------- summarize


def _ok(
    index: int,
    scheduled: int,
    send: int,
    end: int,
    *,
    first: int | None = None,
    last: int | None = None,
    gaps: tuple[int, ...] = (),
    out: int | None = None,
    inp: int | None = None,
    source: TokenSource = "none",
    attempts: int = 1,
    warmup: bool = False,
) -> RequestRecord:
    """An ok record; instants given in ms."""
    return RequestRecord(
        index=index,
        scheduled_ns=scheduled * MS,
        send_ns=send * MS,
        end_ns=end * MS,
        first_token_ns=None if first is None else first * MS,
        last_token_ns=None if last is None else last * MS,
        token_gaps_ns=tuple(g * MS for g in gaps),
        output_events=len(gaps) + 1 if first is not None else 0,
        output_tokens=out,
        input_tokens=inp,
        token_source=source,
        status=200,
        attempts=attempts,
        warmup=warmup,
    )


def _failed(
    index: int,
    scheduled: int,
    send: int,
    end: int,
    kind: str,
    status: int | None,
    message: str,
    attempts: int = 1,
) -> RequestRecord:
    """A failed record; instants given in ms."""
    return RequestRecord(
        index=index,
        scheduled_ns=scheduled * MS,
        send_ns=send * MS,
        end_ns=end * MS,
        status=status,
        error_kind=kind,
        error_message=message,
        attempts=attempts,
    )


def _run() -> list[RequestRecord]:
    return [
        # warm-up: its early send and late end must not count anywhere
        _ok(
            0,
            0,
            0,
            9000,
            first=10,
            last=20,
            gaps=(10,),
            out=100,
            inp=5,
            source="usage",
            warmup=True,
        ),
        # ttft 100, e2e 500, itl 100 100 100, tpot 300/3 = 100, 4 tok / 0.5 s = 8, queue 0
        _ok(
            1,
            1000,
            1000,
            1500,
            first=1100,
            last=1400,
            gaps=(100, 100, 100),
            out=4,
            inp=10,
            source="usage",
        ),
        # ttft 50, e2e 500, itl 50 150, tpot 200/2 = 100, 3 tok / 0.5 s = 6, queue 200, 1 retry
        _ok(
            2,
            1000,
            1200,
            1700,
            first=1250,
            last=1450,
            gaps=(50, 150),
            out=3,
            inp=20,
            source="chunks",
            attempts=2,
        ),
        # no output at all: only e2e 1000 and queue 0
        _ok(3, 2000, 2000, 3000, out=0),
        _failed(4, 1500, 1600, 1650, "rate_limited", 429, "slow down A", attempts=3),
        _failed(5, 1500, 1550, 1560, "rate_limited", 429, "slow down B"),
        _failed(6, 2500, 2500, 4000, "timeout", None, "deadline"),  # the last end
        _failed(7, 3000, 3000, 3100, "http_5xx", 503, "503 one"),
        _failed(8, 900, 900, 950, "http_5xx", 500, "500 first"),  # the first send
        _failed(9, 3200, 3300, 3400, "http_5xx", 503, "503 two", attempts=2),
    ]


def test_summarize_counts_and_throughput() -> None:
    s = summarize(_run())
    assert (s.total, s.ok, s.failed, s.warmup) == (9, 3, 6, 1)
    assert s.duration_s == pytest.approx(3.1)  # 900 ms → 4000 ms
    assert s.requests_per_s == pytest.approx(3 / 3.1)
    assert s.total_output_tokens == 7
    assert s.output_tokens_per_s == pytest.approx(7 / 3.1)
    assert s.total_input_tokens == 30
    assert s.retries == 4  # 1 (record 2) + 2 (record 4) + 1 (record 9)
    assert dict(s.token_sources) == {"usage": 1, "chunks": 1, "none": 1}


def test_summarize_metric_samples() -> None:
    s = summarize(_run())
    # no record here marks content apart, got a head, opened a connection or says on
    # which connection it came; no server reported its time; none replayed a trace
    absent = {
        "ttfc_ms",
        "connect_ms",
        "dispatch_lag_ms",
        "dns_ms",
        "tcp_ms",
        "tls_ms",
        "headers_ms",
    }
    absent |= {"headers_new_ms", "headers_reused_ms", "server_queue_ms", "server_prefill_ms"}
    keys = [k for k in METRIC_KEYS if k not in absent | {"server_decode_ms", "network_client_ms"}]
    assert list(s.metrics) == keys
    assert list(s.samples) == keys
    assert tuple(s.samples["ttft_ms"]) == (50.0, 100.0)
    assert tuple(s.samples["e2e_ms"]) == (500.0, 500.0, 1000.0)
    assert tuple(s.samples["itl_ms"]) == (50.0, 100.0, 100.0, 100.0, 150.0)
    assert tuple(s.samples["tpot_ms"]) == (100.0, 100.0)
    assert tuple(s.samples["output_tokens_per_s"]) == (6.0, 8.0)
    assert tuple(s.samples["queue_delay_ms"]) == (
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        50.0,
        100.0,
        100.0,
        200.0,
    )

    e2e = s.metrics["e2e_ms"]
    assert e2e.count == 3
    assert e2e.mean == pytest.approx(2000 / 3)
    assert e2e.stdev == pytest.approx(math.sqrt(250000 / 3))  # squares 166666.7 / 2
    assert (e2e.min, e2e.p50, e2e.max) == (500.0, 500.0, 1000.0)
    assert e2e.p90 == pytest.approx(900.0)  # h = 1.8: 500 + .8 * 500
    itl = s.metrics["itl_ms"]
    assert itl.mean == 100.0
    assert itl.stdev == pytest.approx(math.sqrt(5000 / 4))
    assert s.metrics["queue_delay_ms"].mean == pytest.approx(450 / 9)
    assert s.percentile("itl_ms", 50) == 100.0
    assert s.percentile("ttft_ms", 50) == 75.0
    assert s.percentile("nope", 50) is None


def test_summarize_errors_grouped() -> None:
    s = summarize(_run())
    assert s.errors == (
        ErrorGroup("http_5xx", 3, "500 first", ((500, 1), (503, 2))),
        ErrorGroup("rate_limited", 2, "slow down B", ((429, 2),)),
        ErrorGroup("timeout", 1, "deadline", ()),
    )


def test_summarize_is_order_independent() -> None:
    records = _run()
    expected = summarize(records)
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(records)
        assert summarize(records) == expected
    assert summarize(iter(records)) == expected


def test_summarize_random_runs_order_independent() -> None:
    rng = random.Random(11)
    kinds = ["timeout", "read", "http_5xx"]
    records = []
    for i in range(500):
        send = rng.randrange(10**10)
        if rng.random() < 0.2:
            records.append(
                RequestRecord(
                    index=i,
                    scheduled_ns=send - rng.randrange(10**6),
                    send_ns=send,
                    end_ns=send + rng.randrange(10**9),
                    error_kind=rng.choice(kinds),
                    error_message=f"m{i}",
                    status=rng.choice([None, 500, 502]),
                    attempts=rng.randint(1, 3),
                )
            )
            continue
        gaps = tuple(rng.randrange(1, 10**8) for _ in range(rng.randrange(0, 20)))
        first = send + rng.randrange(10**8)
        records.append(
            RequestRecord(
                index=i,
                scheduled_ns=send - rng.randrange(10**6),
                send_ns=send,
                end_ns=first + sum(gaps) + 1,
                first_token_ns=first,
                last_token_ns=first + sum(gaps),
                token_gaps_ns=gaps,
                output_events=len(gaps) + 1,
                output_tokens=len(gaps) + 1,
                token_source=rng.choice(["usage", "chunks"]),
                warmup=rng.random() < 0.05,
            )
        )
    expected = summarize(records)
    for _ in range(3):
        rng.shuffle(records)
        assert summarize(records) == expected
    assert expected.total + expected.warmup == 500
    assert expected.metrics["itl_ms"].count == sum(
        len(r.token_gaps_ns) for r in records if r.ok and not r.warmup
    )


def test_summarize_same_send_instant_first_message_is_deterministic() -> None:
    a = _failed(2, 0, 100, 200, "read", None, "second")
    b = _failed(1, 0, 100, 200, "read", None, "first")
    assert summarize([a, b]).errors[0].first_message == "first"
    assert summarize([b, a]).errors[0].first_message == "first"


def test_summarize_empty() -> None:
    s = summarize([])
    assert (s.total, s.ok, s.failed, s.warmup, s.retries) == (0, 0, 0, 0, 0)
    assert s.duration_s == 0.0
    assert s.requests_per_s == 0.0
    assert s.output_tokens_per_s == 0.0
    assert dict(s.metrics) == {}
    assert dict(s.samples) == {}
    assert s.errors == ()
    assert dict(s.token_sources) == {}
    assert s.percentile("e2e_ms", 50) is None


def test_summarize_only_warmup_and_only_failures() -> None:
    warm = _ok(0, 0, 0, 100, out=3, source="usage", warmup=True)
    s = summarize([warm])
    assert (s.total, s.warmup, s.duration_s) == (0, 1, 0.0)
    s = summarize([_failed(1, 0, 10, 20, "connect", None, "refused")])
    assert (s.total, s.ok, s.failed) == (1, 0, 1)
    assert list(s.metrics) == ["queue_delay_ms"]
    assert tuple(s.samples["queue_delay_ms"]) == (10.0,)
    assert s.requests_per_s == 0.0
    assert s.duration_s == pytest.approx(0.01)


def test_summarize_zero_duration() -> None:
    s = summarize([_ok(1, 5, 5, 5)])
    assert s.duration_s == 0.0
    assert s.requests_per_s == 0.0
    assert tuple(s.samples["e2e_ms"]) == (0.0,)
    assert "output_tokens_per_s" not in s.metrics


def test_ms_conversion_divides_ns() -> None:
    rec = RequestRecord(index=0, scheduled_ns=0, send_ns=0, end_ns=123_456_789)
    assert tuple(summarize([rec]).samples["e2e_ms"]) == (123.456789,)
