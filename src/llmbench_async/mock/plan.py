"""Deciding one response up front: a refusal, or a `Plan` with every token's instant.

Every behaviour knob and fault is decided here, so the writers stay mechanical. Token k
(0-based) is due at ``t0 + offsets[k]``: ``ttft + k * itl`` (plus jitter). Tokens are the
reasoning chunks, if any, then the content tokens. An embeddings response has no tokens; it
is due at ``t0 + offsets[0]`` (`embedding_ms`, plus jitter).

Prompt tokens are an approximation: whitespace-separated words in the text the request
carries (messages, prompt, input, instructions, system), at least 1 (embeddings: per input).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .config import MockConfig, retry_hint
from .structured import Structured, count_images, plan_structured

Api = Literal["chat", "completions", "responses", "messages", "embeddings"]

__all__ = [
    "ENDLESS",
    "Api",
    "EndlessOffsets",
    "Plan",
    "Refusal",
    "new_rid",
    "plan_completion",
    "refuse_auth",
]

ENDLESS: Final = sys.maxsize  # the token count of an endless stream
_RID: Final = {
    "chat": "chatcmpl-",
    "completions": "cmpl-",
    "responses": "resp_",
    "messages": "msg_",
    "embeddings": "embd-",
}
# the request fields that cap the output, per API (the first one present counts)
_LIMITS: Final = {
    "chat": ("max_completion_tokens", "max_tokens"),
    "completions": ("max_completion_tokens", "max_tokens"),
    "responses": ("max_output_tokens",),
    "messages": ("max_tokens",),
    "embeddings": (),
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error answered at once instead of a completion (encoded per API by `events`)."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    headers: bytes = b""  # extra header lines, each ending in CRLF
    fault: str | None = None  # the injected fault this is, for the truth log


class EndlessOffsets:
    """Token offsets that go on at a fixed gap after the planned ones (the endless stream)."""

    __slots__ = ("_gap", "_planned")

    def __init__(self, planned: tuple[float, ...], gap: float) -> None:
        self._planned = planned
        self._gap = gap

    def __getitem__(self, k: int) -> float:
        planned = self._planned
        if k < len(planned):
            return planned[k]
        return planned[-1] + (k - len(planned) + 1) * self._gap


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a completion response will do, decided up front in `plan_completion`."""

    rid: str
    api: Api
    model: str
    created: int
    tokens: int  # content tokens (endless: ENDLESS)
    prompt_tokens: int
    stream: bool
    include_usage: bool  # a usage chunk / usage object is sent
    static_body: bool
    finish_reason: str
    offsets: tuple[float, ...] | EndlessOffsets  # seconds after t0 at which token k is written
    reasoning: int = 0  # reasoning tokens before the content (not completions)
    done: bool = True  # streams end with `data: [DONE]` (responses/messages: their last event)
    litellm_usage: bool = False
    # llama.cpp `timings` and usage cached tokens (None: not sent); see `server_timings`
    timings: dict[str, Any] | None = None
    cached_tokens: int = 0
    endless: bool = False
    slow_drip: bool = False
    fault_at: int | None = None  # token index where malformed / disconnect / huge strike
    malformed: bool = False
    disconnect: bool = False
    huge_line: int = 0
    error_event: bool = False  # at the fault point: the API's error event, then the end
    inputs: int = 0  # embeddings: how many inputs
    dimensions: int = 0  # embeddings: vector length
    base64: bool = False  # embeddings: encoding_format "base64"
    faults: tuple[str, ...] = ()  # the faults applied, for the truth log
    truth: dict[str, Any] = field(default_factory=dict)  # what the request asked, for the log
    structured: Structured | None = None  # a tool call or a JSON reply (mock/structured.py)
    images: int = 0  # images the request carried, and their bytes (decoded)
    image_bytes: int = 0
    request_bytes: int = 0  # the request body's size

    @property
    def chat(self) -> bool:
        return self.api == "chat"

    @property
    def total(self) -> int:
        """Tokens written by a complete response: reasoning, then content."""
        return self.reasoning + self.tokens


@dataclass(frozen=True, slots=True)
class _Faults:
    """The mid-stream faults drawn for one streamed response."""

    offsets: tuple[float, ...]
    names: tuple[str, ...] = ()
    fault_at: int | None = None
    malformed: bool = False
    disconnect: bool = False
    huge_line: int = 0
    error_event: bool = False


def new_rid(api: Api) -> str:
    """A fresh response id in the API's style (chatcmpl-..., resp_..., msg_...)."""
    return _RID[api] + uuid.uuid4().hex


def count_words(value: Any) -> int:
    """Whitespace-separated words in a prompt / content value (strings, lists, text parts)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) if not isinstance(v, int) else 1 for v in value)
    if isinstance(value, dict):
        return count_words(value.get("text"))
    return 0


def _prompt_tokens(body: dict[str, Any], api: Api) -> int:
    """Words in the text a request carries, per API."""
    if api in ("chat", "messages"):
        messages = body.get("messages")
        words = (
            sum(count_words(m.get("content")) for m in messages if isinstance(m, dict))
            if isinstance(messages, list)
            else 0
        )
        words += count_words(body.get("system"))
    elif api == "responses":
        items = body.get("input")
        if isinstance(items, list):
            words = sum(
                count_words(i.get("content")) if isinstance(i, dict) else count_words(i)
                for i in items
            )
        else:
            words = count_words(items)
        words += count_words(body.get("instructions"))
    else:
        words = count_words(body.get("prompt"))
    return max(1, words)


def _asked(body: dict[str, Any], api: Api, block_words: int) -> dict[str, Any]:
    """What the truth log says the request asked for: its token limit and, with
    `block_words`, a short hash of each block of that many prompt words (in order), so a
    test can see which requests shared which prompt blocks."""
    limit = next((body[k] for k in _LIMITS[api] if body.get(k) is not None), None)
    asked: dict[str, Any] = {"max_tokens": limit}
    if block_words:
        words = _words(body.get("prompt" if api == "completions" else "messages"))
        asked["prompt_blocks"] = [
            hashlib.sha256(" ".join(words[k : k + block_words]).encode()).hexdigest()[:12]
            for k in range(0, len(words), block_words)
        ]
    return asked


def _words(value: Any) -> list[str]:
    """The words of a prompt or of messages' contents, in order."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [w for v in value for w in _words(v)]
    if isinstance(value, dict):
        return _words(value.get("content", value.get("text")))
    return []


def _offsets(config: MockConfig, n: int, rng: random.Random) -> tuple[float, ...]:
    """Token write instants relative to t0, in seconds: ttft + k * itl (+ jitter)."""
    ttft, itl, jitter = config.ttft_ms / 1000, config.itl_ms / 1000, config.jitter_ms / 1000
    if not jitter:
        return tuple(ttft + k * itl for k in range(n))
    t = max(0.0, ttft + rng.uniform(-jitter, jitter))
    out = [t]
    for _ in range(n - 1):
        t += max(0.0, itl + rng.uniform(-jitter, jitter))
        out.append(t)
    return tuple(out)


def refuse_auth(config: MockConfig, key: bytes | None) -> Refusal | None:
    """The refusal for a missing or wrong key when `auth_key` is set, else None."""
    if config.auth_key is None or key == config.auth_key.encode():
        return None
    return Refusal(
        config.auth_status, "Incorrect API key provided.", code="invalid_api_key", fault="auth"
    )


def _injected(
    config: MockConfig, rng: random.Random, key: bytes | None, version: bool = True
) -> Refusal | None:
    """The auth refusal, a missing `anthropic-version` (`version` False) or an injected
    failure (`fail_rate`), decided before the body is read."""
    refusal = refuse_auth(config, key)
    if refusal is not None:
        return refusal
    if not version:
        return Refusal(400, "anthropic-version: header is required")
    if config.fail_rate and rng.random() < config.fail_rate:
        message = f"Injected failure ({config.fail_status})."
        headers = retry_hint(config)
        return Refusal(config.fail_status, message, code="injected", headers=headers, fault="fail")
    return None


def _read_body(
    raw: bytes, models: tuple[str, ...], deployment: str | None = None
) -> dict[str, Any] | Refusal:
    """The JSON request object, or the 400/404 a real server would send for it.

    An Azure deployment (from the path) names the model when the body does not.
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return Refusal(400, f"Invalid JSON body: {exc}")
    if not isinstance(body, dict):
        return Refusal(400, "The request body must be a JSON object.")
    if deployment is not None:
        body.setdefault("model", deployment)
    model = body.get("model")
    if not isinstance(model, str):
        return Refusal(400, "You must provide a model parameter.", param="model")
    if model not in models:
        message = f"The model `{model}` does not exist."
        return Refusal(404, message, param="model", code="model_not_found")
    return body


def _token_limit(body: dict[str, Any], tokens: int, api: Api) -> tuple[int, str] | Refusal:
    """Content tokens and finish reason under the request's limit (max_tokens and the like)."""
    if api == "messages" and "max_tokens" not in body:
        return Refusal(400, "max_tokens: Field required", param="max_tokens")
    for key in _LIMITS[api]:
        limit = body.get(key)
        if limit is None:
            continue
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            return Refusal(400, f"{key} must be an integer >= 1, got {limit!r}.", param=key)
        if limit <= tokens:
            return limit, "length"
        break
    return tokens, "stop"


def _mid_stream(
    config: MockConfig, rng: random.Random, offsets: tuple[float, ...], at: int
) -> _Faults:
    """Draw the faults that strike at token `at` of a streamed response."""
    names: list[str] = []
    if config.stall_ms:
        names.append("stall")
        stall = config.stall_ms / 1000
        offsets = offsets[:at] + tuple(t + stall for t in offsets[at:])
    malformed = bool(config.malformed_rate and rng.random() < config.malformed_rate)
    if malformed:
        names.append("malformed")
    disconnect = bool(config.disconnect_rate and rng.random() < config.disconnect_rate)
    error = bool(config.error_event_rate and rng.random() < config.error_event_rate)
    huge_line = 0
    if disconnect:
        names.append("disconnect")
    elif error:
        names.append("error_event")
    elif config.huge_line_bytes:
        names.append("huge_line")
        huge_line = config.huge_line_bytes
    error = error and not disconnect
    fault_at = at if malformed or disconnect or error or huge_line else None
    return _Faults(offsets, tuple(names), fault_at, malformed, disconnect, huge_line, error)


def _whole_faults(
    config: MockConfig, asked_usage: bool, stream: bool
) -> tuple[bool, bool, tuple[str, ...]]:
    """slow drip, endless, and the names of the whole-response faults that apply."""
    drip, endless = config.slow_drip, config.endless and not config.slow_drip
    faults = ["slow_drip"] if drip else ["endless"] if endless else []
    if config.no_usage and asked_usage and not (drip or endless):
        faults.append("no_usage")
    if config.no_done and stream and not (drip or endless):
        faults.append("no_done")
    return drip, endless, tuple(faults)


def _asked_usage(body: dict[str, Any], api: Api, stream: bool) -> bool:
    """Whether the request gets usage: Responses and Messages always, a whole body always, a
    chat or completions stream when `stream_options.include_usage` is true."""
    options = body.get("stream_options")
    return (
        api in ("responses", "messages")
        or not stream
        or (isinstance(options, dict) and options.get("include_usage") is True)
    )


def plan_completion(
    raw: bytes,
    *,
    api: Api,
    config: MockConfig,
    rng: random.Random,
    wall_now: float,
    key: bytes | None = None,
    deployment: str | None = None,
    version: bool = True,
) -> Plan | Refusal:
    """Decide the whole response to one request: a refusal, or a timed plan.

    `version` is False for a messages request without an `anthropic-version` header.
    """
    body = _injected(config, rng, key, version) or _read_body(raw, config.models, deployment)
    if isinstance(body, Refusal):
        return body
    if api == "embeddings":
        return _plan_embeddings(body, config, rng, wall_now)
    limited = _token_limit(body, config.tokens, api)
    if isinstance(limited, Refusal):
        return limited
    n, finish_reason = limited
    if config.endless:
        n = config.tokens
    stream = body.get("stream") is True
    asked_usage = _asked_usage(body, api, stream)
    reasoning = config.reasoning_tokens if api != "completions" else 0
    drip, endless, faults = _whole_faults(config, asked_usage, stream)
    structured = None
    if not (drip or endless):  # a tool call or JSON, as asked: nothing before it
        structured = plan_structured(body, api, rng, config.invalid_output_rate, stream)
        reasoning, finish_reason = (0, "stop") if structured else (reasoning, finish_reason)
    images, image_bytes = count_images(body, api)
    mid = _Faults(_offsets(config, reasoning + n, rng))
    if stream and not config.static_body and not drip:
        mid = _mid_stream(config, rng, mid.offsets, reasoning + n // 2)
    prompt = _prompt_tokens(body, api)
    timings, cached = _timings(config, body, api, prompt, None if endless else mid.offsets)
    return Plan(
        rid=new_rid(api),
        api=api,
        model=body["model"],
        created=int(wall_now),
        tokens=ENDLESS if endless else n,
        prompt_tokens=prompt,
        truth=_asked(body, api, config.truth_block_words),
        stream=stream,
        include_usage=asked_usage and not config.no_usage,
        static_body=config.static_body,
        finish_reason=finish_reason,
        offsets=EndlessOffsets(mid.offsets, config.itl_ms / 1000) if endless else mid.offsets,
        reasoning=reasoning,
        done=not config.no_done,
        litellm_usage=config.litellm_usage_shape,
        timings=timings,
        cached_tokens=cached,
        endless=endless,
        slow_drip=drip,
        fault_at=mid.fault_at,
        malformed=mid.malformed,
        disconnect=mid.disconnect,
        huge_line=mid.huge_line,
        error_event=mid.error_event,
        faults=faults + mid.names,
        structured=structured,
        images=images,
        image_bytes=image_bytes,
        request_bytes=len(raw),
    )


def _timings(
    config: MockConfig,
    body: dict[str, Any],
    api: Api,
    prompt: int,
    offsets: tuple[float, ...] | None,
) -> tuple[dict[str, Any] | None, int]:
    """--server-timings: llama.cpp's `timings` and the cached prompt tokens (chat and
    completions with an end; None and 0 otherwise)."""
    if not config.server_timings or api not in ("chat", "completions") or offsets is None:
        return None, 0
    cached = _PREFIX_CACHE.hit(body, api, prompt)
    return server_timings(offsets, prompt, cached), cached


class _PrefixCache:
    """The mock's prefix cache: a prompt's leading words shared with the previous prompt
    count as cached (shared-prefix workloads hit it; distinct prompts mostly miss)."""

    def __init__(self) -> None:
        self._last: list[str] = []

    def hit(self, body: dict[str, Any], api: Api, prompt: int) -> int:
        if api == "chat":
            messages = body.get("messages")
            parts = (
                [m.get("content") for m in messages if isinstance(m, dict)]
                if isinstance(messages, list)
                else []
            )
        else:
            parts = [body.get("prompt")]
        words = " ".join(p for p in parts if isinstance(p, str)).split()
        shared = 0
        for mine, theirs in zip(words, self._last, strict=False):
            if mine != theirs:
                break
            shared += 1
        self._last = words
        return min(shared, max(prompt - 1, 0))  # at least one token is always processed


_PREFIX_CACHE = _PrefixCache()


def server_timings(offsets: tuple[float, ...], prompt: int, cached: int) -> dict[str, Any]:
    """llama.cpp's `timings` for a planned response: prompt processing until the first
    token's instant, generation from there to the last token's."""
    first = offsets[0] if offsets else 0.0
    last = offsets[-1] if offsets else 0.0
    predicted = len(offsets)
    prompt_ms, predicted_ms = first * 1000, (last - first) * 1000
    fresh = max(prompt - cached, 1)
    return {
        "cache_n": cached,
        "prompt_n": fresh,
        "prompt_ms": round(prompt_ms, 3),
        "prompt_per_token_ms": round(prompt_ms / fresh, 3),
        "prompt_per_second": round(fresh / first, 3) if first > 0 else 0.0,
        "predicted_n": predicted,
        "predicted_ms": round(predicted_ms, 3),
        "predicted_per_token_ms": round(predicted_ms / predicted, 3) if predicted else 0.0,
        "predicted_per_second": round(predicted / (last - first), 3) if last > first else 0.0,
    }


def _embedding_inputs(body: dict[str, Any]) -> list[Any] | Refusal:
    """The inputs of an embeddings request: a string, a list of strings or token lists."""
    value = body.get("input")
    if isinstance(value, str) or (
        isinstance(value, list) and value and all(isinstance(v, int) for v in value)
    ):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, (str, list)) for v in value):
        return value
    message = "input must be a string, a list of strings or a list of token lists."
    return Refusal(400, message, param="input")


def _plan_embeddings(
    body: dict[str, Any], config: MockConfig, rng: random.Random, wall_now: float
) -> Plan | Refusal:
    """An embeddings response: one vector per input, due `embedding_ms` (+ jitter) after t0."""
    inputs = _embedding_inputs(body)
    if isinstance(inputs, Refusal):
        return inputs
    dimensions = body.get("dimensions", config.embedding_dims)
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
        return Refusal(400, f"dimensions must be an integer >= 1, got {dimensions!r}.")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        message = f"encoding_format must be float or base64, got {encoding!r}."
        return Refusal(400, message, param="encoding_format")
    latency = config.ttft_ms if config.embedding_ms is None else config.embedding_ms
    jitter = config.jitter_ms / 1000
    due = latency / 1000 + (rng.uniform(-jitter, jitter) if jitter else 0.0)
    drip, endless, faults = _whole_faults(config, True, False)
    return Plan(
        rid=new_rid("embeddings"),
        api="embeddings",
        model=body["model"],
        created=int(wall_now),
        tokens=0,
        prompt_tokens=sum(max(1, count_words(i)) for i in inputs),
        stream=False,
        include_usage=not config.no_usage,
        static_body=False,
        finish_reason="stop",
        offsets=(max(0.0, due),),
        endless=endless,
        slow_drip=drip,
        inputs=len(inputs),
        dimensions=dimensions,
        base64=encoding == "base64",
        faults=faults,
    )
