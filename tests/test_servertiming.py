"""Server-reported timings and usage details, read from servers written here: llama.cpp's
`timings`, vLLM's per-request `metrics`, cached and reasoning tokens of every API, absent
fields, and hostile values (not numbers, negative, huge, non-finite) that must read as
"not said"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from scripted_server import Received, Reply, scripted, sse

from llmbench_async import RunConfig, run

LLAMA = {
    "cache_n": 60, "prompt_n": 8, "prompt_ms": 43.237, "prompt_per_token_ms": 5.4,
    "prompt_per_second": 185.0, "predicted_n": 3, "predicted_ms": 20.5,
    "predicted_per_token_ms": 6.8, "predicted_per_second": 146.3,
}  # fmt: skip
VLLM = {
    "time_to_first_token_ms": 85.2, "generation_time_ms": 40.5, "queue_time_ms": 12.3,
    "mean_itl_ms": 9.1, "tokens_per_second": 103.2,
}  # fmt: skip
USAGE = {
    "prompt_tokens": 68, "completion_tokens": 3, "total_tokens": 71,
    "prompt_tokens_details": {"cached_tokens": 60},
    "completion_tokens_details": {"reasoning_tokens": 1},
}  # fmt: skip


def _chat(extra: dict[str, Any], usage: dict[str, Any] | None = USAGE) -> Any:
    """A chat stream whose last chunk (finish reason) carries `extra`, then a usage chunk."""

    def script(got: Received) -> Reply:
        base = {"id": "chatcmpl-1", "model": "m"}
        if not got.json().get("stream"):
            message = {"role": "assistant", "content": "a b c"}
            body = {**base, "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
            body.update(extra)
            if usage is not None:
                body["usage"] = usage
            return Reply([(0.0, json.dumps(body).encode())], content_type="application/json")
        events = [
            (0.02, sse({**base, "choices": [{"index": 0, "delta": {"content": w}}]}))
            for w in ("a", "b", "c")
        ]
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra}
        events.append((0.0, sse(last)))
        if usage is not None:
            events.append((0.0, sse({**base, "choices": [], "usage": usage})))
        return Reply([*events, (0.0, b"data: [DONE]\n\n")])

    return script


@pytest.mark.parametrize("stream", [True, False])
def test_llama_cpp_timings_split_the_latency(tmp_path: Path, stream: bool) -> None:
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    with scripted(_chat({"timings": LLAMA})) as server:
        result = run_cli(
            "run", "--base-url", server.base_url, "--model", "m", "-n", "3", "-c", "1",
            "--stream" if stream else "--no-stream", "-o", str(out), "--json", str(summary),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    records = [json.loads(x) for x in out.read_text().splitlines()][1:-1]
    for r in records:
        timing = r["server_timing"]
        assert timing["source"] == "llama.cpp"
        assert timing["prefill_ms"] == 43.237 and timing["decode_ms"] == 20.5
        assert timing["cache_n"] == 60 and timing["prompt_n"] == 8 and "queue_ms" not in timing
        assert r["cached_tokens"] == 60 and r["reasoning_tokens"] == 1
        e2e_ms = (r["end_ns"] - r["send_ns"]) / 1e6
        split = r["latency_split"]
        assert set(split) == {"prefill_ms", "decode_ms", "rest_ms"}  # no queue: none invented
        assert split["rest_ms"] == pytest.approx(e2e_ms - 43.237 - 20.5)
    doc = json.loads(summary.read_text())
    assert doc["server_timing"]["reported"] == 3 and doc["server_timing"]["note"] is None
    assert doc["server_timing"]["cache_hit_rate"] == pytest.approx(100 * 60 / 68)
    assert doc["metrics"]["server_prefill_ms"]["p50"] == pytest.approx(43.237)
    assert doc["metrics"]["server_queue_ms"] is None
    assert "Server timing:" in result.stdout and "prefill 43.2" in result.stdout


def test_vllm_metrics_give_queue_prefill_and_decode() -> None:
    with scripted(_chat({"metrics": VLLM})) as server:
        result = run(RunConfig(base_url=server.base_url, model="m", n=2, concurrency=1))
    assert result.summary.ok == 2
    for record in result.records:
        timing = record.server_timing
        assert timing is not None and timing["source"] == "vllm"
        split = record.latency_split
        assert split is not None
        assert split["queue_ms"] == 12.3
        assert split["prefill_ms"] == pytest.approx(85.2 - 12.3)
        assert split["decode_ms"] == 40.5
        assert split["rest_ms"] == pytest.approx(record.e2e_ns / 1e6 - 85.2 - 40.5)
    assert result.summary.metrics["server_queue_ms"].mean == pytest.approx(12.3)


def test_absent_fields_say_not_reported(tmp_path: Path) -> None:
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    plain = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    with scripted(_chat({}, usage=plain)) as server:
        result = run_cli(
            "run", "--base-url", server.base_url, "--model", "m", "-n", "2",
            "-o", str(out), "--json", str(summary),
        )  # fmt: skip
    assert result.code == 0, result.stderr
    for r in [json.loads(x) for x in out.read_text().splitlines()][1:-1]:
        assert r["server_timing"] is None and r["latency_split"] is None
        assert r["cached_tokens"] is None
    doc = json.loads(summary.read_text())
    assert doc["server_timing"]["note"] == "server timings: not reported"
    assert doc["server_timing"]["cache_hit_rate"] is None
    assert doc["metrics"]["network_client_ms"] is None
    assert "server timings: not reported" in result.stdout
    assert "Cache hits" not in result.stdout


HOSTILE = [
    {"prompt_ms": "12", "predicted_ms": None},
    {"prompt_ms": -5, "predicted_ms": 1e300, "cache_n": -1},
    {"prompt_ms": 10**400, "predicted_ms": True, "prompt_n": 2**70},
    [1, 2, 3],
    "fast",
]


@pytest.mark.parametrize("timings", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_timings_are_not_readings(timings: Any) -> None:
    usage = {**USAGE, "prompt_tokens_details": {"cached_tokens": -3}}
    extra = {"timings": timings, "metrics": {"queue_time_ms": float("inf")}}
    with scripted(_chat(extra, usage)) as server:
        result = run(RunConfig(base_url=server.base_url, model="m", n=1))
    assert result.summary.ok == 1, result.summary.errors
    record = result.records[0]
    assert record.server_timing is None and record.latency_split is None
    assert record.cached_tokens is None


def _responses(got: Received) -> Reply:
    usage = {
        "input_tokens": 40, "output_tokens": 2, "total_tokens": 42,
        "input_tokens_details": {"cached_tokens": 32},
        "output_tokens_details": {"reasoning_tokens": 1},
    }  # fmt: skip
    done = {"id": "resp_1", "model": "m", "status": "completed", "usage": usage}
    return Reply([
        (0.0, sse({"type": "response.output_text.delta", "delta": "hi"})),
        (0.0, sse({"type": "response.completed", "response": done}, "response.completed")),
    ])  # fmt: skip


def _messages(got: Received) -> Reply:
    usage = {"input_tokens": 4, "cache_read_input_tokens": 30, "output_tokens": 1}
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": usage}}
    delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}}
    stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}
    return Reply([
        (0.0, sse(start)), (0.0, sse(delta)), (0.0, sse(stop)),
        (0.0, sse({"type": "message_stop"})),
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("api", "script", "cached", "prompt", "reasoning"),
    [("responses", _responses, 32, 40, 1), ("messages", _messages, 30, 34, None)],
)
def test_cached_tokens_of_other_apis(
    api: str, script: Any, cached: int, prompt: int, reasoning: int | None
) -> None:
    with scripted(script) as server:
        result = run(RunConfig(base_url=server.base_url, model="m", n=2, api=api))  # type: ignore[arg-type]
    assert result.summary.ok == 2, result.summary.errors
    for record in result.records:
        assert record.cached_tokens == cached and record.input_tokens == prompt
        assert record.reasoning_tokens == reasoning
        assert record.server_timing is None  # usage details are no timing
    assert result.summary.cache_hit_rate == pytest.approx(100 * cached / prompt)
