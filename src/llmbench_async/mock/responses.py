"""OpenAI's Responses API (``POST /v1/responses``): its streamed events and its whole body.

A stream: ``response.created``, ``response.in_progress``; with reasoning, a reasoning item
whose tokens are ``response.reasoning_text.delta`` events; then a message item whose tokens
are ``response.output_text.delta`` events; then ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done`` and ``response.completed``
(``response.incomplete`` when max_output_tokens cut it) with the response and its usage.
Every event carries its ``sequence_number``. There is no ``[DONE]``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .events import WORDS_JSON, Framing, content_text, reasoning_text, sse
from .plan import Plan

__all__ = ["ResponsesEvents", "responses_body", "usage_object"]

_DELTA: Final = b"response.output_text.delta"
_THINK: Final = b"response.reasoning_text.delta"


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _status(plan: Plan) -> str:
    return "incomplete" if plan.finish_reason == "length" else "completed"


def usage_object(plan: Plan) -> dict[str, Any] | None:
    if not plan.include_usage:
        return None
    p, n = plan.prompt_tokens, plan.total
    return {
        "input_tokens": p,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": n,
        "output_tokens_details": {"reasoning_tokens": plan.reasoning},
        "total_tokens": p + n,
    }


def _items(plan: Plan, done: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reasoning item and the message item, as added (empty) or done (full)."""
    status = "completed" if done else "in_progress"
    text = content_text(plan.tokens) if done else ""
    parts = [{"type": "reasoning_text", "text": reasoning_text(plan.reasoning)}] if done else []
    reasoning = {"id": "rs_" + plan.rid[5:], "type": "reasoning", "summary": [], "content": parts}
    output = [{"type": "output_text", "text": text, "annotations": []}] if done else []
    message: dict[str, Any] = {"id": "msg_" + plan.rid[5:], "type": "message"}
    message |= {"status": status, "role": "assistant", "content": output}
    return reasoning, message


def _response(plan: Plan, done: bool) -> dict[str, Any]:
    """The response object: in progress (empty output) or finished (output and usage)."""
    status = _status(plan) if done else "in_progress"
    incomplete = {"reason": "max_output_tokens"} if done and status == "incomplete" else None
    output: list[dict[str, Any]] = []
    if done:
        reasoning, message = _items(plan, True)
        output = [reasoning, message] if plan.reasoning else [message]
    return {
        "id": plan.rid,
        "object": "response",
        "created_at": plan.created,
        "status": status,
        "incomplete_details": incomplete,
        "model": plan.model,
        "output": output,
        "usage": usage_object(plan) if done else None,
    }


class ResponsesEvents:
    """The events of one streamed Responses API response."""

    __slots__ = ("_frame", "_ids", "_msg_index", "_text_seq0", "plan")

    def __init__(self, plan: Plan, framing: Framing) -> None:
        self.plan = plan
        self._frame = framing
        r = plan.reasoning
        # sequence numbers: created 0, in_progress 1; reasoning item 2, its tokens 3..;
        # then (reasoning done, item done,) message item added, part added, text tokens
        self._text_seq0 = 4 if not r else 7 + r
        self._msg_index = 1 if r else 0
        self._ids = (b"rs_" + plan.rid[5:].encode(), b"msg_" + plan.rid[5:].encode())

    def _event(self, name: str, seq: int, fields: dict[str, Any]) -> bytes:
        return sse(name.encode(), _json({"type": name, "sequence_number": seq, **fields}))

    def head(self) -> bytes:
        plan = self.plan
        response = _response(plan, False)
        out = self._event("response.created", 0, {"response": response})
        out += self._event("response.in_progress", 1, {"response": response})
        out += self._item_added(2, 0) if plan.reasoning else self._message_added(2)
        return self._frame(out)

    def _item_added(self, seq: int, index: int) -> bytes:
        item = _items(self.plan, False)[index]
        return self._event("response.output_item.added", seq, {"output_index": index, "item": item})

    def _message_added(self, seq: int) -> bytes:
        index = self._msg_index
        part = {"type": "output_text", "text": "", "annotations": []}
        where = {"item_id": self._ids[1].decode(), "output_index": index, "content_index": 0}
        return self._item_added(seq, index) + self._event(
            "response.content_part.added", seq + 1, {**where, "part": part}
        )

    def _before(self, k: int) -> bytes:
        """Events that go just before token k: the switch from reasoning to the message."""
        r = self.plan.reasoning
        if not r or k != r:
            return b""
        seq = 3 + r
        where = {"item_id": self._ids[0].decode(), "output_index": 0, "content_index": 0}
        text = reasoning_text(r)
        out = self._event("response.reasoning_text.done", seq, {**where, "text": text})
        item = _items(self.plan, True)[0]
        out += self._event("response.output_item.done", seq + 1, {"output_index": 0, "item": item})
        return out + self._message_added(seq + 2)

    def _open(self, k: int) -> bytes:
        """Token k's event up to its delta string's opening quote (exclusive)."""
        r = self.plan.reasoning
        if k < r:
            name, seq, item, index = _THINK, 3 + k, self._ids[0], 0
        else:
            name, seq, item, index = _DELTA, self._text_seq0 + k - r, self._ids[1], self._msg_index
        return (
            b'event: %b\ndata: {"type":"%b","sequence_number":%d,"item_id":"%b",'
            % (
                name,
                name,
                seq,
                item,
            )
            + b'"output_index":%d,"content_index":0,"delta":' % index
        )

    def token(self, k: int) -> bytes:
        r = self.plan.reasoning
        text = b'" think%d"' % (k + 1) if k < r else WORDS_JSON[(k - r) % len(WORDS_JSON)]
        return self._frame(self._before(k) + self._open(k) + text + b',"logprobs":[]}\n\n')

    def huge(self, k: int) -> tuple[bytes, bytes]:
        return self._before(k) + self._open(k) + b'"', b'","logprobs":[]}\n\n'

    def tail(self) -> bytes:
        plan = self.plan
        seq = self._text_seq0 + plan.tokens
        where = {"item_id": self._ids[1].decode(), "output_index": self._msg_index}
        text = content_text(plan.tokens)
        part = {"type": "output_text", "text": text, "annotations": []}
        out = self._event(
            "response.output_text.done", seq, {**where, "content_index": 0, "text": text}
        )
        out += self._event(
            "response.content_part.done", seq + 1, {**where, "content_index": 0, "part": part}
        )
        item = _items(plan, True)[1]
        out += self._event(
            "response.output_item.done", seq + 2, {"output_index": self._msg_index, "item": item}
        )
        if plan.done:
            name = "response.incomplete" if _status(plan) == "incomplete" else "response.completed"
            out += self._event(name, seq + 3, {"response": _response(plan, True)})
        return self._frame(out)

    def error(self, k: int) -> bytes:
        r = self.plan.reasoning
        seq = 3 + k if k < r else self._text_seq0 + k - r
        fields = {"code": "server_error", "message": "Injected mid-stream error.", "param": None}
        return self._frame(self._event("error", seq, fields))


def responses_body(plan: Plan) -> bytes:
    """The non-streaming Responses API body."""
    return _json(_response(plan, True))
