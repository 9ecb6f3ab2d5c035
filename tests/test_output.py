"""wire/output.py: tool calls and JSON replies assembled from each API's events and bodies,
and judged against their schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmbench_async.wire.output import OutputCheck, OutputCollector

PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
TOOLS = OutputCheck(tools={"get_weather": PARAMS, "other": {"type": "object"}}, tool_choice="auto")


def _events(collector: OutputCollector, events: list[dict[str, Any]]) -> OutputCollector:
    for event in events:
        collector.event(json.dumps(event).encode())
    return collector


def _chat_call(pieces: list[str], name: str = "get_weather") -> list[dict[str, Any]]:
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name}}
    out: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"tool_calls": [first]}}]}]
    for piece in pieces:
        call = {"index": 0, "function": {"arguments": piece}}
        out.append({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    return out


def test_chat_arguments_are_assembled_from_fragments() -> None:
    got = _events(OutputCollector("chat"), _chat_call(['{"ci', 'ty": "Os', 'lo"}']))
    assert TOOLS.verdict(got) is None
    bad = _events(OutputCollector("chat"), _chat_call(['{"town":', ' "Oslo"}']))
    assert "missing required city" in (TOOLS.verdict(bad) or "")
    broken = _events(OutputCollector("chat"), _chat_call(['{"city": "Os']))
    assert "not valid JSON" in (TOOLS.verdict(broken) or "")


def test_the_legacy_function_call_is_read() -> None:
    pieces = [{"name": "get_weather", "arguments": '{"ci'}, {"arguments": 'ty": "x"}'}]
    events = [{"choices": [{"delta": {"function_call": p}}]} for p in pieces]
    assert TOOLS.verdict(_events(OutputCollector("chat"), events)) is None


def test_two_parallel_chat_calls_are_each_checked() -> None:
    calls = [
        {"index": 0, "function": {"name": "get_weather", "arguments": '{"city":"a"}'}},
        {"index": 1, "function": {"name": "get_weather", "arguments": "{}"}},
    ]
    got = _events(OutputCollector("chat"), [{"choices": [{"delta": {"tool_calls": calls}}]}])
    assert "missing required city" in (TOOLS.verdict(got) or "")


@pytest.mark.parametrize(
    ("choice", "events", "says"),
    [
        ("required", [{"choices": [{"delta": {"content": "hi"}}]}], "no tool call"),
        ("other", _chat_call(['{"city":"x"}']), "tool_choice names 'other'"),
        ("none", _chat_call(['{"city":"x"}']), "no tool may be called"),
        ("auto", _chat_call(['{"city":"x"}'], name="nope"), "unknown tool 'nope'"),
    ],
)
def test_tool_choice_is_enforced(choice: str, events: list[dict[str, Any]], says: str) -> None:
    check = OutputCheck(tools=TOOLS.tools, tool_choice=choice)
    assert says in (check.verdict(_events(OutputCollector("chat"), events)) or "")


def test_auto_accepts_a_text_reply() -> None:
    got = _events(OutputCollector("chat"), [{"choices": [{"delta": {"content": "hi"}}]}])
    assert TOOLS.verdict(got) is None


def test_responses_events_and_done_arguments() -> None:
    item = {"type": "function_call", "name": "get_weather", "call_id": "c", "arguments": ""}
    events = [
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"ci'},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": 'ty":1}'},
    ]
    got = _events(OutputCollector("responses"), events)
    assert "expected string, got integer" in (TOOLS.verdict(got) or "")
    # the .done event carries the whole arguments: they replace the fragments
    done = {"type": "response.function_call_arguments.done", "output_index": 0}
    _events(got, [{**done, "arguments": '{"city":"x"}'}])
    assert TOOLS.verdict(got) is None


def test_messages_input_json_deltas_and_whole_body() -> None:
    block = {"type": "tool_use", "id": "t", "name": "get_weather", "input": {}}
    events = [
        {"type": "content_block_start", "index": 0, "content_block": block},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "x"}'},
        },
    ]
    assert TOOLS.verdict(_events(OutputCollector("messages"), events)) is None
    body = {"content": [{**block, "input": {"city": 3}}], "stop_reason": "tool_use"}
    whole = OutputCollector("messages")
    whole.body(json.dumps(body).encode())
    assert "expected string" in (TOOLS.verdict(whole) or "")


def test_json_reply_against_a_schema_and_json_object() -> None:
    schema = OutputCheck(schema=PARAMS)
    chat = OutputCollector("chat")
    chat.body(json.dumps({"choices": [{"message": {"content": '{"city": "x"}'}}]}).encode())
    assert schema.verdict(chat) is None
    text = OutputCollector("responses")
    delta = {"type": "response.output_text.delta", "delta": "[1]"}
    _events(text, [delta])
    assert "expected object, got array" in (OutputCheck(json_object=True).verdict(text) or "")
    empty = OutputCollector("chat")
    assert "empty, not JSON" in (schema.verdict(empty) or "")


def test_hostile_arguments_are_bounded() -> None:
    deep = "[" * 5000 + "]" * 5000
    got = _events(OutputCollector("chat"), _chat_call([deep]))
    assert "nested deeper" in (TOOLS.verdict(got) or "")
    nan = _events(OutputCollector("chat"), _chat_call(['{"city": NaN}']))
    assert "not valid JSON" in (TOOLS.verdict(nan) or "")
    calls = [{"index": i, "function": {"name": "other", "arguments": "{}"}} for i in range(500)]
    many = _events(OutputCollector("chat"), [{"choices": [{"delta": {"tool_calls": calls}}]}])
    assert len(many.calls) == 128
    assert "128 tool calls" in (TOOLS.verdict(many) or "")
