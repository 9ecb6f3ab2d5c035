"""mock/responses.py: the Responses API's events.
Each checked over real loopback sockets."""

from __future__ import annotations

from pathlib import Path

import httpx
from mockwire import (
    named_events,
    on_time,
    origin,
    truth,
)

from llmbench_async.mock import MockConfig, MockProcess


def test_responses_stream_events_usage_and_timing(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    config = MockConfig(ttft_ms=100, itl_ms=20, tokens=6, reasoning_tokens=2, log_path=str(log))
    body = {"model": "mock-model", "input": [{"role": "user", "content": "a b c"}], "stream": True}
    with MockProcess(config) as mock, httpx.Client(base_url=origin(mock), timeout=10) as client:
        full = client.post("/v1/responses", json=body)
        cut = client.post("/v1/responses", json={**body, "max_output_tokens": 3})
        whole = client.post("/v1/responses", json={**body, "stream": False, "instructions": "x"})
    events = named_events(full.text)
    names = [name for name, _ in events]
    assert names[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert names.count("response.reasoning_text.delta") == 2
    assert names.count("response.output_text.delta") == 6
    assert names[-1] == "response.completed" and "data: [DONE]" not in full.text
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(data["type"] == name for name, data in events)
    text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    final = events[-1][1]["response"]
    assert final["status"] == "completed"
    assert final["output"][-1]["content"][0]["text"] == text
    usage = {"input_tokens": 3, "output_tokens": 8, "total_tokens": 11}
    assert {k: final["usage"][k] for k in usage} == usage
    assert final["usage"]["output_tokens_details"] == {"reasoning_tokens": 2}
    cut_events = named_events(cut.text)
    assert [n for n, _ in cut_events].count("response.output_text.delta") == 3
    assert cut_events[-1][0] == "response.incomplete"
    assert cut_events[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert whole.json()["usage"]["input_tokens"] == 4  # "a b c" and the instructions
    rows = truth(log)
    assert [r["path"] for r in rows] == ["/v1/responses"] * 3
    assert rows[0]["tokens"] == 8 and rows[0]["reasoning_tokens"] == 2
    assert on_time(rows[0]["first_token"] - rows[0]["received"], 0.100)
    assert on_time(rows[0]["last_token"] - rows[0]["received"], 0.240)
