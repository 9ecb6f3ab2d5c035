"""The `mock-server` sub-command: flags → `MockConfig`, then serve until Ctrl-C."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError, MockServerError

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


def mock_server_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0 = any free).")] = 8000,
    ttft_ms: Annotated[
        float, typer.Option("--ttft-ms", help="Request received → first token (ms).")
    ] = 200.0,
    itl_ms: Annotated[float, typer.Option("--itl-ms", help="Gap between tokens (ms).")] = 10.0,
    tokens: Annotated[
        int, typer.Option("--tokens", help="Output tokens per response (capped by max_tokens).")
    ] = 64,
    jitter_ms: Annotated[
        float, typer.Option("--jitter-ms", help="Uniform ± jitter on TTFT and each gap (ms).")
    ] = 0.0,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Model id served (repeatable). Default: mock-model."),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="Append one JSON line of server-side timings per request."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed for the jitter and the fault rates. Default: random."),
    ] = None,
    capacity: Annotated[
        int | None,
        typer.Option(
            "--capacity",
            help="At most this many responses generate at once; later requests queue in "
            "FIFO order and their TTFT starts when a slot frees. Default: unlimited.",
        ),
    ] = None,
    reasoning_tokens: Annotated[
        int,
        typer.Option(
            "--reasoning-tokens",
            help="Chat: reasoning_content chunks (tokens) sent before the content, at the "
            "same ITL; counted in usage.",
        ),
    ] = 0,
    litellm_usage_shape: Annotated[
        bool,
        typer.Option(
            "--litellm-usage-shape",
            help='Usage chunk with choices [{"index":0,"delta":{}}] as LiteLLM sends, not [].',
        ),
    ] = False,
    gzip: Annotated[
        bool,
        typer.Option(
            "--gzip",
            help="gzip every response body (Content-Encoding: gzip), whatever the client asks; "
            "streams are sync-flushed per write.",
        ),
    ] = False,
    embedding_ms: Annotated[
        float | None,
        typer.Option(
            "--embedding-ms",
            help="Embeddings: request received → response written (ms). Default: --ttft-ms.",
        ),
    ] = None,
    embedding_dims: Annotated[
        int,
        typer.Option(
            "--embedding-dims",
            help="Embeddings: vector length, unless the request asks `dimensions`.",
        ),
    ] = 16,
    auth_key: Annotated[
        str | None,
        typer.Option(
            "--auth-key",
            help="Require the key KEY (`Authorization: Bearer KEY`, `api-key: KEY` or "
            "`x-api-key: KEY`); others get --auth-status. Default: none.",
        ),
    ] = None,
    auth_status: Annotated[
        int,
        typer.Option(
            "--auth-status",
            help="HTTP status for a wrong key (400 or 403 imitate proxies).",
        ),
    ] = 401,
    fail_rate: Annotated[
        float,
        typer.Option(
            "--fail-rate",
            help="Share of requests (0..1) answered at once with --fail-status.",
        ),
    ] = 0.0,
    fail_status: Annotated[
        int,
        typer.Option(
            "--fail-status",
            help="HTTP status of injected failures, e.g. 429, 500, 503, 529.",
        ),
    ] = 500,
    retry_after: Annotated[
        str | None,
        typer.Option(
            "--retry-after",
            help="Wait hint sent with failures: seconds, or an HTTP date. Default: none.",
        ),
    ] = None,
    retry_after_header: Annotated[
        str,
        typer.Option(
            "--retry-after-header",
            help="Header carrying --retry-after: retry-after (as given), retry-after-ms "
            "(milliseconds), llm_provider-retry-after (as given, LiteLLM), "
            "x-ratelimit-reset-requests (OpenAI duration such as 6m0s) or none (no hint).",
        ),
    ] = "retry-after",
    disconnect_rate: Annotated[
        float,
        typer.Option(
            "--disconnect-rate",
            help="Share of streams (0..1) whose connection is closed after half the tokens, "
            "with no terminating chunk.",
        ),
    ] = 0.0,
    malformed_rate: Annotated[
        float,
        typer.Option(
            "--malformed-rate",
            help="Share of streams (0..1) with one non-JSON `data:` line after half the "
            "tokens; the stream then goes on.",
        ),
    ] = 0.0,
    error_event_rate: Annotated[
        float,
        typer.Option(
            "--error-event-rate",
            help="Share of streams (0..1) ended after half the tokens by the API's error event "
            '(chat: data: {"error":...}; responses and messages: event: error).',
        ),
    ] = 0.0,
    stall_ms: Annotated[
        float,
        typer.Option(
            "--stall-ms",
            help="Every stream pauses this long after half its tokens (ms).",
        ),
    ] = 0.0,
    slow_drip: Annotated[
        bool,
        typer.Option(
            "--slow-drip",
            help="After the headers, send one byte every 200 ms forever (no event ever ends).",
        ),
    ] = False,
    huge_line_bytes: Annotated[
        int,
        typer.Option(
            "--huge-line-bytes",
            help="Each stream's middle token is one event whose data line is this many bytes "
            "(0 = off, else at least 1024).",
        ),
    ] = 0,
    no_done: Annotated[
        bool,
        typer.Option("--no-done", help="End streams without `data: [DONE]`."),
    ] = False,
    no_usage: Annotated[
        bool,
        typer.Option("--no-usage", help="Never send usage, even when asked."),
    ] = False,
    endless: Annotated[
        bool,
        typer.Option(
            "--endless",
            help="Tokens keep coming at the ITL forever (non-streaming: never answered).",
        ),
    ] = False,
) -> None:
    """Serve the built-in OpenAI-compatible mock server until Ctrl-C.

    Rates are shares of completion requests in 0..1, drawn with --seed. Faults combine.
    """
    # imported here, not at the top: only `mock-server` (and --mock) loads the mock
    from ..mock import MockConfig, run_server

    try:
        config = MockConfig(
            host=host,
            port=port,
            ttft_ms=ttft_ms,
            itl_ms=itl_ms,
            tokens=tokens,
            jitter_ms=jitter_ms,
            models=tuple(model) if model else ("mock-model",),
            log_path=str(log) if log else None,
            seed=seed,
            capacity=capacity,
            reasoning_tokens=reasoning_tokens,
            litellm_usage_shape=litellm_usage_shape,
            gzip=gzip,
            embedding_ms=embedding_ms,
            embedding_dims=embedding_dims,
            auth_key=auth_key,
            auth_status=auth_status,
            fail_rate=fail_rate,
            fail_status=fail_status,
            retry_after=retry_after,
            retry_after_header=retry_after_header.lower(),
            disconnect_rate=disconnect_rate,
            malformed_rate=malformed_rate,
            error_event_rate=error_event_rate,
            stall_ms=stall_ms,
            huge_line_bytes=huge_line_bytes,
            no_done=no_done,
            no_usage=no_usage,
            endless=endless,
            slow_drip=slow_drip,
        )
    except ValueError as exc:
        raise ConfigError(_as_flags(str(exc))) from None
    try:
        run_server(config)  # loads the server only now
    except OSError as exc:
        raise MockServerError(
            f"mock server cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
