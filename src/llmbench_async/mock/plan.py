"""Deciding one completion response up front: a refusal, or a `Plan` with every token's instant.

Every behaviour knob and fault is decided here, so the writers in `app` stay mechanical.
Token k (0-based) is due at ``t0 + offsets[k]``: ``ttft + k * itl`` (plus jitter). Tokens are
the reasoning chunks, if any, then the content tokens. Prompt tokens are an approximation:
whitespace-separated words across all message contents (chat) or the prompt, at least 1.
"""

from __future__ import annotations

import json
import random
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Final

from .config import MockConfig, retry_hint

__all__ = ["ENDLESS", "EndlessOffsets", "Plan", "Refusal", "plan_completion", "refuse_auth"]

ENDLESS: Final = sys.maxsize  # the token count of an endless stream


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
    chat: bool
    model: str
    created: int
    tokens: int  # content tokens (endless: ENDLESS)
    prompt_tokens: int
    stream: bool
    include_usage: bool  # a usage chunk / usage object is sent
    static_body: bool
    finish_reason: str
    offsets: tuple[float, ...] | EndlessOffsets  # seconds after t0 at which token k is written
    reasoning: int = 0  # reasoning tokens before the content (chat only)
    done: bool = True  # streams end with `data: [DONE]`
    litellm_usage: bool = False
    endless: bool = False
    slow_drip: bool = False
    fault_at: int | None = None  # token index where malformed / disconnect / huge strike
    malformed: bool = False
    disconnect: bool = False
    huge_line: int = 0
    faults: tuple[str, ...] = ()  # the faults applied, for the truth log

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


def count_words(value: Any) -> int:
    """Whitespace-separated words in a prompt / content value (strings, lists, text parts)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) if not isinstance(v, int) else 1 for v in value)
    if isinstance(value, dict):
        return count_words(value.get("text"))
    return 0


def _prompt_tokens(body: dict[str, Any], chat: bool) -> int:
    if chat:
        messages = body.get("messages")
        words = (
            sum(count_words(m.get("content")) for m in messages if isinstance(m, dict))
            if isinstance(messages, list)
            else 0
        )
    else:
        words = count_words(body.get("prompt"))
    return max(1, words)


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


def _injected(config: MockConfig, rng: random.Random, key: bytes | None) -> Refusal | None:
    """The auth refusal or an injected failure (`fail_rate`), decided before the body is read."""
    refusal = refuse_auth(config, key)
    if refusal is not None:
        return refusal
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


def _token_limit(body: dict[str, Any], tokens: int) -> tuple[int, str] | Refusal:
    """Content tokens and finish reason under the request's max_completion_tokens/max_tokens."""
    for key in ("max_completion_tokens", "max_tokens"):
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
    huge_line = 0
    if disconnect:
        names.append("disconnect")
    elif config.huge_line_bytes:
        names.append("huge_line")
        huge_line = config.huge_line_bytes
    fault_at = at if malformed or disconnect or huge_line else None
    return _Faults(offsets, tuple(names), fault_at, malformed, disconnect, huge_line)


def plan_completion(
    raw: bytes,
    *,
    chat: bool,
    config: MockConfig,
    rng: random.Random,
    wall_now: float,
    key: bytes | None = None,
    deployment: str | None = None,
) -> Plan | Refusal:
    """Decide the whole response to one completion request: a refusal, or a timed plan."""
    body = _injected(config, rng, key) or _read_body(raw, config.models, deployment)
    if isinstance(body, Refusal):
        return body
    limited = _token_limit(body, config.tokens)
    if isinstance(limited, Refusal):
        return limited
    n, finish_reason = limited
    if config.endless:
        n = config.tokens
    stream = body.get("stream") is True
    options = body.get("stream_options")
    asked_usage = not stream or (isinstance(options, dict) and options.get("include_usage") is True)
    reasoning = config.reasoning_tokens if chat else 0
    drip, endless = config.slow_drip, config.endless and not config.slow_drip
    faults = ["slow_drip"] if drip else ["endless"] if endless else []
    if config.no_usage and asked_usage and not (drip or endless):
        faults.append("no_usage")
    if config.no_done and stream and not (drip or endless):
        faults.append("no_done")
    mid = _Faults(_offsets(config, reasoning + n, rng))
    if stream and not config.static_body and not drip:
        mid = _mid_stream(config, rng, mid.offsets, reasoning + n // 2)
    return Plan(
        rid=("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex,
        chat=chat,
        model=body["model"],
        created=int(wall_now),
        tokens=ENDLESS if endless else n,
        prompt_tokens=_prompt_tokens(body, chat),
        stream=stream,
        include_usage=asked_usage and not config.no_usage,
        static_body=config.static_body,
        finish_reason=finish_reason,
        offsets=EndlessOffsets(mid.offsets, config.itl_ms / 1000) if endless else mid.offsets,
        reasoning=reasoning,
        done=not config.no_done,
        litellm_usage=config.litellm_usage_shape,
        endless=endless,
        slow_drip=drip,
        fault_at=mid.fault_at,
        malformed=mid.malformed,
        disconnect=mid.disconnect,
        huge_line=mid.huge_line,
        faults=tuple(faults) + mid.names,
    )
