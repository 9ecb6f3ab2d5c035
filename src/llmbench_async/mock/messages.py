"""Anthropic's Messages API (``POST /v1/messages``): its streamed events and its whole body.

A stream: ``message_start`` (the message, with input usage), ``content_block_start``, a
``ping``; with reasoning, a ``thinking`` block whose tokens are ``thinking_delta``s, closed
before the ``text`` block; each token is a ``content_block_delta``; then
``content_block_stop``, ``message_delta`` (stop_reason ``end_turn`` or ``max_tokens``, and
usage) and ``message_stop``. The error event is ``event: error`` with
``{"type":"error","error":{"type":"overloaded_error",...}}``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .events import WORDS_JSON, Framing, content_text, reasoning_text, sse
from .plan import Plan, Refusal

__all__ = [
    "ERROR_EVENT",
    "MessagesEvents",
    "block_stop",
    "message_object",
    "messages_body",
    "messages_error_body",
]

_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
ERROR_EVENT: Final = sse(
    b"error",
    b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _stop_reason(plan: Plan) -> str:
    return "max_tokens" if plan.finish_reason == "length" else "end_turn"


def message_object(plan: Plan, content: list[dict[str, Any]], done: bool) -> dict[str, Any]:
    usage: dict[str, Any] = {"input_tokens": plan.prompt_tokens, "output_tokens": 1}
    if done:
        usage["output_tokens"] = plan.total
    message: dict[str, Any] = {
        "id": plan.rid,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": _stop_reason(plan) if done else None,
        "stop_sequence": None,
    }
    if plan.include_usage:
        message["usage"] = usage
    return message


def _block_start(index: int, thinking: bool) -> bytes:
    block = {"type": "thinking", "thinking": ""} if thinking else {"type": "text", "text": ""}
    data = {"type": "content_block_start", "index": index, "content_block": block}
    return sse(b"content_block_start", _json(data))


def block_stop(index: int) -> bytes:
    return sse(b"content_block_stop", b'{"type":"content_block_stop","index":%d}' % index)


class MessagesEvents:
    """The events of one streamed Anthropic Messages response."""

    __slots__ = ("_frame", "_index", "plan")

    def __init__(self, plan: Plan, framing: Framing) -> None:
        self.plan = plan
        self._frame = framing
        self._index = 1 if plan.reasoning else 0  # the text block's index

    def head(self) -> bytes:
        plan = self.plan
        start = {"type": "message_start", "message": message_object(plan, [], False)}
        out = sse(b"message_start", _json(start)) + _block_start(0, bool(plan.reasoning))
        return self._frame(out + sse(b"ping", b'{"type":"ping"}'))

    def _open(self, k: int) -> bytes:
        """Token k's events up to its text string's opening quote (exclusive)."""
        r = self.plan.reasoning
        before = block_stop(0) + _block_start(1, False) if r and k == r else b""
        kind, key, index = (
            (b"thinking_delta", b"thinking", 0) if k < r else (b"text_delta", b"text", self._index)
        )
        return before + (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
            b'"delta":{"type":"%b","%b":' % (index, kind, key)
        )

    def token(self, k: int) -> bytes:
        r = self.plan.reasoning
        text = b'" think%d"' % (k + 1) if k < r else WORDS_JSON[(k - r) % len(WORDS_JSON)]
        return self._frame(self._open(k) + text + b"}}\n\n")

    def huge(self, k: int) -> tuple[bytes, bytes]:
        return self._open(k) + b'"', b'"}}\n\n'

    def tail(self) -> bytes:
        plan = self.plan
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(plan), "stop_sequence": None},
        }
        if plan.include_usage:
            delta["usage"] = {"input_tokens": plan.prompt_tokens, "output_tokens": plan.total}
        out = block_stop(self._index) + sse(b"message_delta", _json(delta))
        if plan.done:
            out += sse(b"message_stop", b'{"type":"message_stop"}')
        return self._frame(out)

    def error(self, k: int) -> bytes:
        return self._frame(ERROR_EVENT)


def messages_body(plan: Plan) -> bytes:
    """The non-streaming Messages body."""
    content: list[dict[str, Any]] = []
    if plan.reasoning:
        thinking = reasoning_text(plan.reasoning)
        content.append({"type": "thinking", "thinking": thinking, "signature": "mock"})
    content.append({"type": "text", "text": content_text(plan.tokens)})
    return _json(message_object(plan, content, True))


def messages_error_body(refusal: Refusal) -> bytes:
    """Anthropic's error object for a refusal."""
    kind = _ERROR_TYPES.get(refusal.status, "api_error")
    return _json({"type": "error", "error": {"type": kind, "message": refusal.message}})
