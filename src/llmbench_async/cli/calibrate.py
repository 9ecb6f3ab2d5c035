"""The `calibrate` command: a run's load shape (the `run` flags that make sense against the
built-in mock) replayed against the mock started on this machine with the timing given
here, and the error the client adds to each clock (docs/calibrate.md). The report is the
calibration run's own, with its client-error block; `--fail-if client_error.ttft.p99<5ms`
gates on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigError
from . import options as o
from .flags import Flags

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


def calibrate_command(
    n: o.Count = None,
    concurrency: o.Concurrency = None,
    rate: o.Rate = None,
    arrival: o.ArrivalChoice = None,
    seed: o.Seed = None,
    max_concurrency: o.MaxConcurrency = None,
    duration: o.Duration = None,
    warmup: o.Warmup = None,
    ramp_up: o.RampUp = None,
    latency_from: o.LatencyFromChoice = "send",
    workers: o.Workers = "1",
    api: o.ApiChoice = "chat",
    model: o.Model = None,
    input_tokens: o.InputTokens = None,
    max_tokens: o.MaxTokens = 128,
    stream: o.Stream = True,
    preconnect: o.Preconnect = True,
    ttft_ms: TtftMs = "200ms",
    itl_ms: ItlMs = "10ms",
    tokens: Tokens = 64,
    output: o.Output = None,
    json_path: o.JsonOption = None,
    markdown: o.MarkdownOption = None,
    junit: o.JunitOption = None,
    html: o.HtmlOption = None,
    quiet: o.Quiet = False,
    fail_if: o.FailIfOption = None,
) -> None:
    """Measure the error this client adds to each clock at a load: the load replayed
    against the built-in mock on this machine, each request matched to the mock's own
    timestamps: `llmbench-async calibrate -c 8 -n 40`."""
    given = dict(locals())  # every parameter, by name
    replay = parse_replay(
        given.pop("ttft_ms"), given.pop("itl_ms"), given.pop("tokens"), max_tokens
    )
    from .pipeline import calibrate_flags  # the run path: loaded only when it starts

    raise typer.Exit(calibrate_flags(Flags(**given), replay))


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
