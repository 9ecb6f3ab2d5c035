"""The `mock-server` sub-command: flags → `MockConfig`, then serve until Ctrl-C."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError, MockServerError

# flags that take a duration whose bare number is milliseconds
_MS_FIELDS = ("ttft_ms", "itl_ms", "jitter_ms", "embedding_ms", "stall_ms")
# MockConfig fields whose flag is not simply `--` + the name with dashes
_FLAGS = {"models": "--model", "log_path": "--log"}


def _as_flags(message: str) -> str:
    """Name the flag, not the MockConfig field, in a validation message."""
    field = re.match(r"\w+", message)
    if field is None:
        return message
    name = field.group()
    flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
    return flag + message[field.end() :]


_Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
_Port = Annotated[int, typer.Option("--port", help="Port to listen on (0 = any free).")]
_MS = " (e.g. 200ms, 0.5s; a bare number is milliseconds)"
_TtftMs = Annotated[str, typer.Option("--ttft-ms", help="Request received → first token" + _MS)]
_ItlMs = Annotated[str, typer.Option("--itl-ms", help="Gap between tokens" + _MS)]
_Tokens = Annotated[
    int, typer.Option("--tokens", help="Output tokens per response (capped by max_tokens).")
]
_JitterMs = Annotated[
    str, typer.Option("--jitter-ms", help="Uniform ± jitter on TTFT and each gap" + _MS)
]
_Model = Annotated[
    list[str] | None,
    typer.Option("--model", help="Model id served (repeatable). Default: mock-model."),
]
_Log = Annotated[
    Path | None,
    typer.Option("--log", help="Append one JSON line of server-side timings per request."),
]
_Seed = Annotated[
    int | None,
    typer.Option("--seed", help="Seed for the jitter and the fault rates. Default: random."),
]
_Capacity = Annotated[
    int | None,
    typer.Option(
        "--capacity",
        help="At most this many responses generate at once; later requests queue in "
        "FIFO order and their TTFT starts when a slot frees. Default: unlimited.",
    ),
]
_ReasoningTokens = Annotated[
    int,
    typer.Option(
        "--reasoning-tokens",
        help="Chat: reasoning_content chunks (tokens) sent before the content, at the "
        "same ITL; counted in usage.",
    ),
]
_LitellmUsageShape = Annotated[
    bool,
    typer.Option(
        "--litellm-usage-shape",
        help='Usage chunk with choices [{"index":0,"delta":{}}] as LiteLLM sends, not [].',
    ),
]
_ServerTimings = Annotated[
    bool,
    typer.Option(
        "--server-timings",
        help="Chat/completions: send llama.cpp's `timings` (prompt_ms, predicted_ms, "
        "cache_n...) and usage prompt_tokens_details.cached_tokens (the prompt's leading "
        "words shared with the previous prompt count as cached).",
    ),
]
_Gzip = Annotated[
    bool,
    typer.Option(
        "--gzip",
        help="gzip every response body (Content-Encoding: gzip), whatever the client asks; "
        "streams are sync-flushed per write.",
    ),
]
_EmbeddingMs = Annotated[
    str | None,
    typer.Option(
        "--embedding-ms",
        help="Embeddings: request received → response written" + _MS + ". Default: --ttft-ms.",
    ),
]
_EmbeddingDims = Annotated[
    int,
    typer.Option(
        "--embedding-dims",
        help="Embeddings: vector length, unless the request asks `dimensions`.",
    ),
]
_AuthKey = Annotated[
    str | None,
    typer.Option(
        "--auth-key",
        help="Require the key KEY (`Authorization: Bearer KEY`, `api-key: KEY` or "
        "`x-api-key: KEY`); others get --auth-status. Default: none.",
    ),
]
_AuthStatus = Annotated[
    int,
    typer.Option(
        "--auth-status",
        help="HTTP status for a wrong key (400 or 403 imitate proxies).",
    ),
]
_FailRate = Annotated[
    float,
    typer.Option(
        "--fail-rate",
        help="Share of requests (0..1) answered at once with --fail-status.",
    ),
]
_FailStatus = Annotated[
    int,
    typer.Option(
        "--fail-status",
        help="HTTP status of injected failures, e.g. 429, 500, 503, 529.",
    ),
]
_RetryAfter = Annotated[
    str | None,
    typer.Option(
        "--retry-after",
        help="Wait hint sent with failures: seconds, or an HTTP date. Default: none.",
    ),
]
_RetryAfterHeader = Annotated[
    str,
    typer.Option(
        "--retry-after-header",
        help="Header carrying --retry-after: retry-after (as given), retry-after-ms "
        "(milliseconds), llm_provider-retry-after (as given, LiteLLM), "
        "x-ratelimit-reset-requests (OpenAI duration such as 6m0s) or none (no hint).",
    ),
]
_DisconnectRate = Annotated[
    float,
    typer.Option(
        "--disconnect-rate",
        help="Share of streams (0..1) whose connection is closed after half the tokens, "
        "with no terminating chunk.",
    ),
]
_MalformedRate = Annotated[
    float,
    typer.Option(
        "--malformed-rate",
        help="Share of streams (0..1) with one non-JSON `data:` line after half the "
        "tokens; the stream then goes on.",
    ),
]
_ErrorEventRate = Annotated[
    float,
    typer.Option(
        "--error-event-rate",
        help="Share of streams (0..1) ended after half the tokens by the API's error event "
        '(chat: data: {"error":...}; responses and messages: event: error).',
    ),
]
_InvalidOutputRate = Annotated[
    float,
    typer.Option(
        "--invalid-output-rate",
        help="Share of tool calls and JSON replies (0..1) sent invalid: broken JSON or a "
        "schema mismatch (the truth log's output_valid says which).",
    ),
]
_StallMs = Annotated[
    str,
    typer.Option(
        "--stall-ms",
        help="Every stream pauses this long after half its tokens" + _MS + ".",
    ),
]
_SlowDrip = Annotated[
    bool,
    typer.Option(
        "--slow-drip",
        help="After the headers, send one byte every 200 ms forever (no event ever ends).",
    ),
]
_HugeLineBytes = Annotated[
    str,
    typer.Option(
        "--huge-line-bytes",
        help="Each stream's middle token is one event whose data line is this many bytes "
        "(e.g. 1MiB, 64KB; a bare number is bytes; 0 = off, else at least 1024).",
    ),
]
_NoDone = Annotated[
    bool,
    typer.Option("--no-done", help="End streams without `data: [DONE]`."),
]
_NoUsage = Annotated[
    bool,
    typer.Option("--no-usage", help="Never send usage, even when asked."),
]
_Endless = Annotated[
    bool,
    typer.Option(
        "--endless",
        help="Tokens keep coming at the ITL forever (non-streaming: never answered).",
    ),
]


def mock_server_command(
    host: _Host = "127.0.0.1",
    port: _Port = 8000,
    ttft_ms: _TtftMs = "200",
    itl_ms: _ItlMs = "10",
    tokens: _Tokens = 64,
    jitter_ms: _JitterMs = "0",
    model: _Model = None,
    log: _Log = None,
    seed: _Seed = None,
    capacity: _Capacity = None,
    reasoning_tokens: _ReasoningTokens = 0,
    litellm_usage_shape: _LitellmUsageShape = False,
    server_timings: _ServerTimings = False,
    gzip: _Gzip = False,
    embedding_ms: _EmbeddingMs = None,
    embedding_dims: _EmbeddingDims = 16,
    auth_key: _AuthKey = None,
    auth_status: _AuthStatus = 401,
    fail_rate: _FailRate = 0.0,
    fail_status: _FailStatus = 500,
    retry_after: _RetryAfter = None,
    retry_after_header: _RetryAfterHeader = "retry-after",
    disconnect_rate: _DisconnectRate = 0.0,
    malformed_rate: _MalformedRate = 0.0,
    error_event_rate: _ErrorEventRate = 0.0,
    invalid_output_rate: _InvalidOutputRate = 0.0,
    stall_ms: _StallMs = "0",
    slow_drip: _SlowDrip = False,
    huge_line_bytes: _HugeLineBytes = "0",
    no_done: _NoDone = False,
    no_usage: _NoUsage = False,
    endless: _Endless = False,
) -> None:
    """Serve the built-in OpenAI-compatible mock server until Ctrl-C.

    Rates are shares of completion requests in 0..1, drawn with --seed. Faults combine.
    """
    _serve(_mock_config(dict(locals())), host, port)


def _mock_config(flags: dict[str, Any]) -> Any:
    """The `MockConfig` for the command's flags (one usage error naming the flag if not)."""
    # imported here, not at the top: only `mock-server` (and --mock) loads the mock
    from ..mock import MockConfig
    from ..units import parse_size, parse_time

    model, log = flags.pop("model"), flags.pop("log")
    for name in _MS_FIELDS:
        if flags[name] is not None:
            flags[name] = parse_time(flags[name], "--" + name.replace("_", "-"), unit="ms")
    flags["huge_line_bytes"] = parse_size(flags["huge_line_bytes"], "--huge-line-bytes")
    flags["retry_after_header"] = flags["retry_after_header"].lower()
    try:
        return MockConfig(
            **flags,
            models=tuple(model) if model else ("mock-model",),
            log_path=str(log) if log else None,
        )
    except ValueError as exc:
        raise ConfigError(_as_flags(str(exc))) from None


def _serve(config: Any, host: str, port: int) -> None:
    from ..mock import run_server

    try:
        run_server(config)  # loads the server only now
    except OSError as exc:
        raise MockServerError(
            f"mock server cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
