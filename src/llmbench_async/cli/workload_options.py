"""The workload `run` options (datasets, multi-turn, shared prefixes, gamma
arrivals, goodput, embeddings batches), declared like cli/options.py's; cli/flags.py turns
them into RunConfig fields and RunConfig checks them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .layout import GATE, LOAD, WORKLOAD

__all__ = [
    "BatchOption",
    "BurstinessOption",
    "DatasetFormatOption",
    "DatasetOption",
    "GoodputOption",
    "MaxInputOption",
    "MaxOutputOption",
    "MaxRequestsOption",
    "MinInputOption",
    "MinOutputOption",
    "PrefixGroupsOption",
    "PrefixTokensOption",
    "ReplayHistoryOption",
    "SessionHeaderOption",
    "ThinkTimeOption",
    "TraceBlockTokensOption",
    "TraceFormatOption",
    "TraceOption",
    "TraceSpeedOption",
    "TraceWindowOption",
    "TurnsOption",
]

_PANEL = WORKLOAD

BurstinessOption = Annotated[
    float,
    typer.Option(
        "--burstiness",
        help="--arrival gamma: gamma shape B. 1 = Poisson; below 1 burstier, above 1 "
        "smoother (gap CV = 1/sqrt(B)). Same mean rate.",
        rich_help_panel=LOAD,
    ),
]
BatchOption = Annotated[
    int,
    typer.Option("--batch", help="--api embeddings: inputs per request.", rich_help_panel=_PANEL),
]
TurnsOption = Annotated[
    int | None,
    typer.Option(
        "--turns",
        help="Multi-turn: turns per session (each carries the earlier turns and replies). "
        "Default 1, or each dataset conversation's own turns (capped by --turns).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
ThinkTimeOption = Annotated[
    str | None,
    typer.Option(
        "--think-time",
        help="Multi-turn: pause between a reply and the next turn (e.g. 500ms, 2s; a bare "
        "number is seconds). Default 0.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
ReplayHistoryOption = Annotated[
    bool,
    typer.Option(
        "--replay-history",
        help="Multi-turn: carry the dataset's assistant replies instead of the server's.",
        rich_help_panel=_PANEL,
    ),
]
DatasetOption = Annotated[
    Path | None,
    typer.Option(
        "--dataset",
        help="Prompts or conversations from a local file (streamed, seeded sample), or "
        "sample:sharegpt, sample:openai-jsonl, sample:conversations (shipped with the tool).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
DatasetFormatOption = Annotated[
    str | None,
    typer.Option(
        "--dataset-format",
        help="sharegpt, openai-jsonl or conversations. Default: detected from the file.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]


def _length_option(flag: str, what: str) -> Any:
    return typer.Option(
        flag,
        help=f"--dataset: {what} (tokens, estimated as characters/4, no tokenizer).",
        show_default=False,
        rich_help_panel=_PANEL,
    )


MinInputOption = Annotated[
    int | None, _length_option("--min-input-tokens", "skip prompts shorter than this")
]
MaxInputOption = Annotated[
    int | None, _length_option("--max-input-tokens", "skip prompts longer than this")
]
MinOutputOption = Annotated[
    int | None, _length_option("--min-output-tokens", "skip entries whose reply is shorter")
]
MaxOutputOption = Annotated[
    int | None, _length_option("--max-output-tokens", "skip entries whose reply is longer")
]
PrefixTokensOption = Annotated[
    int,
    typer.Option(
        "--prefix-tokens",
        help="Shared prefixes: every prompt starts with one of --prefix-groups fixed "
        "prefixes of about this many tokens (part of --input-tokens). 0 = none.",
        rich_help_panel=_PANEL,
    ),
]
PrefixGroupsOption = Annotated[
    int,
    typer.Option(
        "--prefix-groups",
        help="Shared prefixes: how many distinct prefixes (request i uses i mod G).",
        rich_help_panel=_PANEL,
    ),
]
GoodputOption = Annotated[
    list[str] | None,
    typer.Option(
        "--goodput",
        help="Per-request SLO, e.g. 'ttft<200ms,tpot<50ms': report good requests/s and "
        "the good share (metrics goodput and good_fraction in --fail-if).",
        show_default=False,
        rich_help_panel=GATE,
    ),
]
TraceOption = Annotated[
    Path | None,
    typer.Option(
        "--trace",
        help="Replay a request trace: each row one request, sent at its timestamp (relative "
        "to the first row) with a prompt of its input length and max_tokens of its output "
        "length. Mooncake JSONL, BurstGPT CSV or Azure LLM inference CSV, detected from "
        "the content. Read as a stream.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
TraceFormatOption = Annotated[
    str | None,
    typer.Option(
        "--trace-format",
        help="--trace's format: mooncake, burstgpt or azure. Default: detected.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
TraceSpeedOption = Annotated[
    float,
    typer.Option(
        "--trace-speed",
        help="--trace: time scale; 2 replays twice as fast (gaps halved). Default 1.",
        rich_help_panel=_PANEL,
    ),
]
TraceWindowOption = Annotated[
    str | None,
    typer.Option(
        "--trace-window",
        help="--trace: replay only START:END of it, durations from its first row "
        "(e.g. 10m:20m, :60s). Default: all of it.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
TraceBlockTokensOption = Annotated[
    int,
    typer.Option(
        "--trace-block-tokens",
        help="--trace (Mooncake): prompt tokens per hash id; the same id is the same text "
        "in every request, so a prefix cache sees the trace's reuse. Default 512.",
        rich_help_panel=_PANEL,
    ),
]
MaxRequestsOption = Annotated[
    int | None,
    typer.Option(
        "--max-requests",
        help="--trace: replay at most N rows (the same as -n with --trace). Default: all.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
SessionHeaderOption = Annotated[
    str | None,
    typer.Option(
        "--session-header",
        help="Send this header with a stable id per session, <run id>-<session> (e.g. "
        "X-Session-ID), for routers with session affinity. Needs sessions: --turns N, a "
        "conversation --dataset, or a --trace with a session column. Default: none.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
