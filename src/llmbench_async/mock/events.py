"""Encoding responses: pre-encoded SSE events per stream, whole JSON bodies, error bodies.

A token event is a lookup in a table built once per response, not a `json.dumps`, which keeps
the per-event cost low enough for a thousand concurrent streams on two cores.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any, Final, Protocol

from .plan import Plan, Refusal

Framing = Callable[[bytes], bytes]

__all__ = [
    "DONE",
    "LAST_CHUNK",
    "Events",
    "Stream",
    "chat_body",
    "chat_events",
    "error_body",
    "frame",
    "identity",
    "sse",
]

# fmt: off
_WORDS: Final = (
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven",
    "small", "birds", "sing", "in", "one", "old", "tree", "near", "the", "river", "and",
    "every", "cloud", "drifts", "slowly", "past", "us",
)
# fmt: on
WORDS_JSON: Final = tuple(json.dumps(" " + w).encode() for w in _WORDS)
WORDS_TEXT: Final = tuple(" " + w for w in _WORDS)

DONE: Final = b"data: [DONE]\n\n"
LAST_CHUNK: Final = b"0\r\n\r\n"  # the terminating HTTP chunk
MALFORMED: Final = b'data: {"id": broken\n\n'
HUGE_PIECE: Final = 64 * 1024  # HTTP chunk size for the huge line
HUGE_FILL: Final = b"x" * HUGE_PIECE
DRIP_SSE: Final = b'data: {"id":"drip","choices":[{"index":0,"delta":{"content":"'  # then x...
DRIP_JSON: Final = b'{"id":"drip","choices":[{"index":0,"message":{"content":"'


GZIP: Final = b"content-encoding: gzip\r\n"


def gzip_body(body: bytes) -> bytes:
    """A whole body, gzip-compressed (`gzip` knob)."""
    return gzip.compress(body, mtime=0)


def frame(event: bytes) -> bytes:
    """One HTTP/1.1 chunk holding one SSE event."""
    return b"%x\r\n%b\r\n" % (len(event), event)


def identity(event: bytes) -> bytes:
    """No framing (HTTP/1.0 or a Content-Length body)."""
    return event


class Stream(Protocol):
    """The events of one streamed response, as the writers use them (framed bytes)."""

    @property
    def plan(self) -> Plan: ...

    def head(self) -> bytes:
        """What opens the stream before the first token (may be empty)."""
        ...

    def token(self, k: int) -> bytes:
        """The event(s) of token k, with any events that must come just before it."""
        ...

    def huge(self, k: int) -> tuple[bytes, bytes]:
        """Token k's events as the bytes before and after its text's characters (unframed;
        the last `data: ` line of `before` is the line the huge-line size counts)."""
        ...

    def tail(self) -> bytes:
        """What ends a complete stream (usage, final events)."""
        ...

    def error(self, k: int) -> bytes:
        """The API's error event, sent instead of token k (then the stream ends)."""
        ...


def sse(name: bytes, data: bytes) -> bytes:
    """One named SSE event."""
    return b"event: %b\ndata: %b\n\n" % (name, data)


def word_text(k: int) -> str:
    """Content token k's text."""
    return WORDS_TEXT[k % len(WORDS_TEXT)]


def content_text(n: int) -> str:
    """The text of n content tokens."""
    return "".join(word_text(k) for k in range(n))


def reasoning_text(n: int) -> str:
    """The text of n reasoning tokens."""
    return "".join(f" think{k + 1}" for k in range(n))


_CHAT_ERROR: Final = (
    b'data: {"error":{"message":"Injected mid-stream error.","type":"server_error",'
    b'"param":null,"code":"injected"}}\n\n'
)


def error_body(refusal: Refusal) -> bytes:
    """The OpenAI error object for a refusal."""
    error = {
        "message": refusal.message,
        "type": "invalid_request_error",
        "param": refusal.param,
        "code": refusal.code,
    }
    return json.dumps({"error": error}).encode()


class Events:
    """Pre-encoded SSE events of one streamed response; a token event is a lookup, not a dump."""

    __slots__ = (
        "_common",
        "_end",
        "_frame",
        "_last",
        "_last_k",
        "_mid",
        "_prefix",
        "_tokens",
        "plan",
    )

    def __init__(self, plan: Plan, framing: Framing) -> None:
        self.plan = plan
        self._frame = framing
        obj = b"chat.completion.chunk" if plan.chat else b"text_completion"
        self._common = b'{"id":"%s","object":"%s","created":%d,"model":%s,"choices":' % (
            plan.rid.encode(),
            obj,
            plan.created,
            json.dumps(plan.model).encode(),
        )
        key = b'[{"index":0,"delta":{"content":' if plan.chat else b'[{"index":0,"text":'
        close = b"}" if plan.chat else b""
        self._prefix = prefix = b"data: " + self._common + key
        self._mid = mid = close + b',"logprobs":null,"finish_reason":null}]}\n\n'
        timings = (
            b"" if plan.timings is None else b',"timings":' + json.dumps(plan.timings).encode()
        )
        self._end = end = close + b',"logprobs":null,"finish_reason":"%s"}]%s}\n\n' % (
            plan.finish_reason.encode(),
            timings,
        )
        distinct = min(plan.tokens - 1, len(WORDS_JSON))
        self._tokens = [framing(prefix + WORDS_JSON[i] + mid) for i in range(distinct)]
        self._last = framing(prefix + WORDS_JSON[(plan.tokens - 1) % len(WORDS_JSON)] + end)
        self._last_k = -1 if plan.endless else plan.tokens - 1

    def head(self) -> bytes:
        """The role-only chunk that chat streams open with (no token; empty for completions)."""
        if not self.plan.chat:
            return b""
        role = b'[{"index":0,"delta":{"role":"assistant","content":""},'
        return self._frame(
            b"data: " + self._common + role + b'"logprobs":null,"finish_reason":null}]}\n\n'
        )

    def token(self, k: int) -> bytes:
        """The framed event of token k."""
        if k == self._last_k:
            return self._last
        return self._tokens[k % len(WORDS_JSON)]

    def huge(self, k: int) -> tuple[bytes, bytes]:
        """Token k's event as the bytes before and after its content string's characters."""
        return self._prefix + b'"', b'"' + (self._end if k == self._last_k else self._mid)

    def tail(self) -> bytes:
        """Optional usage chunk, then [DONE] unless suppressed (no framing terminator)."""
        plan = self.plan
        out = b""
        if plan.include_usage:
            if not plan.litellm_usage:
                choices = b"[]"
            elif plan.chat:
                choices = b'[{"index":0,"delta":{}}]'
            else:
                choices = b'[{"index":0,"text":""}]'
            event = b"data: " + self._common + choices + b',"usage":%s}\n\n' % usage(plan)
            out = self._frame(event)
        return out + self._frame(DONE) if plan.done else out

    def error(self, k: int) -> bytes:
        return self._frame(_CHAT_ERROR)


class ReasoningEvents(Events):
    """Events of a chat stream whose first `reasoning` tokens are `reasoning_content` chunks."""

    __slots__ = ("_reasoning", "_think")

    def __init__(self, plan: Plan, framing: Framing) -> None:
        super().__init__(plan, framing)
        self._reasoning = plan.reasoning
        self._think = b"data: " + self._common + b'[{"index":0,"delta":{"reasoning_content":'

    def token(self, k: int) -> bytes:
        if k < self._reasoning:
            return self._frame(self._think + b'" think%d"' % (k + 1) + self._mid)
        return super().token(k - self._reasoning)

    def huge(self, k: int) -> tuple[bytes, bytes]:
        return super().huge(k - self._reasoning)


def chat_events(plan: Plan, framing: Framing) -> Events:
    """The event table of a chat or completions plan, framed by `framing`."""
    return (ReasoningEvents if plan.reasoning else Events)(plan, framing)


def usage(plan: Plan) -> bytes:
    """The OpenAI usage object of a complete response."""
    p, n, r = plan.prompt_tokens, plan.total, plan.reasoning
    out = b'{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d' % (p, n, p + n)
    if r:
        out += b',"completion_tokens_details":{"reasoning_tokens":%d}' % r
    if plan.timings is not None:
        out += b',"prompt_tokens_details":{"cached_tokens":%d}' % plan.cached_tokens
    return out + b"}"


def chat_body(plan: Plan) -> bytes:
    """The non-streaming JSON response of chat or completions."""
    text = content_text(plan.tokens)
    choice: dict[str, Any]
    if plan.chat:
        message = {"role": "assistant", "content": text}
        if plan.reasoning:
            message["reasoning_content"] = reasoning_text(plan.reasoning)
        choice = {"index": 0, "message": message, "finish_reason": plan.finish_reason}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": plan.finish_reason}
    body: dict[str, Any] = {
        "id": plan.rid,
        "object": "chat.completion" if plan.chat else "text_completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [choice],
    }
    if plan.include_usage:
        body["usage"] = json.loads(usage(plan))
    if plan.timings is not None:
        body["timings"] = plan.timings
    return json.dumps(body, separators=(",", ":")).encode()
