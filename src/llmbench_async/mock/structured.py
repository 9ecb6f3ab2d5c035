"""Structured answers: a tool call when the request offers tools, schema-shaped JSON when it
asks for a `response_format` (chat) or `text.format` (Responses); valid, or invalid at
`invalid_output_rate` (drawn with the seed, in request order). Also the images a request
carries, counted for the truth log.

Which tool: the one `tool_choice` names, else the first; `tool_choice` none gets plain text.
The JSON is a sample of the schema: `const`, the first `enum` value, the first branch of
`anyOf` / `oneOf`, every property, `minItems` items (at least one), strings of `minLength`
(at least one) `x`, numbers at their lower bound. `pattern` and `format` are not honoured:
give schemas without them for answers meant to be valid. An invalid answer breaks the JSON
(cut in half) or the schema (a required property left out, or a value of the wrong type),
one or the other at random; a whole Messages body, whose `input` is an object, always
breaks the schema.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Structured", "count_images", "plan_structured", "sample"]

_MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class Structured:
    """The structured answer of one response: a tool call or a JSON reply, as text."""

    kind: Literal["tool", "json"]
    text: str  # the arguments (tool) or the reply (json), exactly as sent
    valid: bool
    name: str = ""  # the tool called
    call_id: str = ""
    value: Any = None  # the arguments as an object (a whole Messages body's `input`)

    def pieces(self, n: int) -> tuple[str, ...]:
        """The text in `n` non-empty pieces, one a token (padded with trailing spaces)."""
        text = self.text.ljust(n)
        size = len(text)
        return tuple(text[k * size // n : (k + 1) * size // n] for k in range(n))


def _tools(body: dict[str, Any], api: str) -> list[tuple[str, Any]]:
    """(name, parameters schema) of each tool the request offers, in the API's shape."""
    out = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        if api == "messages":
            name, schema = tool.get("name"), tool.get("input_schema")
        elif api == "responses":
            name, schema = tool.get("name"), tool.get("parameters")
        else:
            function = tool.get("function")
            function = function if isinstance(function, dict) else {}
            name, schema = function.get("name"), function.get("parameters")
        if isinstance(name, str):
            out.append((name, schema if isinstance(schema, dict) else {}))
    return out


def _chosen(body: dict[str, Any], tools: list[tuple[str, Any]]) -> tuple[str, Any] | None:
    """The tool to call: the one tool_choice names, else the first; None for `none`."""
    choice = body.get("tool_choice", "auto")
    name = None
    if isinstance(choice, dict):
        if choice.get("type") == "none":
            return None
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
    elif choice == "none":
        return None
    for tool in tools:
        if name is None or tool[0] == name:
            return tool
    return tools[0] if tools else None


def _format_schema(body: dict[str, Any], api: str) -> Any:
    """The schema a JSON reply must match ({"type": "object"} for json_object), or None."""
    if api == "chat":
        shape = body.get("response_format")
    elif api == "responses":
        text = body.get("text")
        shape = text.get("format") if isinstance(text, dict) else None
    else:
        return None
    if not isinstance(shape, dict):
        return None
    if shape.get("type") == "json_object":
        return {"type": "object"}
    if shape.get("type") == "json_schema":
        inner = shape.get("json_schema") if api == "chat" else shape
        schema = inner.get("schema") if isinstance(inner, dict) else None
        return schema if isinstance(schema, dict) else {}
    return None


def plan_structured(
    body: dict[str, Any], api: str, rng: random.Random, invalid_rate: float, stream: bool
) -> Structured | None:
    """The structured answer the request asks for, or None (plain text; completions and
    embeddings always)."""
    if api not in ("chat", "responses", "messages"):
        return None
    tools = _tools(body, api)
    tool = _chosen(body, tools) if tools else None
    schema = tool[1] if tool is not None else _format_schema(body, api)
    if schema is None:
        return None
    value = sample(schema)
    invalid = bool(invalid_rate) and rng.random() < invalid_rate
    text = json.dumps(value)
    whole_messages = api == "messages" and not stream
    if whole_messages and not _breakable(schema):
        invalid = False  # an object `input` cannot break a schema that allows anything
    if invalid:
        if not whole_messages and (rng.random() < 0.5 or not _breakable(schema)):
            text = "{" + text[: len(text) // 2]  # never valid JSON
        else:
            value = _broken(schema, value)
            text = json.dumps(value)
    if tool is None:
        return Structured("json", text, not invalid)
    call_id = ("toolu_" if api == "messages" else "call_") + uuid.uuid4().hex[:24]
    return Structured("tool", text, not invalid, tool[0], call_id, value)


def _breakable(schema: Any) -> bool:
    return isinstance(schema, dict) and ("type" in schema or bool(schema.get("required")))


def _broken(schema: dict[str, Any], value: Any) -> Any:
    """A value that breaks `schema`: a required property left out, or the wrong type."""
    required = schema.get("required")
    if isinstance(value, dict) and isinstance(required, list) and required:
        return {k: v for k, v in value.items() if k != required[0]}
    return {"unexpected": True} if _first_type(schema) == "array" else [value]


def _first_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema:
            return "array"
    return kind if isinstance(kind, str) else None


def sample(schema: Any, depth: int = 0) -> Any:
    """A value that matches `schema` (the subset described in the module docstring)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return {}
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return sample(schema[key][0], depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for sub in schema["allOf"]:
            if isinstance(sub, dict):
                merged.update(sub)
        return sample(merged, depth + 1)
    kind = _first_type(schema) or "object"
    if kind == "object":
        return _sample_object(schema, depth)
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        count = min(count, int(schema.get("maxItems", count)))
        return [sample(schema.get("items", {}), depth + 1) for _ in range(count)]
    if kind == "string":
        length = max(int(schema.get("minLength", 1)), 1)
        return "x" * min(length, int(schema.get("maxLength", length)))
    if kind in ("integer", "number"):
        return _sample_number(schema, kind == "integer")
    return True if kind == "boolean" else None


def _sample_object(schema: dict[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    value = {name: sample(sub, depth + 1) for name, sub in properties.items()}
    for name in schema.get("required") or ():
        if isinstance(name, str) and name not in value:
            value[name] = "x"
    return value


def _sample_number(schema: dict[str, Any], integer: bool) -> float | int:
    low = schema.get("minimum")
    if low is None and schema.get("exclusiveMinimum") is not None:
        low = schema["exclusiveMinimum"] + (1 if integer else 0.5)
    if low is None:
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        low = min(0, high - 1) if isinstance(high, int | float) else 0
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        low = step * math.ceil(low / step)
    return math.ceil(low) if integer else float(low)


def _data_bytes(b64: str) -> int:
    """Bytes a base64 text decodes to (without decoding it)."""
    text = b64.strip()
    return len(text) * 3 // 4 - (len(text) - len(text.rstrip("=")))


def _image_part(part: Any) -> int | None:
    """The bytes of an image content part of any API (None: not an image part)."""
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind == "image_url":  # chat
        url = part.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
    elif kind == "input_image":  # Responses
        url = part.get("image_url")
    elif kind == "image":  # Messages
        source = part.get("source")
        data = source.get("data") if isinstance(source, dict) else None
        return _data_bytes(data) if isinstance(data, str) else 0
    else:
        return None
    if isinstance(url, str) and url.startswith("data:") and "," in url:
        return _data_bytes(url.split(",", 1)[1])
    return 0


def count_images(body: dict[str, Any], api: str) -> tuple[int, int]:
    """(images, their bytes) in a request's messages (chat, Messages) or input (Responses)."""
    items = body.get("input") if api == "responses" else body.get("messages")
    count = size = 0
    for item in items if isinstance(items, list) else ():
        content = item.get("content") if isinstance(item, dict) else None
        for part in content if isinstance(content, list) else ():
            got = _image_part(part)
            if got is not None:
                count += 1
                size += got
    return count, size
