"""mock/config.py: MockConfig, its checks and its JSON form; the retry hints it sends.
Each checked over real loopback sockets."""

from __future__ import annotations

import json

import pytest
from mockwire import (
    CHAT,
    RETRY_HINTS,
    raw_exchange,
    serving,
    split_response,
)

from llmbench_async.mock import MockConfig
from llmbench_async.mock.config import duration as _duration


def test_config_json_round_trip() -> None:
    config = MockConfig(ttft_ms=5, models=("a", "b"), log_path="/tmp/x", seed=3)
    assert MockConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="unknown mock config keys: bogus"):
        MockConfig.from_json('{"bogus": 1}')
    with pytest.raises(ValueError, match="tokens"):
        MockConfig(tokens=0)
    with pytest.raises(ValueError, match="itl_ms"):
        MockConfig(itl_ms=-1)
    truth = MockConfig(truth_block_words=16, truth_headers=("x-session-id",))
    assert MockConfig.from_json(truth.to_json()) == truth
    with pytest.raises(ValueError, match="truth_block_words"):
        MockConfig(truth_block_words=-1)


@pytest.mark.parametrize(("header", "value", "sent"), RETRY_HINTS)
def test_failures_carry_the_retry_hint(header: str, value: str, sent: str | None) -> None:
    knobs = {"fail_rate": 1.0, "fail_status": 429, "retry_after": value}
    with serving(**knobs, retry_after_header=header) as mock:
        raw = raw_exchange(mock, CHAT)
    status, headers, body = split_response(raw)
    assert status == 429 and raw.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert json.loads(body)["error"]["code"] == "injected"
    hints = {h: v for h, v in headers.items() if "retry" in h or "ratelimit" in h}
    assert hints == ({} if sent is None else {header: sent})


def test_openai_durations() -> None:
    cases = {0.02: "20ms", 0: "0s", 1: "1s", 1.5: "1.5s", 360: "6m0s", 3600: "1h0m0s"}
    assert {s: _duration(s) for s in cases} == cases


def test_config_round_trip_and_validation() -> None:
    config = MockConfig(
        capacity=3, reasoning_tokens=2, stall_ms=5, huge_line_bytes=2048, no_done=True
    )
    assert MockConfig.from_json(config.to_json()) == config
    assert "capacity 3" in str(config) and "stall 5ms" in str(config)
    for bad in (
        {"disconnect_rate": 1.5},
        {"malformed_rate": -0.1},
        {"capacity": 0},
        {"huge_line_bytes": 10},
        {"retry_after_header": "x-retry"},
        {"retry_after": "soon"},
        {"retry_after": "Wed, 21 Oct 2015 07:28:00 GMT", "retry_after_header": "retry-after-ms"},
        {"reasoning_tokens": -1},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            MockConfig(**bad)
