"""The streams and whole bodies of structured answers (`structured.Structured`), per API.

Each content token carries one piece of the answer's text: chat's
`delta.tool_calls[0].function.arguments` (the first also names the tool and its id) or
`delta.content`; Responses' `response.function_call_arguments.delta` or
`response.output_text.delta`; Messages' `input_json_delta`. Finish: chat `tool_calls` (a
JSON reply: `stop`), Responses `completed`, Messages `tool_use`.
"""

from __future__ import annotations

import json
from typing import Any

from .events import Events, Framing, sse, usage
from .messages import ERROR_EVENT, block_stop, message_object
from .plan import Plan
from .responses import usage_object as responses_usage
from .structured import Structured

__all__ = [
    "ChatStructuredEvents",
    "MessagesStructuredEvents",
    "ResponsesStructuredEvents",
    "structured_body",
]


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _answer(plan: Plan) -> Structured:
    assert plan.structured is not None
    return plan.structured


class ChatStructuredEvents(Events):
    """A chat stream whose tokens are tool-call argument pieces or JSON reply pieces."""

    __slots__ = ("_close_end", "_close_mid", "_opens", "_pieces")

    def __init__(self, plan: Plan, framing: Framing) -> None:
        super().__init__(plan, framing)
        answer = _answer(plan)
        self._pieces = answer.pieces(plan.tokens)
        common = b"data: " + self._common
        if answer.kind == "tool":
            call = b'[{"index":0,"delta":{"tool_calls":[{"index":0,'
            named = b'"id":%b,"type":"function","function":{"name":%b,"arguments":' % (
                _json(answer.call_id),
                _json(answer.name),
            )
            self._opens = (common + call + named, common + call + b'"function":{"arguments":')
            close, reason = b"}}]}", b'"tool_calls"'
        else:
            text = common + b'[{"index":0,"delta":{"content":'
            self._opens = (text, text)
            close, reason = b"}", b'"stop"'
        self._close_mid = close + b',"logprobs":null,"finish_reason":null}]}\n\n'
        self._close_end = close + b',"logprobs":null,"finish_reason":%b}]}\n\n' % reason

    def _ends(self, k: int) -> tuple[bytes, bytes]:
        close = self._close_end if k == self.plan.tokens - 1 else self._close_mid
        return self._opens[0 if k == 0 else 1], close

    def token(self, k: int) -> bytes:
        opening, close = self._ends(k)
        return self._frame(opening + _json(self._pieces[k]) + close)

    def huge(self, k: int) -> tuple[bytes, bytes]:
        opening, close = self._ends(k)
        return opening + b'"', b'"' + close


class ResponsesStructuredEvents:
    """A Responses stream of one function_call item (argument deltas) or one message item
    whose text deltas are the JSON reply."""

    __slots__ = ("_frame", "_item_id", "_pieces", "_seq0", "_tool", "plan")

    def __init__(self, plan: Plan, framing: Framing) -> None:
        self.plan = plan
        self._frame = framing
        answer = _answer(plan)
        self._tool = answer.kind == "tool"
        self._pieces = answer.pieces(max(plan.tokens, 1))
        self._item_id = ("fc_" if self._tool else "msg_") + plan.rid[5:]
        self._seq0 = 3 if self._tool else 4  # created, in_progress, item added (, part added)

    def _event(self, name: str, seq: int, fields: dict[str, Any]) -> bytes:
        return sse(name.encode(), _json({"type": name, "sequence_number": seq, **fields}))

    def item(self, done: bool) -> dict[str, Any]:
        status = "completed" if done else "in_progress"
        text = "".join(self._pieces) if done else ""
        if self._tool:
            answer = _answer(self.plan)
            return {
                "id": self._item_id,
                "type": "function_call",
                "status": status,
                "call_id": answer.call_id,
                "name": answer.name,
                "arguments": text,
            }
        content = [{"type": "output_text", "text": text, "annotations": []}] if done else []
        return {
            "id": self._item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def response(self, done: bool) -> dict[str, Any]:
        plan = self.plan
        return {
            "id": plan.rid,
            "object": "response",
            "created_at": plan.created,
            "status": "completed" if done else "in_progress",
            "incomplete_details": None,
            "model": plan.model,
            "output": [self.item(True)] if done else [],
            "usage": responses_usage(plan) if done else None,
        }

    def head(self) -> bytes:
        response = self.response(False)
        out = self._event("response.created", 0, {"response": response})
        out += self._event("response.in_progress", 1, {"response": response})
        added = {"output_index": 0, "item": self.item(False)}
        out += self._event("response.output_item.added", 2, added)
        if not self._tool:
            part = {"type": "output_text", "text": "", "annotations": []}
            where = {"item_id": self._item_id, "output_index": 0, "content_index": 0}
            out += self._event("response.content_part.added", 3, {**where, "part": part})
        return self._frame(out)

    def _open(self, k: int) -> bytes:
        if self._tool:
            name, where = b"response.function_call_arguments.delta", b""
        else:
            name, where = b"response.output_text.delta", b'"content_index":0,'
        return (
            b'event: %b\ndata: {"type":"%b","sequence_number":%d,"item_id":"%b",'
            % (
                name,
                name,
                self._seq0 + k,
                self._item_id.encode(),
            )
            + b'"output_index":0,%b"delta":' % where
        )

    def token(self, k: int) -> bytes:
        return self._frame(self._open(k) + _json(self._pieces[k]) + b"}\n\n")

    def huge(self, k: int) -> tuple[bytes, bytes]:
        return self._open(k) + b'"', b'"}\n\n'

    def tail(self) -> bytes:
        seq = self._seq0 + self.plan.tokens
        text = "".join(self._pieces)
        where: dict[str, Any] = {"item_id": self._item_id, "output_index": 0}
        if self._tool:
            name = "response.function_call_arguments.done"
            out = self._event(name, seq, {**where, "arguments": text})
        else:
            part = {"type": "output_text", "text": text, "annotations": []}
            where["content_index"] = 0
            out = self._event("response.output_text.done", seq, {**where, "text": text})
            seq += 1
            out += self._event("response.content_part.done", seq, {**where, "part": part})
        done = {"output_index": 0, "item": self.item(True)}
        out += self._event("response.output_item.done", seq + 1, done)
        if self.plan.done:
            out += self._event("response.completed", seq + 2, {"response": self.response(True)})
        return self._frame(out)

    def error(self, k: int) -> bytes:
        fields = {"code": "server_error", "message": "Injected mid-stream error.", "param": None}
        return self._frame(self._event("error", self._seq0 + k, fields))


class MessagesStructuredEvents:
    """A Messages stream of one tool_use block whose tokens are `input_json_delta`s."""

    __slots__ = ("_frame", "_pieces", "plan")

    def __init__(self, plan: Plan, framing: Framing) -> None:
        self.plan = plan
        self._frame = framing
        self._pieces = _answer(plan).pieces(max(plan.tokens, 1))

    def head(self) -> bytes:
        answer = _answer(self.plan)
        start = {"type": "message_start", "message": message_object(self.plan, [], False)}
        block = {"type": "tool_use", "id": answer.call_id, "name": answer.name, "input": {}}
        opened = {"type": "content_block_start", "index": 0, "content_block": block}
        out = sse(b"message_start", _json(start)) + sse(b"content_block_start", _json(opened))
        return self._frame(out + sse(b"ping", b'{"type":"ping"}'))

    _OPEN = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"input_json_delta","partial_json":'
    )

    def token(self, k: int) -> bytes:
        return self._frame(self._OPEN + _json(self._pieces[k]) + b"}}\n\n")

    def huge(self, k: int) -> tuple[bytes, bytes]:
        return self._OPEN + b'"', b'"}}\n\n'

    def tail(self) -> bytes:
        plan = self.plan
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        }
        if plan.include_usage:
            delta["usage"] = {"input_tokens": plan.prompt_tokens, "output_tokens": plan.total}
        out = block_stop(0) + sse(b"message_delta", _json(delta))
        if plan.done:
            out += sse(b"message_stop", b'{"type":"message_stop"}')
        return self._frame(out)

    def error(self, k: int) -> bytes:
        return self._frame(ERROR_EVENT)


def structured_body(plan: Plan) -> bytes:
    """The whole (non-streamed) body of a structured answer, in the plan's API."""
    answer = _answer(plan)
    if plan.api == "responses":
        return _json(ResponsesStructuredEvents(plan, lambda b: b).response(True))
    if plan.api == "messages":
        block = {"type": "tool_use", "id": answer.call_id, "name": answer.name}
        whole = message_object(plan, [{**block, "input": answer.value}], True)
        return _json({**whole, "stop_reason": "tool_use"})
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    reason = "stop"
    if answer.kind == "tool":
        function = {"name": answer.name, "arguments": answer.text}
        call = {"id": answer.call_id, "type": "function", "function": function}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        reason = "tool_calls"
    body: dict[str, Any] = {
        "id": plan.rid,
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
    }
    if plan.include_usage:
        body["usage"] = json.loads(usage(plan))
    return _json(body)
