"""When a request is tried again (wire/retry.py): the server's Retry-After hints in every
form, a 429 retried after the wait the mock asked for, and a 404 never retried."""

from __future__ import annotations

import httpx

from llmbench_async import RunConfig, run
from llmbench_async.config import RetryPolicy
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.wire.retry import parse_retry_after


def test_retry_honours_retry_after() -> None:
    cfg = MockConfig(
        ttft_ms=0, itl_ms=0, tokens=3, fail_rate=0.5, fail_status=429, retry_after="1", seed=7
    )
    with MockProcess(cfg) as mock:
        result = run(
            RunConfig(
                base_url=mock.base_url,
                n=8,
                concurrency=8,
                retry=RetryPolicy(retries=5, max_backoff=5),
            )
        )
    retried = [r for r in result.records if r.attempts > 1]
    assert retried, "with a 50% 429 rate some request must have been retried"
    for record in retried:
        waited_s = record.retry_wait_ns / 1e9
        # each retry waited the server's Retry-After of 1 s
        assert waited_s >= 1.0 * (record.attempts - 1) - 0.01
        assert waited_s < 1.0 * (record.attempts - 1) + 0.5
    assert result.summary.retries == sum(r.attempts - 1 for r in result.records)


def test_no_retry_on_404(fast_mock: MockProcess) -> None:
    result = run(
        RunConfig(base_url=fast_mock.base_url, model="nope", n=3, retry=RetryPolicy(retries=3))
    )
    assert all(r.error_kind == "not_found" and r.attempts == 1 for r in result.records)
    # the run stops early on a plain 404 instead of firing every request
    assert len(result.records) == 1
    assert result.problem is not None and "model 'nope' not found" in result.problem
    assert "mock-model" in result.problem


def test_parse_retry_after_variants() -> None:
    def h(**kv: str) -> httpx.Headers:
        return httpx.Headers({k.replace("_", "-"): v for k, v in kv.items()})

    assert parse_retry_after(h(retry_after="2")) == 2.0
    assert parse_retry_after(h(retry_after_ms="1500")) == 1.5
    assert parse_retry_after(httpx.Headers({"llm_provider-retry-after": "60"})) == 60.0
    assert parse_retry_after(h(x_ratelimit_reset_requests="6m0s")) == 360.0
    assert parse_retry_after(h(x_ratelimit_reset_tokens="20ms")) == 0.02
    assert parse_retry_after(h(x_ratelimit_reset_requests="1h2m3.5s")) == 3723.5
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    assert parse_retry_after(h(retry_after=date), now=1445412480.0) == 10.0
    assert parse_retry_after(h(retry_after="soon")) is None
    assert parse_retry_after(h(x_ratelimit_reset_requests="later")) is None
    assert parse_retry_after(h()) is None
    # retry-after-ms wins over retry-after
    assert parse_retry_after(h(retry_after="9", retry_after_ms="100")) == 0.1
