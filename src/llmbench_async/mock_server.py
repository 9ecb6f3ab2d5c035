"""A built-in OpenAI-compatible mock server with controllable timing and injectable faults.

Used by the demo (`--mock`), the tests and the benchmarks. It runs in its own process, so it
imports nothing else from `llmbench_async` and uses no web framework: an `asyncio.Protocol`
with a small HTTP/1.1 parser (keep-alive, pipelining, partial reads) and pre-encoded SSE
chunks keep the per-event cost low enough for 1024 concurrent streams on two cores.

Timing is drift-free: token k (0-based) of a response is written at the absolute instant
``t0 + ttft + k * itl`` (plus optional jitter), where ``t0`` is the instant the request was
fully read (or, with `capacity`, the later instant it got a slot). Tokens are the reasoning
chunks, if any, then the content tokens. What the server actually did is appended to an
optional JSONL "truth log", which the benchmarks compare with what the client measured.

Prompt tokens are an approximation: the number of whitespace-separated words across all
message contents (chat) or the prompt string / list (completions), at least 1.

Behaviours and faults (all decided per request in `_plan_completion`, all combinable):

- auth_key: a missing or wrong `Bearer` key gets `auth_status` (401) at once.
- fail_rate: that share of completion requests gets `fail_status` at once, with the
  `retry_after` hint in the `retry_after_header` header: `retry-after` and
  `llm_provider-retry-after` carry the value as given (seconds or an HTTP date),
  `retry-after-ms` carries it in milliseconds, `x-ratelimit-reset-requests` as an OpenAI
  duration (`1s`, `6m0s`, `20ms`); `none` sends no hint.
- capacity K: at most K successful completion responses generate at once. A request beyond
  K waits for a slot in FIFO order; its headers (and the chat role chunk) go out at once,
  and its ttft clock starts when it gets the slot. A response holds its slot from then until
  its last byte is written or the client leaves. Errors and slow-drip responses take none.
- reasoning_tokens N (chat only): N chunks with `delta.reasoning_content` " think1" ...
  " thinkN" come first at the same cadence, so the first content token comes N gaps after
  the first token; usage reports completion_tokens = N + content tokens and
  completion_tokens_details.reasoning_tokens = N; non-streaming messages carry
  `reasoning_content`. max_tokens caps only the content tokens.
- litellm_usage_shape: the usage chunk has choices [{"index":0,"delta":{}}] (completions:
  [{"index":0,"text":""}]) instead of [].
- no_usage: no usage chunk even when asked, and no usage in non-streaming bodies.
- no_done: streams end properly (last HTTP chunk, keep-alive) but without `data: [DONE]`.

Mid-stream faults strike at the fault point: content token ``n // 2`` of the ``n`` this
response has (after half of them, rounded down), after any reasoning chunks. They apply to
streamed responses only (`stream: true` and not `static_body`). At the fault point, in order:

- stall_ms: that token is written stall_ms late, and every later one with it.
- malformed_rate: the line ``data: {"id": broken`` goes out as one event, then the stream
  continues normally (the token count is unchanged).
- disconnect_rate: the connection is closed (FIN, after the bytes already written) instead
  of writing that token: no terminating HTTP chunk, no usage, no [DONE].
- huge_line_bytes N: that token's event is a valid content chunk whose `data:` line (without
  its line break) is exactly N bytes, written in HTTP chunks of at most 64 KiB as the client
  reads them; it counts as one token.

Whole-response faults:

- endless: content tokens keep coming at itl forever, ignoring max_tokens (jitter applies
  to the first `tokens` gaps only); a non-streaming request is never answered.
- slow_drip: after the response headers, one byte every 200 ms forever, never completing an
  SSE event or a JSON body. It overrides the other response behaviours.

The truth log gains a "fault" key (the faults applied, joined by "+", e.g. "stall+disconnect";
also "auth" and "fail") only on requests that had one, "reasoning_tokens" and
"first_content" when reasoning is on, and "slot_acquired" when capacity is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import email.utils
import json
import math
import os
import queue
import random
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, NoReturn

__all__ = ["RETRY_AFTER_HEADERS", "MockConfig", "MockProcess", "run_server", "serve"]

LISTENING_PREFIX: Final = "llmbench-async mock server listening on "


@dataclass(frozen=True, slots=True)
class MockConfig:
    """How the mock server listens, how fast it answers and which faults it injects.

    Times are in milliseconds, rates are shares of completion requests in 0..1, drawn from
    one generator seeded by `seed` in request order. Every knob combines with the others.
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port
    ttft_ms: float = 200.0  # request received -> first token written; MUST BE >= 0
    itl_ms: float = 10.0  # gap between consecutive tokens; MUST BE >= 0
    tokens: int = 64  # content tokens per response, capped by the request's max_tokens; >= 1
    jitter_ms: float = 0.0  # uniform +-jitter added to ttft and to each gap (never below 0)
    models: tuple[str, ...] = ("mock-model",)
    static_body: bool = False  # streamed responses as one Content-Length body (timing-free use)
    log_path: str | None = None  # append one JSON line per finished completion request
    seed: int | None = None  # seed for the jitter and the fault rates (None: random)
    tls_cert: str | None = None  # PEM certificate chain: serve HTTPS instead of HTTP
    tls_key: str | None = None  # PEM private key for tls_cert
    capacity: int | None = None  # at most this many responses generate at once; >= 1 or None
    reasoning_tokens: int = 0  # chat: reasoning chunks before the content; >= 0
    litellm_usage_shape: bool = False  # usage chunk with choices [{"index":0,"delta":{}}]
    # faults answered instead of a completion
    auth_key: str | None = None  # when set, requests without `Bearer <auth_key>` are refused
    auth_status: int = 401  # status of that refusal (401; 403 or 400 to imitate proxies)
    fail_rate: float = 0.0  # share of completion requests answered with fail_status; 0..1
    fail_status: int = 500  # e.g. 429, 500, 503, 529
    retry_after: str | None = None  # wait hint sent with failures: seconds >= 0, or HTTP date
    retry_after_header: str = "retry-after"  # header carrying it; see RETRY_AFTER_HEADERS
    # faults inside a streamed response (see the module docstring for where they strike)
    disconnect_rate: float = 0.0  # share of streams cut (FIN, no terminating chunk); 0..1
    malformed_rate: float = 0.0  # share of streams with one non-JSON `data:` line; 0..1
    stall_ms: float = 0.0  # every stream pauses this long mid-way; >= 0
    huge_line_bytes: int = 0  # every stream has one content event this long; 0 or >= 1024
    no_done: bool = False  # streams end without `data: [DONE]`
    no_usage: bool = False  # never send usage (stream chunk or body), even when asked
    endless: bool = False  # content never ends (non-streaming: never answered)
    slow_drip: bool = False  # after the headers, one byte every 200 ms forever

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        for name in ("ttft_ms", "itl_ms", "jitter_ms", "stall_ms"):
            value = getattr(self, name)
            if not 0 <= value < math.inf:  # also rejects NaN
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.tokens < 1:
            raise ValueError(f"tokens must be >= 1, got {self.tokens}")
        if not self.models or not all(isinstance(m, str) and m for m in self.models):
            raise ValueError(f"models must be a non-empty list of names, got {self.models!r}")
        for name in ("fail_rate", "disconnect_rate", "malformed_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in 0..1, got {value}")
        for name in ("auth_status", "fail_status"):
            if not 400 <= getattr(self, name) <= 599:
                raise ValueError(
                    f"{name} must be an HTTP error status 400..599, got {getattr(self, name)}"
                )
        if self.retry_after_header not in RETRY_AFTER_HEADERS:
            choices = ", ".join(RETRY_AFTER_HEADERS)
            raise ValueError(
                f"retry_after_header must be one of {choices}; got {self.retry_after_header!r}"
            )
        if self.retry_after is not None:
            _check_retry_after(self.retry_after, self.retry_after_header)
        if self.capacity is not None and self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}")
        if self.reasoning_tokens < 0:
            raise ValueError(f"reasoning_tokens must be >= 0, got {self.reasoning_tokens}")
        if self.huge_line_bytes != 0 and self.huge_line_bytes < _HUGE_MIN:
            raise ValueError(
                f"huge_line_bytes must be 0 (off) or >= {_HUGE_MIN}, got {self.huge_line_bytes}"
            )

    def faults(self) -> list[str]:
        """The faults switched on, one short phrase each (empty for a well-behaved server)."""
        out = []
        if self.auth_key is not None:
            out.append(f"auth {self.auth_status}")
        if self.fail_rate:
            hint = ""
            if self.retry_after is not None and self.retry_after_header != "none":
                hint = f" ({self.retry_after_header}: {self.retry_after})"
            out.append(f"fail {self.fail_rate:.0%} {self.fail_status}{hint}")
        if self.disconnect_rate:
            out.append(f"disconnect {self.disconnect_rate:.0%}")
        if self.malformed_rate:
            out.append(f"malformed {self.malformed_rate:.0%}")
        if self.stall_ms:
            out.append(f"stall {self.stall_ms:g}ms")
        if self.huge_line_bytes:
            out.append(f"huge line {self.huge_line_bytes} B")
        flags = ("no_done", "no_usage", "endless", "slow_drip")
        out += [name.replace("_", " ") for name in flags if getattr(self, name)]
        return out

    def __str__(self) -> str:
        jitter = f" ±{self.jitter_ms:g}ms" if self.jitter_ms else ""
        text = (
            f"mock server: ttft {self.ttft_ms:g}ms, itl {self.itl_ms:g}ms{jitter}, "
            f"{self.tokens} tokens, models {', '.join(self.models)}"
        )
        if self.reasoning_tokens:
            text += f", {self.reasoning_tokens} reasoning tokens"
        if self.capacity is not None:
            text += f", capacity {self.capacity}"
        faults = self.faults()
        return text + (f"; faults: {', '.join(faults)}" if faults else "")

    def to_json(self) -> str:
        """Serialise for handing the config to a server process."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> MockConfig:
        """Parse `to_json` output; unknown keys are an error rather than silently ignored."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("mock config JSON must be an object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown mock config keys: {', '.join(unknown)}")
        if "models" in data:
            models = data["models"]
            data["models"] = (models,) if isinstance(models, str) else tuple(models)
        return cls(**data)


# --------------------------------------------------------------------------- constants

# fmt: off
_WORDS: Final = (
    "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven",
    "small", "birds", "sing", "in", "one", "old", "tree", "near", "the", "river", "and",
    "every", "cloud", "drifts", "slowly", "past", "us",
)
# fmt: on
_WORDS_JSON: Final = tuple(json.dumps(" " + w).encode() for w in _WORDS)
_WORDS_TEXT: Final = tuple(" " + w for w in _WORDS)

_REASONS: Final = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    499: "Client Closed Request",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}
_MAX_HEAD: Final = 64 * 1024
_MAX_BODY: Final = 16 * 1024 * 1024
_MAX_PIPELINED: Final = 64  # stop reading a connection that queues more requests than this
_CHAT_PATH: Final = "/v1/chat/completions"
_COMPLETIONS_PATH: Final = "/v1/completions"
_STATUS_DISCONNECTED: Final = 499  # logged when the client goes away mid-response

_SSE_HEAD: Final = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"server: llmbench-async-mock\r\n"
)
_DONE: Final = b"data: [DONE]\n\n"
_LAST_CHUNK: Final = b"0\r\n\r\n"

RETRY_AFTER_HEADERS: Final = (
    "retry-after",
    "retry-after-ms",
    "llm_provider-retry-after",
    "x-ratelimit-reset-requests",
    "none",
)
_MALFORMED: Final = b'data: {"id": broken\n\n'
_HUGE_MIN: Final = 1024  # smallest huge line: room for the chunk's JSON envelope
_HUGE_PIECE: Final = 64 * 1024  # HTTP chunk size for the huge line
_HUGE_FILL: Final = b"x" * _HUGE_PIECE
_DRIP_INTERVAL_S: Final = 0.2
_DRIP_SSE: Final = b'data: {"id":"drip","choices":[{"index":0,"delta":{"content":"'  # then x...
_DRIP_JSON: Final = b'{"id":"drip","choices":[{"index":0,"message":{"content":"'
_ENDLESS: Final = sys.maxsize  # the token count of an endless stream


def _frame(event: bytes) -> bytes:
    """One HTTP/1.1 chunk holding one SSE event."""
    return b"%x\r\n%b\r\n" % (len(event), event)


def _identity(event: bytes) -> bytes:
    return event


def _error_body(message: str, *, param: str | None = None, code: str | None = None) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json.dumps({"error": error}).encode()


# --------------------------------------------------------------------------- retry hints


def _check_retry_after(value: str, header: str) -> None:
    """ValueError unless `value` is seconds >= 0, or an HTTP date where the header allows it."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if 0 <= seconds < math.inf:
        return
    if header not in ("retry-after", "llm_provider-retry-after", "none"):
        raise ValueError(f"retry_after must be seconds >= 0 for {header}, got {value!r}")
    if value.isprintable():  # it goes into a header line as given
        with contextlib.suppress(TypeError, ValueError, IndexError):
            email.utils.parsedate_to_datetime(value)
            return
    raise ValueError(f"retry_after must be seconds >= 0 or an HTTP date, got {value!r}")


def _decimal(value: float) -> str:
    """A plain decimal, at most 3 places, no exponent: 1500.0 -> '1500', 0.25 -> '0.25'."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _duration(seconds: float) -> str:
    """An OpenAI-style (Go) duration: 0.02 -> '20ms', 1 -> '1s', 360 -> '6m0s', 3661 -> '1h1m1s'."""
    ms = round(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    out = f"{hours}h" if hours else ""
    out += f"{minutes}m" if hours or minutes else ""
    return out + _decimal(rest / 1000) + "s"


def _retry_hint(config: MockConfig) -> bytes:
    """The header line that tells a refused client when to retry (empty: no hint)."""
    header, value = config.retry_after_header, config.retry_after
    if value is None or header == "none":
        return b""
    if header == "retry-after-ms":
        value = _decimal(float(value) * 1000)
    elif header == "x-ratelimit-reset-requests":
        value = _duration(float(value))
    return f"{header}: {value}\r\n".encode()


# --------------------------------------------------------------------------- requests & plans


@dataclass(frozen=True, slots=True)
class _Request:
    """One fully received HTTP request (or a parse failure to answer)."""

    method: str
    path: str
    body: bytes
    keep_alive: bool
    http11: bool
    received: float  # loop.time() when the last byte arrived
    error: tuple[int, str] | None = None
    authorization: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Reply:
    """A complete, timing-free response (errors, model list)."""

    status: int
    body: bytes
    extra_headers: bytes = b""
    fault: str | None = None  # the injected fault this reply is, for the truth log


class _EndlessOffsets:
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
class _Plan:
    """Everything a completion response will do, decided up front in `_plan_completion`."""

    rid: str
    chat: bool
    model: str
    created: int
    tokens: int  # content tokens (endless: _ENDLESS)
    prompt_tokens: int
    stream: bool
    include_usage: bool  # a usage chunk / usage object is sent
    static_body: bool
    finish_reason: str
    offsets: tuple[float, ...] | _EndlessOffsets  # seconds after t0 at which token k is written
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


def _count_words(value: Any) -> int:
    """Whitespace-separated words in a prompt / content value (strings, lists, text parts)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_words(v) if not isinstance(v, int) else 1 for v in value)
    if isinstance(value, dict):
        return _count_words(value.get("text"))
    return 0


def _prompt_tokens(body: dict[str, Any], chat: bool) -> int:
    if chat:
        messages = body.get("messages")
        words = (
            sum(_count_words(m.get("content")) for m in messages if isinstance(m, dict))
            if isinstance(messages, list)
            else 0
        )
    else:
        words = _count_words(body.get("prompt"))
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


def _canonical_path(path: str) -> str:
    """Azure-style and prefixed paths (`/openai/deployments/D/chat/completions`) as the
    OpenAI path they stand for; the query string is ignored."""
    for known in (_CHAT_PATH, _COMPLETIONS_PATH, "/v1/models"):
        if path.endswith(known.removeprefix("/v1")):
            return known
    return path


def _refuse_auth(config: MockConfig, authorization: bytes | None) -> _Reply | None:
    """The refusal for a missing or wrong key when `auth_key` is set, else None."""
    if config.auth_key is None or authorization == b"Bearer " + config.auth_key.encode():
        return None
    message = "Incorrect API key provided."
    return _Reply(config.auth_status, _error_body(message, code="invalid_api_key"), fault="auth")


def _plan_completion(
    raw: bytes,
    *,
    chat: bool,
    config: MockConfig,
    rng: random.Random,
    wall_now: float,
    authorization: bytes | None = None,
) -> _Plan | _Reply:
    """Decide the whole response to one completion request: an error, or a timed plan.

    Every behaviour knob and fault belongs here, so the writers stay mechanical.
    """
    refusal = _refuse_auth(config, authorization)
    if refusal is not None:
        return refusal
    if config.fail_rate and rng.random() < config.fail_rate:
        message = f"Injected failure ({config.fail_status})."
        body = _error_body(message, code="injected")
        return _Reply(config.fail_status, body, _retry_hint(config), fault="fail")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return _Reply(400, _error_body(f"Invalid JSON body: {exc}"))
    if not isinstance(body, dict):
        return _Reply(400, _error_body("The request body must be a JSON object."))
    model = body.get("model")
    if not isinstance(model, str):
        return _Reply(400, _error_body("You must provide a model parameter.", param="model"))
    if model not in config.models:
        message = f"The model `{model}` does not exist."
        return _Reply(404, _error_body(message, param="model", code="model_not_found"))

    n = config.tokens
    finish_reason = "stop"
    for key in ("max_completion_tokens", "max_tokens"):
        limit = body.get(key)
        if limit is None:
            continue
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            message = f"{key} must be an integer >= 1, got {limit!r}."
            return _Reply(400, _error_body(message, param=key))
        if limit <= n:
            n, finish_reason = limit, "length"
        break

    stream = body.get("stream") is True
    options = body.get("stream_options")
    asked_usage = not stream or (isinstance(options, dict) and options.get("include_usage") is True)
    reasoning = config.reasoning_tokens if chat else 0
    if config.endless:
        n = config.tokens
    offsets = _offsets(config, reasoning + n, rng)
    drip, endless = config.slow_drip, config.endless and not config.slow_drip
    faults = ["slow_drip"] if drip else ["endless"] if endless else []
    if config.no_usage and asked_usage and not (drip or endless):
        faults.append("no_usage")
    if config.no_done and stream and not (drip or endless):
        faults.append("no_done")

    fault_at = None
    malformed = disconnect = False
    huge_line = 0
    if stream and not config.static_body and not drip:
        at = reasoning + n // 2  # the fault point: content token n // 2
        if config.stall_ms:
            faults.append("stall")
            stall = config.stall_ms / 1000
            offsets = offsets[:at] + tuple(t + stall for t in offsets[at:])
        if config.malformed_rate and rng.random() < config.malformed_rate:
            faults.append("malformed")
            malformed = True
        if config.disconnect_rate and rng.random() < config.disconnect_rate:
            faults.append("disconnect")
            disconnect = True
        elif config.huge_line_bytes:
            faults.append("huge_line")
            huge_line = config.huge_line_bytes
        if malformed or disconnect or huge_line:
            fault_at = at

    return _Plan(
        rid=("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex,
        chat=chat,
        model=model,
        created=int(wall_now),
        tokens=_ENDLESS if endless else n,
        prompt_tokens=_prompt_tokens(body, chat),
        stream=stream,
        include_usage=asked_usage and not config.no_usage,
        static_body=config.static_body,
        finish_reason=finish_reason,
        offsets=_EndlessOffsets(offsets, config.itl_ms / 1000) if endless else offsets,
        reasoning=reasoning,
        done=not config.no_done,
        litellm_usage=config.litellm_usage_shape,
        endless=endless,
        slow_drip=drip,
        fault_at=fault_at,
        malformed=malformed,
        disconnect=disconnect,
        huge_line=huge_line,
        faults=tuple(faults),
    )


class _Events:
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

    def __init__(self, plan: _Plan, frame: Callable[[bytes], bytes]) -> None:
        self.plan = plan
        self._frame = frame
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
        self._end = end = (
            close + b',"logprobs":null,"finish_reason":"%s"}]}\n\n' % plan.finish_reason.encode()
        )
        distinct = min(plan.tokens - 1, len(_WORDS_JSON))
        self._tokens = [frame(prefix + _WORDS_JSON[i] + mid) for i in range(distinct)]
        self._last = frame(prefix + _WORDS_JSON[(plan.tokens - 1) % len(_WORDS_JSON)] + end)
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
        return self._tokens[k % len(_WORDS_JSON)]

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
            event = b"data: " + self._common + choices + b',"usage":%s}\n\n' % _usage(plan)
            out = self._frame(event)
        return out + self._frame(_DONE) if plan.done else out


class _ReasoningEvents(_Events):
    """Events of a chat stream whose first `reasoning` tokens are `reasoning_content` chunks."""

    __slots__ = ("_reasoning", "_think")

    def __init__(self, plan: _Plan, frame: Callable[[bytes], bytes]) -> None:
        super().__init__(plan, frame)
        self._reasoning = plan.reasoning
        self._think = b"data: " + self._common + b'[{"index":0,"delta":{"reasoning_content":'

    def token(self, k: int) -> bytes:
        if k < self._reasoning:
            return self._frame(self._think + b'" think%d"' % (k + 1) + self._mid)
        return super().token(k - self._reasoning)

    def huge(self, k: int) -> tuple[bytes, bytes]:
        return super().huge(k - self._reasoning)


def _events(plan: _Plan, frame: Callable[[bytes], bytes]) -> _Events:
    return (_ReasoningEvents if plan.reasoning else _Events)(plan, frame)


def _usage(plan: _Plan) -> bytes:
    p, n, r = plan.prompt_tokens, plan.total, plan.reasoning
    usage = b'{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d' % (p, n, p + n)
    if r:
        usage += b',"completion_tokens_details":{"reasoning_tokens":%d}' % r
    return usage + b"}"


def _full_body(plan: _Plan) -> bytes:
    """The non-streaming JSON response."""
    text = "".join(_WORDS_TEXT[k % len(_WORDS_TEXT)] for k in range(plan.tokens))
    choice: dict[str, Any]
    if plan.chat:
        message = {"role": "assistant", "content": text}
        if plan.reasoning:
            message["reasoning_content"] = "".join(f" think{k + 1}" for k in range(plan.reasoning))
        choice = {"index": 0, "message": message, "finish_reason": plan.finish_reason}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": plan.finish_reason}
    body = {
        "id": plan.rid,
        "object": "chat.completion" if plan.chat else "text_completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [choice],
    }
    if plan.include_usage:
        body["usage"] = json.loads(_usage(plan))
    return json.dumps(body, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- truth log


class _TruthLog:
    """Appends one JSON line per finished completion request, flushed line by line."""

    def __init__(self, path: str | None, mono0: float) -> None:
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self._wall0 = time.time()
        self._mono0 = mono0

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def wall(self, mono: float | None) -> float | None:
        """Wall-clock seconds for a loop.time() instant, anchored once so it never jumps."""
        return None if mono is None else self._wall0 + (mono - self._mono0)

    def write(
        self,
        *,
        rid: str,
        path: str,
        status: int,
        received: float,
        headers_sent: float | None,
        first_token: float | None,
        last_token: float | None,
        tokens: int,
        prompt_tokens: int,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if self._file is None:
            return
        record = {
            "id": rid,
            "received": self.wall(received),
            "headers_sent": self.wall(headers_sent),
            "first_token": self.wall(first_token),
            "last_token": self.wall(last_token),
            "tokens": tokens,
            "prompt_tokens": prompt_tokens,
            "status": status,
            "path": path,
            # the same instants on CLOCK_MONOTONIC (time.monotonic), which on Linux is the
            # clock of the client's time.perf_counter_ns: comparable across processes
            "monotonic": {
                "received": received,
                "first_token": first_token,
                "last_token": last_token,
            },
        }
        if extra:
            record.update(extra)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# --------------------------------------------------------------------------- HTTP connection


class _Connection(asyncio.Protocol):
    """One client connection: parses requests as bytes arrive and answers them in order."""

    def __init__(self, app: _App) -> None:
        self._app = app
        self._loop = app.loop
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._scan = 0  # where to resume searching for the end of the head
        # method, path, keep-alive, HTTP/1.1, Authorization
        self._head: tuple[str, str, bool, bool, bytes | None] | None = None
        self._need = 0  # body bytes still expected for `_head`
        self._continue = False  # answer "Expect: 100-continue" once the head is parsed
        self._broken = False  # a parse error was queued; ignore further input
        self._pending: deque[_Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.paused = False
        self._drain: asyncio.Future[None] | None = None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._app.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._app.connections.discard(self)
        if self._task is not None:
            self._task.cancel()
        self._pending.clear()
        self._wake()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()

    def data_received(self, data: bytes) -> None:
        if self._broken:
            return
        self._buf += data
        self._parse()
        if self._pending and self._task is None:
            self._task = self._loop.create_task(self._run())
        if len(self._pending) > _MAX_PIPELINED and self._transport is not None:
            self._transport.pause_reading()

    # -- output helpers used by `_App`

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def close(self) -> None:
        """Close after the bytes already written (FIN), dropping any pipelined requests."""
        self._closed = True
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        while self.paused and not self._closed:
            self._drain = self._loop.create_future()
            await self._drain

    def abort(self) -> asyncio.Task[None] | None:
        """Drop the connection now; returns the cancelled handler task, if any, to await."""
        task = self._task
        if task is not None:
            task.cancel()
        if self._transport is not None:
            self._transport.abort()
        return task

    def _wake(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- parsing

    def _parse(self) -> None:
        buf = self._buf
        while not self._broken:
            if self._head is None:
                while buf[:2] == b"\r\n":  # tolerated empty lines between requests
                    del buf[:2]
                end = buf.find(b"\r\n\r\n", self._scan)
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        self._fail(431, "Request header too large.")
                    else:
                        self._scan = max(0, len(buf) - 3)
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._scan = 0
                if not self._parse_head(head):
                    return
            if len(buf) < self._need:
                if self._continue:
                    self._continue = False
                    self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            assert self._head is not None
            method, path, keep_alive, http11, auth = self._head
            body = bytes(buf[: self._need])
            del buf[: self._need]
            self._head, self._need, self._continue = None, 0, False
            received = self._loop.time()
            self._pending.append(
                _Request(method, path, body, keep_alive, http11, received, None, auth)
            )

    def _parse_head(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            self._fail(400, "Malformed request line.")
            return False
        http11 = parts[2] == b"HTTP/1.1"
        keep_alive = http11  # HTTP/1.0 keep-alive is not worth supporting
        length: int | None = None
        expect = False
        auth: bytes | None = None
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                self._fail(400, "Malformed header line.")
                return False
            name = name.lower()
            value = value.strip()
            if name == b"content-length":
                if not value.isdigit() or (length is not None and length != int(value)):
                    self._fail(400, "Invalid Content-Length.")
                    return False
                length = int(value)
            elif name == b"transfer-encoding":
                self._fail(411, "Chunked request bodies are not supported; send Content-Length.")
                return False
            elif name == b"connection":
                tokens = {t.strip() for t in value.lower().split(b",")}
                if b"close" in tokens:
                    keep_alive = False
            elif name == b"expect":
                expect = value.lower() == b"100-continue"
            elif name == b"authorization":
                auth = value
            elif name == b"api-key" and auth is None:  # Azure OpenAI's key header
                auth = b"Bearer " + value
        if length is not None and length > _MAX_BODY:
            self._fail(413, "Request body too large.")
            return False
        path = _canonical_path(parts[1].split(b"?", 1)[0].decode("latin-1"))
        self._head = (parts[0].decode("latin-1"), path, keep_alive, http11, auth)
        self._need = length or 0
        self._continue = expect and http11 and self._need > 0
        return True

    def _fail(self, status: int, message: str) -> None:
        """Queue an error answer for unparseable input and close after it."""
        self._broken = True
        self._buf.clear()
        error = (status, message)
        self._pending.append(_Request("", "", b"", False, True, self._loop.time(), error))

    # -- serving

    async def _run(self) -> None:
        try:
            while self._pending and not self._closed:
                request = self._pending.popleft()
                if self._transport is not None and len(self._pending) == _MAX_PIPELINED:
                    self._transport.resume_reading()
                await self._app.handle(self, request)
                if not request.keep_alive:
                    if self._transport is not None:
                        self._transport.close()
                    return
        finally:
            self._task = None


# --------------------------------------------------------------------------- application


class _Slots:
    """FIFO admission for `capacity`: at most `size` responses generate at once."""

    __slots__ = ("_free", "_loop", "_waiters")

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop) -> None:
        self._free = size
        self._loop = loop
        self._waiters: deque[asyncio.Future[float]] = deque()

    async def acquire(self) -> float | None:
        """Take a slot: None if one was free, else the instant one was handed over."""
        if self._free > 0:
            self._free -= 1
            return None
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over just as the client left: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the slot to the longest waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(self._loop.time())
                return
        self._free += 1


class _Marks:
    """How far one response got (loop times), for the truth log; the writers fill it in."""

    __slots__ = ("content", "content_from", "first", "headers", "k", "last", "slot")

    def __init__(self, content_from: int = 0) -> None:
        self.k = 0  # tokens written
        self.content_from = content_from  # index of the first content token
        self.headers: float | None = None
        self.first: float | None = None  # first token (reasoning or content)
        self.content: float | None = None  # first content token
        self.last: float | None = None
        self.slot: float | None = None  # when a `capacity` slot was taken


class _App:
    """Routes requests and writes responses; shared by all connections of one server."""

    def __init__(self, config: MockConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.connections: set[_Connection] = set()
        self.log = _TruthLog(config.log_path, loop.time())
        self._rng = random.Random(config.seed)
        self._slots = _Slots(config.capacity, loop) if config.capacity is not None else None
        models = [
            {"id": m, "object": "model", "created": 0, "owned_by": "llmbench-async"}
            for m in config.models
        ]
        self._models = json.dumps({"object": "list", "data": models}).encode()

    async def close(self) -> None:
        """Drop every connection, wait for their handlers to unwind, then close the log."""
        tasks = [t for t in (conn.abort() for conn in list(self.connections)) if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self.log.close()

    async def handle(self, conn: _Connection, req: _Request) -> None:
        if req.error is not None:
            status, message = req.error
            self._reply(conn, req, _Reply(status, _error_body(message)))
            return
        path, method = req.path, req.method
        if path == "/v1/models":
            refusal = _refuse_auth(self.config, req.authorization)
            if refusal is not None:
                self._reply(conn, req, refusal)
            elif method == "GET":
                self._reply(conn, req, _Reply(200, self._models))
            else:
                self._not_allowed(conn, req, "GET")
        elif path in (_CHAT_PATH, _COMPLETIONS_PATH):
            if method == "POST":
                await self._completion(conn, req)
            else:
                self._not_allowed(conn, req, "POST")
        elif path == "/health":
            self._reply(conn, req, _Reply(200, b"{}"))
        else:
            message = f"Not found: {method} {path}"
            self._reply(conn, req, _Reply(404, _error_body(message, code="not_found")))

    def _not_allowed(self, conn: _Connection, req: _Request, allow: str) -> None:
        message = f"Method {req.method} not allowed for {req.path}."
        body = _error_body(message, code="method_not_allowed")
        self._reply(conn, req, _Reply(405, body, b"allow: %s\r\n" % allow.encode()))

    def _reply(self, conn: _Connection, req: _Request, reply: _Reply) -> None:
        conn.write(_json_head(reply.status, len(reply.body), req.keep_alive, reply.extra_headers))
        conn.write(reply.body)

    async def _completion(self, conn: _Connection, req: _Request) -> None:
        chat = req.path == _CHAT_PATH
        wall = self.log.wall(req.received) or time.time()
        plan = _plan_completion(
            req.body,
            chat=chat,
            config=self.config,
            rng=self._rng,
            wall_now=wall,
            authorization=req.authorization,
        )
        if isinstance(plan, _Reply):
            self._reply(conn, req, plan)
            marks = _Marks()
            marks.headers = self.loop.time()
            rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
            self._log(req, rid, plan.status, marks, 0, fault=plan.fault)
            return
        marks = _Marks(plan.reasoning)
        try:
            if plan.slow_drip:
                await self._drip(conn, req, plan, marks)
            elif plan.stream and not plan.static_body:
                await self._stream(conn, req, plan, marks)
            else:
                await self._whole(conn, req, plan, marks)
        except asyncio.CancelledError:
            if conn.closed:  # the client went away: record it, then let the task end
                self._log(req, plan.rid, _STATUS_DISCONNECTED, marks, plan.prompt_tokens, plan)
            raise
        self._log(req, plan.rid, 200, marks, plan.prompt_tokens, plan)

    async def _sleep_until(self, deadline: float) -> None:
        delay = deadline - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _whole(self, conn: _Connection, req: _Request, plan: _Plan, marks: _Marks) -> None:
        """Non-streaming (or static-body SSE): one body, written when the last token is due."""
        slots, t0, held = self._slots, req.received, False
        try:
            if slots is not None:
                granted = await slots.acquire()
                held = True
                marks.slot = self.loop.time() if granted is None else granted
                t0 = t0 if granted is None else granted
            if plan.endless:
                await self.loop.create_future()  # never answered
            await self._sleep_until(t0 + plan.offsets[plan.total - 1])
            if plan.stream:
                events = _events(plan, _identity)
                tokens = b"".join(events.token(k) for k in range(plan.total))
                body = events.head() + tokens + events.tail()
                head = _SSE_HEAD + b"content-length: %d\r\n" % len(body)
                head += b"\r\n" if req.keep_alive else b"connection: close\r\n\r\n"
            else:
                body = _full_body(plan)
                head = _json_head(200, len(body), req.keep_alive)
            now = self.loop.time()
            conn.write(head + body)
            marks.headers = marks.first = marks.content = marks.last = now
            marks.k = plan.total
        finally:
            if held and slots is not None:
                slots.release()

    async def _stream(self, conn: _Connection, req: _Request, plan: _Plan, marks: _Marks) -> None:
        """SSE with one HTTP chunk per event, each token written at its absolute deadline.

        The plain path is one `_pump` to the end; reasoning and the fault point split it.
        """
        chunked = req.http11
        frame = _frame if chunked else _identity
        events = _events(plan, frame)
        head = _SSE_HEAD
        head += b"transfer-encoding: chunked\r\n" if chunked else b""
        head += b"\r\n" if req.keep_alive and chunked else b"connection: close\r\n\r\n"
        opening = head + events.head()
        marks.headers = self.loop.time()
        slots, t0, held = self._slots, req.received, False
        try:
            if slots is not None:  # headers and role chunk now, tokens once there is a slot
                conn.write(opening)
                opening = b""
                granted = await slots.acquire()
                held = True
                marks.slot = self.loop.time() if granted is None else granted
                t0 = t0 if granted is None else granted
            end = b"" if plan.disconnect else events.tail() + (_LAST_CHUNK if chunked else b"")
            offsets, k = plan.offsets, 0
            if plan.reasoning:
                k = await self._pump(conn, events, t0, offsets, k, plan.reasoning, opening, marks)
                opening = b""
            if plan.fault_at is not None:
                k = await self._pump(conn, events, t0, offsets, k, plan.fault_at, opening, marks)
                opening = b""
                await self._sleep_until(t0 + offsets[k])
                if plan.malformed:
                    conn.write(frame(_MALFORMED))
                if plan.disconnect:
                    conn.close()
                    return
                if plan.huge_line:
                    await self._huge(conn, events, k, plan.huge_line, chunked, marks)
                    k += 1
            await self._pump(conn, events, t0, offsets, k, plan.total, opening, marks, end)
        finally:
            if held and slots is not None:
                slots.release()

    async def _pump(
        self,
        conn: _Connection,
        events: _Events,
        t0: float,
        offsets: tuple[float, ...] | _EndlessOffsets,
        k: int,
        stop: int,
        opening: bytes,
        marks: _Marks,
        end: bytes = b"",
    ) -> int:
        """Write tokens k..stop-1, each at t0 + offsets[k], batching all that are due per write.

        `opening` goes out with the first write, `end` with the last; returns `stop`.
        """
        loop = self.loop
        k0 = k
        parts = [opening]
        horizon = loop.time()
        t_first: float | None = None
        t_last: float | None = None
        try:
            while True:
                while k < stop and t0 + offsets[k] <= horizon:
                    parts.append(events.token(k))
                    k += 1
                if k == stop:
                    parts.append(end)
                now = loop.time()
                conn.write(b"".join(parts))
                parts.clear()
                if k > k0:
                    t_last = now
                    if t_first is None:
                        t_first = now
                if k == stop:
                    return k
                if conn.paused:
                    await conn.drain()
                due = t0 + offsets[k]
                await self._sleep_until(due)
                horizon = max(loop.time(), due)  # a timer may fire a hair early
        finally:
            marks.k = k
            if t_first is not None:
                marks.last = t_last
                marks.first = marks.first or t_first
                if marks.content is None and k0 >= marks.content_from:
                    marks.content = t_first

    async def _huge(
        self, conn: _Connection, events: _Events, k: int, size: int, chunked: bool, marks: _Marks
    ) -> None:
        """Write token k as one event whose data line is `size` bytes, 64 KiB at a time."""
        before, after = events.huge(k)
        fill = max(1, size - len(before) - len(after) + 2)  # the line excludes its "\n\n"
        frame = _frame if chunked else _identity
        block = frame(_HUGE_FILL)
        conn.write(frame(before))
        for _ in range(fill // _HUGE_PIECE):
            if conn.closed:
                return
            conn.write(block)
            if conn.paused:
                await conn.drain()
        if fill % _HUGE_PIECE:
            conn.write(frame(_HUGE_FILL[: fill % _HUGE_PIECE]))
        conn.write(frame(after))
        now = self.loop.time()
        marks.k, marks.last = k + 1, now
        marks.first = marks.first or now
        marks.content = marks.content or now

    async def _drip(self, conn: _Connection, req: _Request, plan: _Plan, marks: _Marks) -> None:
        """Headers, then one byte every 200 ms forever, never completing an event or a body."""
        chunked = req.http11
        frame = _frame if chunked else _identity
        head = _SSE_HEAD if plan.stream else _JSON_HEAD_200
        head += b"transfer-encoding: chunked\r\n" if chunked else b""
        head += b"\r\n" if req.keep_alive and chunked else b"connection: close\r\n\r\n"
        conn.write(head)
        marks.headers = self.loop.time()
        text = _DRIP_SSE if plan.stream else _DRIP_JSON
        i = 0
        while True:
            conn.write(frame(text[i : i + 1] or b"x"))
            i += 1
            await asyncio.sleep(_DRIP_INTERVAL_S)

    def _log(
        self,
        req: _Request,
        rid: str,
        status: int,
        marks: _Marks,
        prompt_tokens: int,
        plan: _Plan | None = None,
        *,
        fault: str | None = None,
    ) -> None:
        if not self.log.enabled:
            return
        extra: dict[str, Any] = {}
        if plan is not None:
            fault = "+".join(plan.faults) or None
            if plan.reasoning:
                extra["reasoning_tokens"] = plan.reasoning
                extra["first_content"] = self.log.wall(marks.content)
            if self._slots is not None:
                extra["slot_acquired"] = self.log.wall(marks.slot)
        if fault is not None:
            extra["fault"] = fault
        self.log.write(
            rid=rid,
            path=req.path,
            status=status,
            received=req.received,
            headers_sent=marks.headers,
            first_token=marks.first,
            last_token=marks.last,
            tokens=marks.k,
            prompt_tokens=prompt_tokens,
            extra=extra,
        )


_JSON_HEAD_200: Final = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nserver: llmbench-async-mock\r\n"
)


def _json_head(status: int, length: int, keep_alive: bool, extra: bytes = b"") -> bytes:
    reason = _REASONS.get(status, "Unknown").encode()
    connection = b"" if keep_alive else b"connection: close\r\n"
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"server: llmbench-async-mock\r\n%b%b\r\n" % (status, reason, length, extra, connection)
    )


# --------------------------------------------------------------------------- public API


async def serve(config: MockConfig, *, ready: Callable[[str, int], None] | None = None) -> None:
    """Serve forever on config.host/port; `ready` gets the bound host and port once listening."""
    loop = asyncio.get_running_loop()
    app = _App(config, loop)
    try:
        tls = None
        if config.tls_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(config.tls_cert, config.tls_key)
        server = await loop.create_server(
            lambda: _Connection(app), config.host, config.port, backlog=4096, ssl=tls
        )
    except BaseException:
        await app.close()
        raise
    try:
        host, port = server.sockets[0].getsockname()[:2]
        if ready is not None:
            ready(str(host), int(port))
        # not serve_forever(): on 3.12+ its cancellation waits for every client to hang up
        await loop.create_future()
    finally:
        server.close()
        await app.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run_server(config: MockConfig) -> None:
    """Run the server until SIGINT/SIGTERM, announcing the address with one stdout line."""

    def ready(host: str, port: int) -> None:
        scheme = "https" if config.tls_cert else "http"
        print(f"{LISTENING_PREFIX}{scheme}://{_url_host(host)}:{port}", flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        server = asyncio.create_task(serve(config, ready=ready))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({server, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not server.done():
            server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server  # re-raises a startup failure such as "address already in use"

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


class MockProcess:
    """Runs the mock server in a separate process for the duration of a `with` block."""

    def __init__(self, config: MockConfig | None = None, *, startup_timeout: float = 15.0) -> None:
        self.config = config if config is not None else MockConfig()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.host = ""
        self.port = 0
        self._stderr: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        if not self.port:
            raise RuntimeError("the mock server is not running")
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{_url_host(self.host)}:{self.port}/v1"

    def start(self) -> None:
        """Start the process and wait for its listening line (RuntimeError if it never comes)."""
        src = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        # the package __init__ imports this module, so `-m` would warn that it runs it twice
        quiet = "ignore::RuntimeWarning:runpy"
        env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS"), quiet) if w)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        command = [sys.executable, "-m", "llmbench_async.mock_server"]
        command += ["--config-json", self.config.to_json()]
        self.process = proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        stdout = proc.stdout
        assert stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=self.startup_timeout).decode(errors="replace")
        except queue.Empty:
            self._fail(f"did not report listening within {self.startup_timeout:g}s")
        match = re.match(re.escape(LISTENING_PREFIX) + r"https?://(\[[^\]]*\]|[^:/]+):(\d+)", line)
        if match is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)  # stdout closed: it is exiting; let it, to report its code
            self._fail(f"exited (code {proc.returncode}) without listening")
        self.host = match.group(1).strip("[]")
        self.port = int(match.group(2))

    def stop(self) -> None:
        """SIGTERM, wait up to 5 s, then kill."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def stderr_text(self) -> str:
        """Whatever the server process wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _fail(self, what: str) -> NoReturn:
        """Stop the process and raise a RuntimeError that carries its stderr."""
        self.stop()
        text = self.stderr_text().strip()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        detail = f"; stderr:\n{text}" if text else " (no stderr output)"
        raise RuntimeError(f"mock server {what}{detail}")

    def __enter__(self) -> MockProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.port = 0
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m llmbench_async.mock_server",
        description="Run the llmbench-async OpenAI-compatible mock server.",
    )
    parser.add_argument(
        "--config-json", default="{}", help="MockConfig as JSON (MockConfig.to_json())"
    )
    args = parser.parse_args(argv)
    try:
        config = MockConfig.from_json(args.config_json)
    except (ValueError, TypeError) as exc:
        parser.error(f"invalid --config-json: {exc}")
    try:
        run_server(config)
    except OSError as exc:  # e.g. the port is taken: one line, not a traceback
        where = f"{_url_host(config.host)}:{config.port}"
        sys.exit(f"llmbench-async mock server: cannot listen on {where}: {exc.strerror or exc}")


if __name__ == "__main__":
    _main()
