"""The mock server's settings: one frozen `MockConfig`, checked once, and its retry hints."""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import json
import math
from dataclasses import dataclass
from typing import Final

__all__ = ["HUGE_MIN", "RETRY_AFTER_HEADERS", "MockConfig", "duration", "retry_hint"]

RETRY_AFTER_HEADERS: Final = (
    "retry-after",
    "retry-after-ms",
    "llm_provider-retry-after",
    "x-ratelimit-reset-requests",
    "none",
)
HUGE_MIN: Final = 1024  # smallest huge line: room for the chunk's JSON envelope


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
    # chat/completions: llama.cpp's `timings` (final chunk or body) and usage
    # prompt_tokens_details.cached_tokens (the prompt's words shared with the last prompt)
    server_timings: bool = False
    gzip: bool = False  # gzip every response body (Content-Encoding), whatever the client asks
    embedding_ms: float | None = None  # embeddings: received -> answered (None: ttft_ms)
    embedding_dims: int = 16  # embeddings: vector length unless the request asks `dimensions`
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
    error_event_rate: float = 0.0  # share of streams ended by the API's error event; 0..1
    stall_ms: float = 0.0  # every stream pauses this long mid-way; >= 0
    # share of tool calls and JSON replies (requests with tools or a response format) sent
    # invalid: broken JSON or a schema mismatch; 0..1
    invalid_output_rate: float = 0.0
    huge_line_bytes: int = 0  # every stream has one content event this long; 0 or >= 1024
    no_done: bool = False  # streams end without `data: [DONE]`
    no_usage: bool = False  # never send usage (stream chunk or body), even when asked
    endless: bool = False  # content never ends (non-streaming: never answered)
    slow_drip: bool = False  # after the headers, one byte every 200 ms forever
    # the truth log: a hash per block of this many prompt words (0: none), and the values of
    # these request headers (lower-case names), so tests see prefixes and session ids
    truth_block_words: int = 0
    truth_headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        for name in ("ttft_ms", "itl_ms", "jitter_ms", "stall_ms", "embedding_ms"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < math.inf:  # also rejects NaN
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.embedding_dims < 1:
            raise ValueError(f"embedding_dims must be >= 1, got {self.embedding_dims}")
        if self.tokens < 1:
            raise ValueError(f"tokens must be >= 1, got {self.tokens}")
        if not self.models or not all(isinstance(m, str) and m for m in self.models):
            raise ValueError(f"models must be a non-empty list of names, got {self.models!r}")
        rates = ("fail_rate", "disconnect_rate", "malformed_rate", "error_event_rate")
        for name in (*rates, "invalid_output_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in 0..1, got {value}")
        for name in ("auth_status", "fail_status"):
            if not 400 <= getattr(self, name) <= 599:
                raise ValueError(
                    f"{name} must be an HTTP error status 400..599, got {getattr(self, name)}"
                )
        if self.auth_key is not None and any(ord(c) < 32 or ord(c) == 127 for c in self.auth_key):
            raise ValueError("auth_key must not hold control characters (CR, LF, NUL...)")
        if self.retry_after_header not in RETRY_AFTER_HEADERS:
            choices = ", ".join(RETRY_AFTER_HEADERS)
            raise ValueError(
                f"retry_after_header must be one of {choices}; got {self.retry_after_header!r}"
            )
        if self.retry_after is not None:
            check_retry_after(self.retry_after, self.retry_after_header)
        if self.truth_block_words < 0:
            raise ValueError(f"truth_block_words must be >= 0, got {self.truth_block_words}")
        if self.capacity is not None and self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}")
        if self.reasoning_tokens < 0:
            raise ValueError(f"reasoning_tokens must be >= 0, got {self.reasoning_tokens}")
        if self.huge_line_bytes != 0 and self.huge_line_bytes < HUGE_MIN:
            raise ValueError(
                f"huge_line_bytes must be 0 (off) or >= {HUGE_MIN}, got {self.huge_line_bytes}"
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
        if self.error_event_rate:
            out.append(f"error event {self.error_event_rate:.0%}")
        if self.stall_ms:
            out.append(f"stall {self.stall_ms:g}ms")
        if self.invalid_output_rate:
            out.append(f"invalid output {self.invalid_output_rate:.0%}")
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
        if self.gzip:
            text += ", gzip"
        if self.server_timings:
            text += ", server timings"
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
        if "truth_headers" in data:
            data["truth_headers"] = tuple(data["truth_headers"])
        return cls(**data)


def check_retry_after(value: str, header: str) -> None:
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


def decimal(value: float) -> str:
    """A plain decimal, at most 3 places, no exponent: 1500.0 -> '1500', 0.25 -> '0.25'."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def duration(seconds: float) -> str:
    """An OpenAI-style (Go) duration: 0.02 -> '20ms', 1 -> '1s', 360 -> '6m0s', 3661 -> '1h1m1s'."""
    ms = round(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    out = f"{hours}h" if hours else ""
    out += f"{minutes}m" if hours or minutes else ""
    return out + decimal(rest / 1000) + "s"


def retry_hint(config: MockConfig) -> bytes:
    """The header line that tells a refused client when to retry (empty: no hint)."""
    header, value = config.retry_after_header, config.retry_after
    if value is None or header == "none":
        return b""
    if header == "retry-after-ms":
        value = decimal(float(value) * 1000)
    elif header == "x-ratelimit-reset-requests":
        value = duration(float(value))
    return f"{header}: {value}\r\n".encode()
