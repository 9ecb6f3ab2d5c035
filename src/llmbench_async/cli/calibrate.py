"""The `calibrate` command: a run's load shape (the `run` flags that make sense against the
built-in mock) replayed against the mock started on this machine with the timing given
here, and the error the client adds to each clock (docs/calibrate.md). The report is the
calibration run's own, with its client-error block; `--fail-if client_error.ttft.p99<5ms`
gates on it."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ConfigError
from .flags import Flags
from .run import flag_parameters, give_signature

if TYPE_CHECKING:
    from ..results.calibration import Replay

_MS = " (e.g. 200ms, 0.5s; a bare number is milliseconds)"
MOCK_TIMING = "Mock timing"  # a help panel of its own, after the shared ones
TtftMs = Annotated[
    str,
    typer.Option(
        "--ttft-ms",
        help="The mock's TTFT: request arrived → first token, 0 to 60s" + _MS + ".",
        rich_help_panel=MOCK_TIMING,
    ),
]
ItlMs = Annotated[
    str,
    typer.Option(
        "--itl-ms",
        help="The mock's gap between tokens, 0 to 10s" + _MS + ".",
        rich_help_panel=MOCK_TIMING,
    ),
]
Tokens = Annotated[
    int,
    typer.Option(
        "--tokens",
        help="Output tokens per response, 1 to 4096 (capped by --max-tokens).",
        rich_help_panel=MOCK_TIMING,
    ),
]
_MAX_TTFT_MS = 60_000.0
_MAX_ITL_MS = 10_000.0
_MAX_TOKENS = 4096


# the `run` flags that make sense against the built-in mock, declared once in `Flags`
RUN_FLAGS = (
    "n", "concurrency", "rate", "arrival", "seed", "max_concurrency", "duration", "warmup",
    "ramp_up", "latency_from", "workers", "api", "model", "input_tokens", "max_tokens",
    "stream", "preconnect", "output", "json_path", "markdown", "junit", "html", "quiet",
    "fail_if",
)  # fmt: skip


def calibrate_command(**given: Any) -> None:
    """Measure the error this client adds to each clock at a load: the load replayed
    against the built-in mock on this machine, each request matched to the mock's own
    timestamps: `llmbench-async calibrate -c 8 -n 40`."""
    replay = parse_replay(
        given.pop("ttft_ms"), given.pop("itl_ms"), given.pop("tokens"), given["max_tokens"]
    )
    from .pipeline import calibrate_flags  # the run path: loaded only when it starts

    raise typer.Exit(calibrate_flags(Flags(**given), replay))


_KEYWORD = inspect.Parameter.KEYWORD_ONLY
give_signature(
    calibrate_command,
    [
        *flag_parameters(RUN_FLAGS),
        *(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
            )
            for name, kind, default in (
                ("ttft_ms", TtftMs, "200ms"),
                ("itl_ms", ItlMs, "10ms"),
                ("tokens", Tokens, 64),
            )
        ),
    ],
)


def parse_replay(ttft: str, itl: str, tokens: int, max_tokens: int) -> Replay:
    """The timing the mock answers with: TTFT and ITL (ms) and tokens, each in range."""
    from ..results.calibration import Replay
    from ..units import parse_time

    ttft_ms = parse_time(ttft, "--ttft-ms", unit="ms")
    itl_ms = parse_time(itl, "--itl-ms", unit="ms")
    for flag, value, cap in (
        ("--ttft-ms", ttft_ms, _MAX_TTFT_MS),
        ("--itl-ms", itl_ms, _MAX_ITL_MS),
    ):
        if not 0 <= value <= cap:
            raise ConfigError(f"{flag} must be from 0 to {cap / 1000:g}s (got {value:g} ms)")
    if not 1 <= tokens <= _MAX_TOKENS:
        raise ConfigError(f"--tokens must be from 1 to {_MAX_TOKENS} (got {tokens})")
    return Replay(ttft_ms=ttft_ms, itl_ms=itl_ms, tokens=min(tokens, max(1, max_tokens)))
