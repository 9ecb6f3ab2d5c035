"""The `mock-server` sub-command: flags → `MockConfig`, then serve until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .config import ConfigError
from .mock_server import MockConfig, run_server


class MockServerError(Exception):
    """The mock server could not start (exit code 1)."""


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
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for the jitter.")] = None,
) -> None:
    """Serve the built-in OpenAI-compatible mock server until Ctrl-C."""
    for name, value in (("--ttft-ms", ttft_ms), ("--itl-ms", itl_ms), ("--jitter-ms", jitter_ms)):
        if value < 0:
            raise ConfigError(f"{name} must be 0 or more (got {value:g})")
    if tokens < 1:
        raise ConfigError(f"--tokens must be at least 1 (got {tokens})")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0..65535 (got {port})")
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
    )
    try:
        run_server(config)
    except OSError as exc:
        raise MockServerError(
            f"mock server cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
