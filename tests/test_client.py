"""Measurement accuracy and client behaviour against the mock server over loopback."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from llmbench_async import RequestRecord, RunConfig, run
from llmbench_async.config import Timeouts
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.wire.client import Target, execute
from llmbench_async.wire.transport import make_client


@pytest.fixture(scope="module")
def timed_mock() -> Iterator[MockProcess]:
    with MockProcess(MockConfig(ttft_ms=200, itl_ms=10, tokens=20)) as mock:
        yield mock


def test_ttft_itl_e2e_match_server_timing(timed_mock: MockProcess) -> None:
    # TTFT 200 ms, then 19 gaps of 10 ms: E2E = 390 ms. Tolerances cover scheduler noise
    # on a loaded 2-core machine; the client adds well under 1 ms on loopback.
    result = run(RunConfig(base_url=timed_mock.base_url, n=16, concurrency=8, max_tokens=64))
    s = result.summary
    assert s.ok == 16 and s.failed == 0
    ttft = s.metrics["ttft_ms"]
    assert 195 <= ttft.p50 <= 215, ttft
    assert ttft.min >= 199.0  # the server never sends the first token early
    itl = s.metrics["itl_ms"]
    assert itl.count == 16 * 19
    assert 9.0 <= itl.mean <= 11.0, itl
    e2e = s.metrics["e2e_ms"]
    assert 385 <= e2e.p50 <= 410, e2e
    tpot = s.metrics["tpot_ms"]
    assert 9.5 <= tpot.p50 <= 10.5, tpot
    # the role-only first chunk arrives with the headers, long before the first token
    for record in result.records:
        assert record.headers_ns is not None and record.first_token_ns is not None
        assert (record.headers_ns - record.send_ns) / 1e6 < 100
        assert (record.first_token_ns - record.send_ns) / 1e6 >= 199.0
        assert record.output_tokens == 20 and record.token_source == "usage"
        assert record.input_tokens is not None and record.input_tokens > 0
        assert record.response_id and record.response_id.startswith("chatcmpl-")
    assert result.outcome.peak_in_flight == 8
    # two waves of 8 requests of 390 ms: the run lasts ~780 ms
    assert 0.77 <= s.duration_s <= 0.83, s.duration_s
    assert s.requests_per_s == pytest.approx(16 / s.duration_s)
    assert 19.0 <= s.requests_per_s <= 21.0
    assert s.output_tokens_per_s == pytest.approx(16 * 20 / s.duration_s)
    # one request: 20 tokens in ~390 ms
    assert 48.0 <= s.metrics["output_tokens_per_s"].p50 <= 52.0
    # closed loop: no waiting for a slot (a wait would be a whole 390 ms request), only
    # the client's own lateness from the last response's end to the next send
    assert s.metrics["queue_delay_ms"].p50 < 5 and s.metrics["queue_delay_ms"].max < 30


def _body(stream_usage: bool, max_tokens: int = 64) -> bytes:
    body: dict[str, object] = {
        "model": "mock-model",
        "messages": [{"role": "user", "content": "hi there"}],
        "max_tokens": max_tokens,
        "stream": True,
    }
    if stream_usage:
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


async def _execute(mock: MockProcess, body: bytes, **target_kw: Any) -> RequestRecord:
    async with make_client() as http:
        target = Target(
            url=f"{mock.base_url}/chat/completions",
            headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
            **target_kw,
        )
        return await execute(http, target, 0, body, time.perf_counter_ns())


def test_token_count_from_usage_and_from_chunks(fast_mock: MockProcess) -> None:
    with_usage = anyio.run(_execute, fast_mock, _body(True, max_tokens=6))
    without = anyio.run(_execute, fast_mock, _body(False, max_tokens=6))
    assert with_usage.ok and without.ok
    assert with_usage.output_tokens == 6
    assert with_usage.token_source == "usage"
    assert without.output_tokens == 6
    assert without.token_source == "chunks"
    assert without.output_events == 6
    assert len(without.token_gaps_ns) == 5


def test_read_timeout_cuts_a_silent_stream(timed_mock: MockProcess) -> None:
    # the first token comes after 200 ms: a 50 ms read timeout must fire first
    record = anyio.run(
        lambda: _execute(timed_mock, _body(True), timeouts=Timeouts(total=5, read=0.05))
    )
    assert record.error_kind == "read_timeout"
    e2e_ms = record.e2e_ns / 1e6
    assert 45 <= e2e_ms <= 150


def test_total_deadline(timed_mock: MockProcess) -> None:
    record = anyio.run(
        lambda: _execute(timed_mock, _body(True), timeouts=Timeouts(total=0.25, read=1))
    )
    assert record.error_kind == "timeout"
    # output had begun (TTFT 200 ms): a timeout after output is never retried
    assert record.attempts == 1
    assert 240 <= record.e2e_ns / 1e6 <= 350


def test_keep_alive_reuses_connections(fast_mock: MockProcess) -> None:
    async def go() -> int:
        async with make_client() as http:
            target = Target(
                url=f"{fast_mock.base_url}/chat/completions",
                headers={"Content-Type": "application/json"},
            )
            for i in range(5):
                rec = await execute(http, target, i, _body(True, 3), time.perf_counter_ns())
                assert rec.ok, rec.error_message
            transport = http._transport
            idle = transport._idle
            return sum(len(v) for v in idle.values())

    assert anyio.run(go) == 1


def test_plain_httpx_api_works_on_lean_transport(fast_mock: MockProcess) -> None:
    async def go() -> httpx.Response:
        async with make_client() as http:
            return await http.get(f"{fast_mock.base_url}/models")

    resp = anyio.run(go)
    assert resp.status_code == 200
    assert resp.json()["data"][0]["id"] == "mock-model"


def test_non_streaming(fast_mock: MockProcess) -> None:
    result = run(RunConfig(base_url=fast_mock.base_url, n=3, stream=False, max_tokens=5))
    assert result.summary.ok == 3
    for r in result.records:
        assert r.output_tokens == 5 and r.token_source == "usage"
        assert r.first_token_ns is None
        # non-streamed: the body comes after TTFT + 4 gaps = 70 ms
        assert r.e2e_ns / 1e6 >= 69
    assert "ttft_ms" not in result.summary.metrics
    assert statistics.mean(r.e2e_ns for r in result.records) / 1e6 < 200


def test_server_echoing_the_key_is_scrubbed(tmp_path: Any) -> None:
    from llmbench_async.redact import scrub

    key = "sk-secret-abcdef123456"
    assert scrub(f"Incorrect API key provided: {key}.", (key,)) == (
        "Incorrect API key provided: ***."
    )


def test_reasoning_counts_for_ttft_not_ttfc() -> None:
    # 4 reasoning chunks then 3 content tokens, 20 ms apart, first chunk after 50 ms
    cfg = MockConfig(ttft_ms=50, itl_ms=20, tokens=3, reasoning_tokens=4)
    with MockProcess(cfg) as mock:
        result = run(RunConfig(base_url=mock.base_url, n=2, max_tokens=64))
    for r in result.records:
        assert r.ok, r.error_message
        assert r.ttft_ns is not None and r.ttfc_ns is not None
        assert 49 <= r.ttft_ns / 1e6 <= 65
        # the first content chunk is 4 gaps after the first reasoning chunk
        assert 75 <= (r.ttfc_ns - r.ttft_ns) / 1e6 <= 90
        assert r.reasoning_tokens == 4
        assert r.output_tokens == 7 and r.output_events == 7
    assert "ttfc_ms" in result.summary.metrics


def test_litellm_usage_shape_is_not_a_token() -> None:
    cfg = MockConfig(ttft_ms=0, itl_ms=0, tokens=3, litellm_usage_shape=True)
    with MockProcess(cfg) as mock:
        result = run(RunConfig(base_url=mock.base_url, n=2))
    assert all(r.output_events == 3 and r.output_tokens == 3 for r in result.records)


def test_any_httpx_client_works_too(fast_mock: MockProcess) -> None:
    # the lean transport takes a direct path; a plain httpx client goes through send()
    async def go() -> RequestRecord:
        async with httpx.AsyncClient() as http:
            target = Target(
                url=f"{fast_mock.base_url}/chat/completions",
                headers={"Content-Type": "application/json"},
            )
            return await execute(http, target, 0, _body(True, 4), time.perf_counter_ns())

    record = anyio.run(go)
    assert record.ok and record.output_tokens == 4 and record.token_source == "usage"
