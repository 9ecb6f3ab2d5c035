"""One door to the encoders: the stream, whole body and error body of a plan, per API."""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

from .events import Framing, Stream, chat_body, chat_events, error_body
from .messages import MessagesEvents, messages_body, messages_error_body
from .plan import Api, Plan, Refusal
from .responses import ResponsesEvents, responses_body
from .tool_events import (
    ChatStructuredEvents,
    MessagesStructuredEvents,
    ResponsesStructuredEvents,
    structured_body,
)

__all__ = ["encode_error", "stream_events", "whole_body"]


def stream_events(plan: Plan, framing: Framing) -> Stream:
    """The events of a streamed plan, framed by `framing` (HTTP chunks or none)."""
    if plan.structured is not None:
        if plan.api == "responses":
            return ResponsesStructuredEvents(plan, framing)
        if plan.api == "messages":
            return MessagesStructuredEvents(plan, framing)
        return ChatStructuredEvents(plan, framing)
    if plan.api == "responses":
        return ResponsesEvents(plan, framing)
    if plan.api == "messages":
        return MessagesEvents(plan, framing)
    return chat_events(plan, framing)


def whole_body(plan: Plan) -> bytes:
    """The non-streaming body of a plan."""
    if plan.structured is not None:
        return structured_body(plan)
    if plan.api == "responses":
        return responses_body(plan)
    if plan.api == "messages":
        return messages_body(plan)
    if plan.api == "embeddings":
        return _embeddings_body(plan)
    return chat_body(plan)


def encode_error(refusal: Refusal, api: Api | None) -> bytes:
    """A refusal in the error shape of the API asked (Anthropic's for messages)."""
    return messages_error_body(refusal) if api == "messages" else error_body(refusal)


def _vector(i: int, dimensions: int) -> list[float]:
    """A fixed, unit-length vector for input i."""
    raw = [math.sin(1.0 + 7.0 * i + 0.5 * j) for j in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def _embeddings_body(plan: Plan) -> bytes:
    data: list[dict[str, Any]] = []
    for i in range(plan.inputs):
        vector: Any = _vector(i, plan.dimensions)
        if plan.base64:
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    body: dict[str, Any] = {"object": "list", "data": data, "model": plan.model}
    if plan.include_usage:
        body["usage"] = {"prompt_tokens": plan.prompt_tokens, "total_tokens": plan.prompt_tokens}
    return json.dumps(body, separators=(",", ":")).encode()
