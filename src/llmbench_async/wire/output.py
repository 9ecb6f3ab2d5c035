"""Whether a reply is the structured output asked for: the tool calls of a `--tools` run and
the JSON of a `--response-format` run, assembled from the stream (or a whole body) of any
API and checked against their schemas. A reply that is not is an `invalid_output` failure.

Assembly, per API:
* chat: `choices[].delta.tool_calls[{index, id, function: {name, arguments}}]`, the
  arguments streamed as string fragments (or the legacy `delta.function_call`);
  `delta.content` for the JSON reply; a whole body's `message.tool_calls` and
  `message.content`;
* Responses: `response.output_item.added` / `.done` items of type `function_call`,
  `response.function_call_arguments.delta` / `.done`, `response.output_text.delta`; a whole
  body's `output` items;
* Messages: `content_block_start` blocks of type `tool_use`, `input_json_delta`
  fragments, `text_delta`; a whole body's `tool_use` blocks (their `input` object).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..inbound import InboundError, check_json, loads
from ..limits import MAX_RESPONSE_BYTES
from .schema import validate

__all__ = ["OutputCheck", "OutputCollector"]

_ANY_OBJECT: dict[str, Any] = {"type": "object"}
MAX_CALLS = 128  # tool calls kept per reply; more is invalid output


@dataclass(frozen=True, slots=True)
class OutputCheck:
    """What a valid reply is: tool calls to `tools` (name → parameters schema) under
    `tool_choice` (auto, required, none or a tool's name), and/or a reply text that is JSON
    matching `schema` (`json_object`: any JSON object)."""

    tools: Mapping[str, Any] = field(default_factory=dict)
    tool_choice: str = "auto"
    schema: Any = None
    json_object: bool = False

    def collector(self, api: str) -> OutputCollector:
        return OutputCollector(api)

    def verdict(self, got: OutputCollector) -> str | None:
        """Why the reply is not valid output (one line), or None when it is."""
        if got.overflow:
            return f"the reply is over {MAX_RESPONSE_BYTES >> 20} MiB or {MAX_CALLS} tool calls"
        calls = [got.calls[k] for k in sorted(got.calls)]
        if calls:
            if not self.tools or self.tool_choice == "none":
                return "a tool call, though no tool may be called"
            for call in calls:
                problem = self._call_problem(call)
                if problem is not None:
                    return problem
            return None
        if self.tools and self.tool_choice not in ("auto", "none"):
            return "no tool call, though tool_choice requires one"
        if self.schema is None and not self.json_object:
            return None
        return _json_problem(got.text.getvalue(), self.schema or _ANY_OBJECT, "the reply")

    def _call_problem(self, call: _Call) -> str | None:
        name = call.name
        if name is None or name not in self.tools:
            return f"a call to an unknown tool {str(name)[:60]!r}"
        if self.tool_choice not in ("auto", "required", "none") and name != self.tool_choice:
            return f"a call to tool {name[:60]!r}, though tool_choice names {self.tool_choice!r}"
        schema = self.tools[name]
        if call.input is not None:  # Messages: a whole body's input object
            try:
                check_json(call.input, f"tool {name[:60]!r} input")
            except InboundError as exc:
                return str(exc)
            problem = validate(call.input, schema)
            if problem is None:
                return None
            return f"tool {name[:60]!r} arguments: does not match the schema: {problem}"
        return _json_problem(call.arguments.getvalue(), schema, f"tool {name[:60]!r} arguments")


def _json_problem(text: str, schema: Any, what: str) -> str | None:
    if not text.strip():
        return f"{what}: empty, not JSON"
    try:
        value = loads(text, what)
    except InboundError as exc:
        return str(exc)
    problem = validate(value, schema)
    return None if problem is None else f"{what}: does not match the schema: {problem}"


@dataclass(slots=True)
class _Call:
    name: str | None = None
    arguments: io.StringIO = field(default_factory=io.StringIO)
    input: Any = None  # a whole Messages body's tool_use input (an object, not text)


class OutputCollector:
    """One attempt's reply, assembled event by event (or from a whole body)."""

    __slots__ = ("_api", "_size", "calls", "overflow", "text")

    def __init__(self, api: str) -> None:
        self._api = api
        self.text = io.StringIO()
        self.calls: dict[int, _Call] = {}
        self._size = 0
        self.overflow = False

    def _add(self, parts: io.StringIO, piece: Any) -> None:
        """Append a piece (a StringIO, not a list of pieces: a hostile stream of tiny pieces
        costs its characters, not an object each), within MAX_RESPONSE_BYTES in all."""
        if type(piece) is not str or not piece:
            return
        self._size += len(piece)
        if self._size > MAX_RESPONSE_BYTES:
            self.overflow = True
            return
        parts.write(piece)

    def _call(self, index: Any) -> _Call:
        key = index if type(index) is int else -1
        found = self.calls.get(key)
        if found is None:
            if len(self.calls) >= MAX_CALLS:  # a hostile stream of distinct indexes
                self.overflow = True
                return _Call()  # read, not kept
            found = self.calls[key] = _Call()
        return found

    def event(self, data: bytes) -> None:
        """One SSE data payload (anything that is not a JSON object is ignored here)."""
        obj = _object(data)
        if obj is None:
            return
        if self._api == "responses":
            self._responses_event(obj)
        elif self._api == "messages":
            self._messages_event(obj)
        else:
            for choice in _list(obj.get("choices")):
                delta = choice.get("delta") if type(choice) is dict else None
                if type(delta) is dict:
                    self._chat_message(delta)

    def body(self, data: bytes) -> None:
        """A whole response body."""
        obj = _object(data)
        if obj is None:
            return
        if self._api == "responses":
            for index, item in enumerate(_list(obj.get("output"))):
                self._responses_item(index, item, whole=True, body=True)
        elif self._api == "messages":
            for index, block in enumerate(_list(obj.get("content"))):
                self._messages_block(index, block, whole=True)
        else:
            for choice in _list(obj.get("choices")):
                message = choice.get("message") if type(choice) is dict else None
                if type(message) is dict:
                    self._chat_message(message)

    def _chat_message(self, delta: dict[str, Any]) -> None:
        self._add(self.text, delta.get("content"))
        for position, piece in enumerate(_list(delta.get("tool_calls"))):
            if type(piece) is dict:
                self._chat_function(piece.get("index", position), piece.get("function"))
        if "function_call" in delta:  # the legacy single call (`functions`)
            self._chat_function(0, delta["function_call"])

    def _chat_function(self, index: Any, function: Any) -> None:
        call = self._call(index)
        if type(function) is dict:
            name = function.get("name")
            if type(name) is str and name:
                call.name = name
            self._add(call.arguments, function.get("arguments"))

    def _responses_event(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        if kind == "response.output_text.delta":
            self._add(self.text, obj.get("delta"))
        elif kind in ("response.output_item.added", "response.output_item.done"):
            whole = kind.endswith(".done")
            self._responses_item(obj.get("output_index"), obj.get("item"), whole=whole)
        elif kind == "response.function_call_arguments.delta":
            self._add(self._call(obj.get("output_index")).arguments, obj.get("delta"))
        elif kind == "response.function_call_arguments.done":
            self._set_arguments(self._call(obj.get("output_index")), obj.get("arguments"))

    def _responses_item(self, index: Any, item: Any, *, whole: bool, body: bool = False) -> None:
        if type(item) is not dict:
            return
        if item.get("type") == "function_call":
            call = self._call(index)
            if type(item.get("name")) is str:
                call.name = item["name"]
            if whole or item.get("arguments"):
                self._set_arguments(call, item.get("arguments"))
        elif item.get("type") == "message" and body:  # a stream's text came as deltas
            for part in _list(item.get("content")):
                if type(part) is dict and part.get("type") == "output_text":
                    self._add(self.text, part.get("text"))

    def _set_arguments(self, call: _Call, arguments: Any) -> None:
        """The full arguments (a `.done` event or whole item): they replace the fragments."""
        if type(arguments) is str:
            self._size -= len(call.arguments.getvalue())
            call.arguments = io.StringIO()
            self._add(call.arguments, arguments)

    def _messages_event(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        if kind == "content_block_start":
            self._messages_block(obj.get("index"), obj.get("content_block"), whole=False)
        elif kind == "content_block_delta":
            delta = obj.get("delta")
            if type(delta) is not dict:
                return
            if delta.get("type") == "text_delta":
                self._add(self.text, delta.get("text"))
            elif delta.get("type") == "input_json_delta":
                self._add(self._call(obj.get("index")).arguments, delta.get("partial_json"))

    def _messages_block(self, index: Any, block: Any, *, whole: bool) -> None:
        if type(block) is not dict:
            return
        if block.get("type") == "text":
            self._add(self.text, block.get("text"))
        elif block.get("type") == "tool_use":
            call = self._call(index)
            if type(block.get("name")) is str:
                call.name = block["name"]
            given = block.get("input")
            if whole or (type(given) is dict and given):
                call.input = given


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


def _object(data: bytes) -> dict[str, Any] | None:
    """The JSON object `data` holds; None when it is not JSON or not an object (the
    protocol reader names such a payload; the output check only reads what it can)."""
    try:
        obj = orjson.loads(data)
    except ValueError:
        return None
    return obj if type(obj) is dict else None
