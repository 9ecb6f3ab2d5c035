"""mock/tool_events.py: the structured streams and bodies of each API, read back by the
client's own parser (wire/output.py): the pieces reassemble to the answer, the tool is
named, the finish is the API's, and every token event carries output."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from llmbench_async.mock import MockConfig
from llmbench_async.mock.encode import stream_events, whole_body
from llmbench_async.mock.events import identity
from llmbench_async.mock.plan import Plan, plan_completion
from llmbench_async.wire.apis import api_spec
from llmbench_async.wire.output import OutputCheck, OutputCollector

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHECK = OutputCheck(tools={"get_weather": PARAMS}, tool_choice="required")


def _plan(api: str, stream: bool, tokens: int = 5, rate: float = 0.0) -> Plan:
    tool: dict[str, Any]
    if api == "messages":
        tool = {"name": "get_weather", "input_schema": PARAMS}
    elif api == "responses":
        tool = {"type": "function", "name": "get_weather", "parameters": PARAMS}
    else:
        tool = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMS}}
    body = {"model": "mock-model", "messages": [], "input": [], "max_tokens": 100}
    body |= {"max_output_tokens": 100, "stream": stream, "tools": [tool]}
    config = MockConfig(tokens=tokens, invalid_output_rate=rate, seed=2)
    plan = plan_completion(
        json.dumps(body).encode(), api=api, config=config, rng=random.Random(2), wall_now=0
    )
    assert isinstance(plan, Plan) and plan.structured is not None
    return plan


def _payloads(raw: bytes) -> list[bytes]:
    out = []
    for event in raw.split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                out.append(line[6:])
    return out


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
@pytest.mark.parametrize("tokens", [1, 5, 40])
def test_streams_reassemble_to_a_valid_call(api: str, tokens: int) -> None:
    plan = _plan(api, True, tokens)
    events = stream_events(plan, identity)
    head, tail = events.head(), events.tail()
    token_events = [events.token(k) for k in range(plan.tokens)]
    collector = OutputCollector(api)
    for data in _payloads(head + b"".join(token_events) + tail):
        collector.event(data)
    assert CHECK.verdict(collector) is None
    assert plan.structured is not None
    assert collector.calls[0].arguments.getvalue().strip() == plan.structured.text
    spec = api_spec(api)
    assert not any(spec.parse_event(d).output for d in _payloads(head))  # TTFT at token 0
    for event in token_events:
        (data,) = _payloads(event)[-1:]
        assert spec.parse_event(data).output
    finishes = [spec.parse_event(d).finish_reason for d in _payloads(tail + token_events[-1])]
    want = {"chat": "tool_calls", "responses": "completed", "messages": "tool_use"}[api]
    assert want in finishes


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_whole_bodies_carry_the_call(api: str) -> None:
    plan = _plan(api, False)
    body = whole_body(plan)
    collector = OutputCollector(api)
    collector.body(body)
    assert CHECK.verdict(collector) is None
    parsed = api_spec(api).parse_body(body)
    assert parsed.has_output and parsed.error is None and parsed.finish_reason


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_an_invalid_answer_reads_back_invalid(api: str) -> None:
    plan = _plan(api, True, rate=1.0)
    events = stream_events(plan, identity)
    raw = events.head() + b"".join(events.token(k) for k in range(plan.tokens)) + events.tail()
    collector = OutputCollector(api)
    for data in _payloads(raw):
        collector.event(data)
    assert plan.structured is not None and not plan.structured.valid
    assert CHECK.verdict(collector) is not None
