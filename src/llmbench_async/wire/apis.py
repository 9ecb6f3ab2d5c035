"""One small object per API: its path, its default key header and max-tokens field (the
user's --api-key-header and --max-tokens-field override them), its request body, and what each
streamed event or response body means (output? reasoning? usage? error? end?).

| API           | path                 | first token (TTFT) is the first event that carries    |
|---------------|----------------------|--------------------------------------------------------|
| `chat`        | `chat/completions`   | `delta.content`, reasoning, or a tool-call delta       |
| `completions` | `completions`        | non-empty `choices[].text`                             |
| `responses`   | `responses`          | `response.output_text.delta`, `response.reasoning*`    |
|               |                      | `.delta`, `response.refusal.delta` or function-call    |
|               |                      | argument deltas                                        |
| `messages`    | `messages`           | `content_block_delta` with `text_delta`,               |
|               |                      | `thinking_delta` or `input_json_delta`                 |
| `embeddings`  | `embeddings`         | none: embeddings do not stream (latency only)          |

Streamed events become `protocol.Chunk`s, so the client's clock rules are the same for every
API: TTFT is the first output-carrying event, ITL the gaps between them, the server's usage
counts tokens when it reports them, otherwise the output events are counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import API_PATHS
from ..errors import BadStreamError
from .protocol import (
    Chunk,
    parse_chunk,
    parse_completion_body,
    served_model,
    token_count,
    usage_counts,
)
from .servertiming import ServerFacts, server_facts

__all__ = ["ANTHROPIC_VERSION", "ApiSpec", "BodyResult", "Message", "api_spec"]

ANTHROPIC_VERSION = "2023-06-01"
Message = Mapping[str, Any]  # {"role": "user" | "assistant" | "system", "content": str | ...}

_decode = json.JSONDecoder().decode
_NOTHING = Chunk(False, False, False, None, None, None, None, None, None)


@dataclass(frozen=True, slots=True)
class BodyResult:
    """The meaning of a whole (non-streamed) response body, for any API."""

    response_id: str | None
    has_output: bool  # any text, reasoning, tool call or embedding
    output_items: int  # embeddings returned (embeddings API), else 0
    completion_tokens: int | None
    prompt_tokens: int | None
    reasoning_tokens: int | None
    error: str | None
    text: str  # the assistant's reply text (carried into the next turn of a session)
    finish_reason: str | None = None  # why the answer ended, in the API's own words
    model: str | None = None  # the model the body names (bounded: `served_model`)
    server: ServerFacts | None = None  # the server's timings and cached tokens, if said


class ApiSpec:
    """Chat completions: the reference API; the others override what differs."""

    name = "chat"
    path = API_PATHS["chat"]
    streams = True  # False: responses always come whole (embeddings)
    max_tokens_field = "max_tokens"  # the body field of --max-tokens (--max-tokens-field)
    key_header = "Authorization"  # the header that carries the key (--api-key-header)

    def auth_headers(self, api_key: str, key_header: str | None = None) -> dict[str, str]:
        """The headers that carry the key, in `key_header` (None: the API's own):
        `Authorization` gets `Bearer KEY`, any other name the key as is, `none` nothing."""
        name = self.key_header if key_header is None else key_header
        if name.lower() == "none":
            return {}
        return {name: f"Bearer {api_key}" if name.lower() == "authorization" else api_key}

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        max_tokens: int,
        stream: bool,
        max_tokens_field: str | None = None,
    ) -> dict[str, Any]:
        """The JSON body (as a dict) of one request; `max_tokens_field` (None: the API's
        own) names the field that carries `max_tokens`."""
        body: dict[str, Any] = {"model": model, "messages": list(messages)}
        body[max_tokens_field or self.max_tokens_field] = max_tokens
        body["stream"] = stream
        if stream:  # ask for the server's own token count in a final usage chunk
            body["stream_options"] = {"include_usage": True}
        return body

    def parse_event(self, data: bytes) -> Chunk:
        """One SSE data payload → Chunk; BadStreamError when it is not JSON."""
        return parse_chunk(data)

    def event_text(self, data: bytes) -> str:
        """The reply text one output event carries ("" when none): only read for sessions."""
        obj = _object(data)
        parts = []
        for choice in _list(obj.get("choices")):
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict and type(delta.get("content")) is str:
                parts.append(delta["content"])
        return "".join(parts)

    def parse_body(self, body: bytes) -> BodyResult:
        """A whole response body → BodyResult; BadStreamError when it is not a JSON object."""
        parsed = parse_completion_body(body)
        text = ""
        if parsed.error is None:
            for choice in _list(_object(body, "malformed response body").get("choices")):
                message = choice.get("message") if type(choice) is dict else None
                if type(message) is dict and type(message.get("content")) is str:
                    text += message["content"]
                elif type(choice) is dict and type(choice.get("text")) is str:
                    text += choice["text"]
        return BodyResult(
            parsed.response_id,
            parsed.has_output,
            0,
            parsed.completion_tokens,
            parsed.prompt_tokens,
            parsed.reasoning_tokens,
            parsed.error,
            text,
            parsed.finish_reason,
            parsed.model,
            parsed.server,
        )


class CompletionsApi(ApiSpec):
    """Legacy completions: the messages are flattened into one `prompt` string."""

    name = "completions"
    path = API_PATHS["completions"]

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        max_tokens: int,
        stream: bool,
        max_tokens_field: str | None = None,
    ) -> dict[str, Any]:
        body = super().body(model, messages, max_tokens, stream, max_tokens_field)
        body.pop("messages")
        body = {"model": model, "prompt": flatten(messages), **body}
        return body

    def event_text(self, data: bytes) -> str:
        parts = []
        for choice in _list(_object(data).get("choices")):
            if type(choice) is dict and type(choice.get("text")) is str:
                parts.append(choice["text"])
        return "".join(parts)


class ResponsesApi(ApiSpec):
    """OpenAI Responses: `input` messages, `max_output_tokens`, typed events."""

    name = "responses"
    path = API_PATHS["responses"]
    max_tokens_field = "max_output_tokens"

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        max_tokens: int,
        stream: bool,
        max_tokens_field: str | None = None,
    ) -> dict[str, Any]:
        return {
            "model": model,
            "input": list(messages),
            max_tokens_field or self.max_tokens_field: max_tokens,
            "stream": stream,
        }

    def parse_event(self, data: bytes) -> Chunk:
        obj = _object(data)
        kind = obj.get("type")
        if type(kind) is not str:
            return _NOTHING
        if kind.endswith(".delta"):
            delta = obj.get("delta")
            if not delta or type(delta) is not str:
                return _NOTHING
            content = kind in ("response.output_text.delta", "response.refusal.delta")
            output = content or kind.startswith(
                ("response.reasoning", "response.function_call_arguments")
            )
            return Chunk(False, output, content, None, None, None, None, None, None)
        response = obj.get("response")
        response = response if type(response) is dict else {}
        rid = response.get("id") if type(response.get("id")) is str else None
        model = response.get("model") if type(response.get("model")) is str else None
        if kind in ("response.completed", "response.incomplete"):
            out, prompt, reasoning = _responses_usage(response.get("usage"))
            finish: str | None = responses_finish(kind.rpartition(".")[2], response)
            said = response.get("status")
            if said in _NOT_FINISHED:  # a final event whose response says it did not finish
                finish = said if said in ("failed", "cancelled") else None
            # the API's final event: `done`, after its finish reason and usage are taken
            facts = server_facts(response, response.get("usage"), _RESPONSES_DETAILS)
            return Chunk(
                True, False, False, rid, finish, out, prompt, reasoning, None, model, facts
            )
        if kind == "response.failed":
            return Chunk(False, False, False, rid, None, None, None, None, _error_text(response))
        if kind == "error":
            return Chunk(False, False, False, None, None, None, None, None, _error_text(obj))
        return Chunk(False, False, False, rid, None, None, None, None, None, model)

    def event_text(self, data: bytes) -> str:
        obj = _object(data)
        delta = obj.get("delta")
        if obj.get("type") == "response.output_text.delta" and type(delta) is str:
            return delta
        return ""

    def parse_body(self, body: bytes) -> BodyResult:
        obj = _object(body, "malformed response body")
        text = ""
        has_output = False
        for item in _list(obj.get("output")):
            if type(item) is not dict:
                continue
            if item.get("type") in ("reasoning", "function_call"):
                has_output = True
            for part in _list(item.get("content")):
                if type(part) is dict and type(part.get("text")) is str:
                    has_output = has_output or bool(part["text"])
                    if part.get("type") == "output_text":
                        text += part["text"]
        error = None
        if obj.get("error") or obj.get("status") == "failed":
            error = _error_text(obj)
        out, prompt, reasoning = _responses_usage(obj.get("usage"))
        rid = obj.get("id") if type(obj.get("id")) is str else None
        status = obj.get("status")
        finish = responses_finish(status, obj) if status in ("completed", "incomplete") else None
        model = served_model(obj.get("model"))
        facts = server_facts(obj, obj.get("usage"), _RESPONSES_DETAILS)
        return BodyResult(
            rid, has_output, 0, out, prompt, reasoning, error, text, finish, model, facts
        )


class MessagesApi(ApiSpec):
    """Anthropic Messages: `x-api-key` and `anthropic-version`, system prompt apart."""

    name = "messages"
    path = API_PATHS["messages"]

    key_header = "x-api-key"

    def auth_headers(self, api_key: str, key_header: str | None = None) -> dict[str, str]:
        return {**super().auth_headers(api_key, key_header), "anthropic-version": ANTHROPIC_VERSION}

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        max_tokens: int,
        stream: bool,
        max_tokens_field: str | None = None,
    ) -> dict[str, Any]:
        system = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
        body: dict[str, Any] = {"model": model}
        if system:
            body["system"] = "\n".join(system)
        body["messages"] = [m for m in messages if m.get("role") != "system"]
        body[max_tokens_field or self.max_tokens_field] = max_tokens
        body["stream"] = stream
        return body

    def parse_event(self, data: bytes) -> Chunk:
        obj = _object(data)
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if type(delta) is not dict:
                return _NOTHING
            dtype = delta.get("type")
            if dtype == "text_delta":
                content = bool(delta.get("text"))
                return Chunk(False, content, content, None, None, None, None, None, None)
            key = {"thinking_delta": "thinking", "input_json_delta": "partial_json"}.get(str(dtype))
            output = key is not None and bool(delta.get(key))
            return Chunk(False, output, False, None, None, None, None, None, None)
        if kind == "message_start":
            message = obj.get("message")
            message = message if type(message) is dict else {}
            rid = message.get("id") if type(message.get("id")) is str else None
            prompt = _anthropic_input(message.get("usage"))
            model = message.get("model") if type(message.get("model")) is str else None
            facts = server_facts(message, message.get("usage"), "")
            return Chunk(False, False, False, rid, None, None, prompt, None, None, model, facts)
        if kind == "message_delta":
            delta = obj.get("delta")
            reason = delta.get("stop_reason") if type(delta) is dict else None
            usage = obj.get("usage")
            out = usage.get("output_tokens") if type(usage) is dict else None
            return Chunk(
                False,
                False,
                False,
                None,
                reason if type(reason) is str else None,
                token_count(out),
                _anthropic_input(usage),
                None,
                None,
                None,
                server_facts(obj, usage, ""),
            )
        if kind == "message_stop":
            return Chunk(True, False, False, None, None, None, None, None, None)
        if kind == "error":
            return Chunk(False, False, False, None, None, None, None, None, _error_text(obj))
        return _NOTHING

    def event_text(self, data: bytes) -> str:
        delta = _object(data).get("delta")
        if type(delta) is dict and delta.get("type") == "text_delta":
            text = delta.get("text")
            return text if type(text) is str else ""
        return ""

    def parse_body(self, body: bytes) -> BodyResult:
        obj = _object(body, "malformed response body")
        text = ""
        has_output = False
        for block in _list(obj.get("content")):
            if type(block) is not dict:
                continue
            if block.get("type") == "text" and type(block.get("text")) is str:
                text += block["text"]
                has_output = has_output or bool(block["text"])
            elif block.get("type") in ("thinking", "tool_use"):
                has_output = True
        error = _error_text(obj) if obj.get("type") == "error" or obj.get("error") else None
        usage = obj.get("usage")
        out = usage.get("output_tokens") if type(usage) is dict else None
        rid = obj.get("id") if type(obj.get("id")) is str else None
        out_tokens = token_count(out)
        reason = obj.get("stop_reason")
        return BodyResult(
            rid,
            has_output,
            0,
            out_tokens,
            _anthropic_input(usage),
            None,
            error,
            text,
            reason if type(reason) is str and reason else None,
            served_model(obj.get("model")),
            server_facts(obj, usage, ""),
        )


class EmbeddingsApi(ApiSpec):
    """Embeddings: `input` is a list of texts (a batch); no stream, so no TTFT."""

    name = "embeddings"
    path = API_PATHS["embeddings"]
    streams = False

    def body(
        self,
        model: str,
        messages: Sequence[Message],
        max_tokens: int,
        stream: bool,
        max_tokens_field: str | None = None,
    ) -> dict[str, Any]:
        # each message is one input of the batch (no output, so no max tokens)
        return {"model": model, "input": [_content_text(m.get("content")) for m in messages]}

    def parse_body(self, body: bytes) -> BodyResult:
        obj = _object(body, "malformed response body")
        if obj.get("error") or obj.get("object") == "error":
            error = _error_text(obj.get("error") or obj)
            return BodyResult(None, False, 0, None, None, None, error, "")
        data = obj.get("data")
        if type(data) is not list:
            raise BadStreamError("embeddings body has no data list of embeddings")
        check_embeddings(data)
        usage = obj.get("usage")
        prompt = usage.get("prompt_tokens") if type(usage) is dict else None
        prompt = token_count(prompt)
        model = served_model(obj.get("model"))
        return BodyResult(None, bool(data), len(data), None, prompt, None, None, "", None, model)


def check_embeddings(data: list[Any]) -> None:
    """BadStreamError unless each item holds one embedding: a non-empty flat list of finite
    numbers (all of one length), or a base64 string (`encoding_format: base64`)."""
    size: int | None = None
    for position, item in enumerate(data):
        vector = item.get("embedding") if type(item) is dict else None
        if type(vector) is str and vector:
            continue
        if type(vector) is not list or not vector:
            what = "an empty list" if vector == [] else f"a {type(vector).__name__}"
            raise BadStreamError(
                f"embedding {position} is {what}, not a list of numbers"
                if vector is not None
                else f"embeddings item {position} has no embedding"
            )
        if not all(type(x) is float or type(x) is int for x in vector):
            nested = any(type(x) is list for x in vector)
            shape = "a list of lists (one vector per token?)" if nested else "not all numbers"
            raise BadStreamError(f"embedding {position} is {shape}, not one flat vector")
        if not all(map(math.isfinite, vector)):
            raise BadStreamError(f"embedding {position} holds a non-finite number")
        if size is not None and len(vector) != size:
            raise BadStreamError(
                f"embeddings differ in length: {size} and {len(vector)} (item {position})"
            )
        size = len(vector)


_APIS: dict[str, ApiSpec] = {
    api.name: api
    for api in (ApiSpec(), CompletionsApi(), ResponsesApi(), MessagesApi(), EmbeddingsApi())
}


def api_spec(name: str) -> ApiSpec:
    """The API object for `--api NAME`; ValueError naming the choices when unknown."""
    try:
        return _APIS[name]
    except KeyError:
        raise ValueError(f"--api must be one of {', '.join(_APIS)} (got {name!r})") from None


def flatten(messages: Sequence[Message]) -> str:
    """Messages as one prompt string (completions): their contents, one per line."""
    return "\n".join(_content_text(m.get("content")) for m in messages)


def _content_text(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a content list."""
    if type(content) is str:
        return content
    if type(content) is list:
        return "".join(p["text"] for p in content if type(p) is dict and type(p.get("text")) is str)
    return "" if content is None else str(content)


def _object(data: bytes, what: str = "malformed stream event") -> dict[str, Any]:
    try:
        obj = _decode(data.decode())
    except (ValueError, RecursionError):
        raise BadStreamError(f"{what}: invalid JSON: {_excerpt(data)}") from None
    if type(obj) is not dict:
        raise BadStreamError(f"{what}: not a JSON object: {_excerpt(data)}")
    return obj


def _excerpt(data: bytes) -> str:
    text = " ".join(data[:320].decode("utf-8", "replace").split())
    return repr(text[:77] + "..." if len(text) > 80 else text)


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


# a Responses status that is no finish, whatever event carries it
_NOT_FINISHED = frozenset({"failed", "cancelled", "in_progress", "queued"})


def responses_finish(status: Any, response: Mapping[str, Any]) -> str:
    """A Responses finish reason: `completed`, or `incomplete:REASON` from its
    `incomplete_details` (`incomplete` alone when it gives none)."""
    if status != "incomplete":
        return "completed"
    details = response.get("incomplete_details")
    reason = details.get("reason") if type(details) is dict else None
    return f"incomplete:{reason}" if type(reason) is str and reason else "incomplete"


_RESPONSES_DETAILS = "input_tokens_details"  # where Responses usage says cached tokens


def _responses_usage(usage: Any) -> tuple[int | None, int | None, int | None]:
    """(output, input, reasoning) tokens of a Responses usage object."""
    return usage_counts(usage, "output_tokens", "input_tokens", "output_tokens_details")


def _anthropic_input(usage: Any) -> int | None:
    """All input tokens of an Anthropic usage object: fresh + cache writes + cache reads."""
    if type(usage) is not dict or token_count(usage.get("input_tokens")) is None:
        return None
    total: int = usage["input_tokens"]
    for key in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        value = token_count(usage.get(key))
        if value is not None:
            total += value
    return total


def _error_text(obj: Mapping[str, Any]) -> str:
    """A one-line message from an error object: `error.message`, `message`, else its type."""
    error = obj.get("error")
    if type(error) is dict:
        obj = error
    elif type(error) is str and error:
        return " ".join(error.split())[:200]
    message = obj.get("message")
    if type(message) is str and message:
        return " ".join(message.split())[:200]
    label = obj.get("type") or obj.get("code") or "unknown error"
    return str(label)[:200]
