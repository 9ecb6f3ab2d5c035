"""mock/structured.py: the mock's schema samples are valid by our validator, its broken
answers are not, the draw is seeded, and images are counted per API."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest

from llmbench_async.mock.structured import count_images, plan_structured, sample
from llmbench_async.wire.schema import check_schema, validate

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 3, "maximum": 9},
            "x": {"type": "number", "exclusiveMinimum": 1},
            "m": {"type": "integer", "multipleOf": 5, "minimum": 7},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2},
            "name": {"type": "string", "minLength": 4, "maxLength": 6},
            "maybe": {"type": ["null", "boolean"]},
            "pick": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "fixed": {"const": {"k": [1]}},
        },
        "required": ["n", "x", "tags", "name", "other"],
        "additionalProperties": False,
    },
    {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "boolean"}}}},
    {"allOf": [{"type": "object"}, {"required": ["z"]}]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_samples_match_their_schema(schema: dict[str, Any]) -> None:
    if schema.get("additionalProperties") is False:  # `other` is required, not a property
        schema = {**schema, "properties": {**schema["properties"], "other": {}}}
    check_schema(schema)
    assert validate(sample(schema), schema) is None


def _body(api: str, schema: dict[str, Any]) -> dict[str, Any]:
    if api == "messages":
        return {"tools": [{"name": "f", "input_schema": schema}]}
    if api == "responses":
        return {"tools": [{"type": "function", "name": "f", "parameters": schema}]}
    return {"tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}]}


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
@pytest.mark.parametrize("stream", [True, False])
def test_invalid_answers_are_invalid_and_valid_ones_valid(api: str, stream: bool) -> None:
    schema = SCHEMAS[0]
    rng = random.Random(1)
    seen = set()
    for _ in range(40):
        answer = plan_structured(_body(api, schema), api, rng, 0.5, stream)
        assert answer is not None and answer.kind == "tool" and answer.name == "f"
        try:
            value = json.loads(answer.text)
            problem = validate(value, schema)
        except ValueError:
            problem = "not JSON"
        assert (problem is None) == answer.valid, answer.text
        seen.add(answer.valid)
    assert seen == {True, False}


def test_the_draw_is_seeded_and_only_when_asked() -> None:
    body = _body("chat", SCHEMAS[0])
    draws = []
    for _ in range(2):
        rng = random.Random(9)
        answers = [plan_structured(body, "chat", rng, 0.5, True) for _ in range(20)]
        draws.append([(a.valid, a.text) for a in answers if a is not None])
    assert draws[0] == draws[1] and len(draws[0]) == 20
    rng = random.Random(4)
    plan_structured(body, "chat", rng, 0.0, True)  # no rate: no draw
    assert rng.random() == random.Random(4).random()
    assert plan_structured({}, "chat", rng, 0.5, True) is None
    assert plan_structured(body, "completions", rng, 0.5, True) is None
    none = {**body, "tool_choice": "none"}
    assert plan_structured(none, "chat", rng, 0.5, True) is None


def test_response_format_shapes() -> None:
    rng = random.Random(0)
    chat = {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMAS[0]}}}
    answer = plan_structured(chat, "chat", rng, 0.0, True)
    assert answer is not None and answer.kind == "json"
    assert validate(json.loads(answer.text), SCHEMAS[0]) is None
    responses = {"text": {"format": {"type": "json_object"}}}
    answer = plan_structured(responses, "responses", rng, 0.0, True)
    assert answer is not None and json.loads(answer.text) == {}


def test_images_are_counted_in_each_shape() -> None:
    data = base64.b64encode(b"x" * 10).decode()
    uri = f"data:image/png;base64,{data}"
    chat = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}]}
        ]
    }
    responses = {
        "input": [{"role": "user", "content": [{"type": "input_image", "image_url": uri}]}]
    }
    source = {"type": "base64", "media_type": "image/png", "data": data}
    messages = {"messages": [{"role": "user", "content": [{"type": "image", "source": source}]}]}
    assert count_images(chat, "chat") == (1, 10)
    assert count_images(responses, "responses") == (1, 10)
    assert count_images(messages, "messages") == (1, 10)
    assert count_images({"messages": "hostile"}, "chat") == (0, 0)
