"""Responses, Anthropic Messages and embeddings measured by the client against the built-in
mock server over real loopback sockets, each number checked against the mock's truth log.

The mock logs its instants on CLOCK_MONOTONIC, the clock of the client's
`time.perf_counter_ns` on Linux, so the two can be compared directly: the client can see a
token only after the server wrote it (never early), and on loopback soon after (bounded
loosely, the machine may be loaded).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmbench_async import RunConfig, run
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.records import RequestRecord

KEY = "sk-apis-mock-5678"
SOON = 0.25  # s: the latest a loopback read may come after the server's write, when loaded


def _truth(log: Path) -> dict[str, dict[str, Any]]:
    """The mock's log rows by response id."""
    rows = (json.loads(line) for line in log.read_text().splitlines())
    return {row["id"]: row for row in rows}


def _check_stream(record: RequestRecord, row: dict[str, Any]) -> None:
    """The client's instants against the server's own: never early, soon after."""
    mono = row["monotonic"]
    assert record.first_token_ns is not None and record.last_token_ns is not None
    first, last, end = record.first_token_ns / 1e9, record.last_token_ns / 1e9, record.end_ns / 1e9
    assert record.send_ns / 1e9 <= mono["received"]
    assert 0 <= first - mono["first_token"] < SOON
    assert 0 <= last - mono["last_token"] < SOON
    assert end >= last
    # TTFT and E2E as the client reports them hold the server's own span (never shorter)
    assert record.ttft_ns is not None
    assert record.ttft_ns / 1e9 >= mono["first_token"] - mono["received"]
    assert record.e2e_ns / 1e9 >= mono["last_token"] - mono["received"]
    assert record.output_tokens == row["tokens"] and record.token_source == "usage"
    assert record.input_tokens == row["prompt_tokens"]


def test_responses_timing_and_tokens_match_the_truth_log(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    mock_config = MockConfig(
        ttft_ms=80, itl_ms=15, tokens=6, reasoning_tokens=2, auth_key=KEY, log_path=str(log)
    )
    with MockProcess(mock_config) as mock:
        base = RunConfig(base_url=mock.base_url, api="responses", api_key=KEY, model="mock-model")
        full = run(RunConfig(**{**_fields(base), "n": 3, "concurrency": 1}))
        # max_output_tokens cuts the reply: `response.incomplete` still ends a good stream
        cut = run(RunConfig(**{**_fields(base), "n": 2, "max_tokens": 3}))
    truth = _truth(log)
    assert full.summary.ok == 3 and cut.summary.ok == 2, (full.summary.errors, cut.summary.errors)
    for record in full.records:
        row = truth[record.response_id or ""]
        _check_stream(record, row)
        assert row["tokens"] == 8 and record.reasoning_tokens == 2  # 2 reasoning + 6 text
        # TTFT counts the reasoning deltas; TTFC waits for the first output text, which the
        # mock writes 2 gaps later (at received + ttft + 2 x itl, never before)
        assert record.first_content_ns is not None
        assert record.first_content_ns / 1e9 >= row["monotonic"]["received"] + 0.080 + 2 * 0.015
        assert record.output_events == 8 and len(record.token_gaps_ns) == 7
    for record in cut.records:
        row = truth[record.response_id or ""]
        _check_stream(record, row)
        assert row["tokens"] == 5  # the 2 reasoning tokens and 3 of text


def _fields(config: RunConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


def test_messages_timing_tokens_and_key_headers_match_the_truth_log(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    mock_config = MockConfig(ttft_ms=60, itl_ms=10, tokens=5, auth_key=KEY, log_path=str(log))
    with MockProcess(mock_config) as mock:
        base = RunConfig(
            base_url=mock.base_url, api="messages", api_key=KEY, model="mock-model", n=3
        )
        own = run(base)  # the API's own key header: x-api-key (and anthropic-version)
        bearer = run(RunConfig(**{**_fields(base), "api_key_header": "Authorization"}))
        keyless = run(RunConfig(**{**_fields(base), "api_key_header": "none", "n": 1}))
    truth = _truth(log)
    assert own.summary.ok == 3 and bearer.summary.ok == 3, own.summary.errors
    for record in [*own.records, *bearer.records]:
        row = truth[record.response_id or ""]
        _check_stream(record, row)
        assert row["tokens"] == 5 and record.output_events == 5
        assert row["prompt_tokens"] == len(RunConfig().prompt.split())
    [refused] = keyless.records
    assert refused.status == 401 and refused.error_kind == "auth"
    assert KEY not in (refused.error_message or "")


def test_embeddings_latency_inputs_and_tokens_match_the_truth_log(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    mock_config = MockConfig(embedding_ms=70, embedding_dims=4, log_path=str(log))
    with MockProcess(mock_config) as mock:
        result = run(
            RunConfig(
                base_url=mock.base_url,
                api="embeddings",
                model="mock-model",
                batch=3,
                input_tokens=(7, 0),
                n=4,
                concurrency=2,
            )
        )
    assert result.summary.ok == 4, result.summary.errors
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["inputs"] for r in rows] == [3] * 4
    assert all(r["prompt_tokens"] == 21 and r["tokens"] == 0 for r in rows)  # 3 x 7 words
    received = sorted(r["monotonic"]["received"] for r in rows)
    done = sorted(r["monotonic"]["last_token"] for r in rows)
    records = sorted(result.records, key=lambda r: r.send_ns)
    for record, got in zip(records, received, strict=True):
        assert record.first_token_ns is None and record.ttft_ns is None  # no stream, no TTFT
        assert record.inputs == 3 and record.input_tokens == 21
        assert record.send_ns / 1e9 <= got
        # E2E holds the server's 70 ms, and the body comes soon after it was written
        assert record.e2e_ns / 1e9 >= 0.070
    ends = sorted(r.end_ns / 1e9 for r in records)
    assert all(0 <= end - finished < SOON for end, finished in zip(ends, done, strict=True))
    summary = result.summary
    assert summary.inputs_per_s == 12 / summary.duration_s
    assert summary.input_tokens_per_s == 84 / summary.duration_s
