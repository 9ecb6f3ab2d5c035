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
    "ImageDirOption",
    "ImageSizeOption",
    "ImagesOption",
    "MaxInputOption",
    "MaxOutputOption",
    "MinInputOption",
    "MinOutputOption",
    "PrefixGroupsOption",
    "PrefixTokensOption",
    "ReplayHistoryOption",
    "ResponseFormatOption",
    "ThinkTimeOption",
    "ToolChoiceOption",
    "ToolsOption",
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
ToolsOption = Annotated[
    Path | None,
    typer.Option(
        "--tools",
        help="A JSON file: a list of OpenAI tool definitions sent with every request; each "
        "tool call's arguments are checked against its parameters schema (invalid_output). "
        "Chat, responses, messages.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
ToolChoiceOption = Annotated[
    str,
    typer.Option(
        "--tool-choice",
        help="With --tools: auto, required, none, or a tool's name (that tool must be called).",
        rich_help_panel=_PANEL,
    ),
]
ResponseFormatOption = Annotated[
    str | None,
    typer.Option(
        "--response-format",
        help="json (any JSON object), or a JSON schema file: asks for structured output and "
        "checks each reply against it (invalid_output). Chat, responses.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
ImagesOption = Annotated[
    int,
    typer.Option(
        "--images",
        help="Images attached to each request: synthetic PNGs of --image-size (seeded by "
        "--seed), or files of --image-dir. 0 = none.",
        rich_help_panel=_PANEL,
    ),
]
ImageSizeOption = Annotated[
    str,
    typer.Option(
        "--image-size",
        help="Synthetic images: WIDTHxHEIGHT in pixels (about 3 bytes a pixel as sent).",
        rich_help_panel=_PANEL,
    ),
]
ImageDirOption = Annotated[
    Path | None,
    typer.Option(
        "--image-dir",
        help="Attach images from this folder (PNG, JPEG, WebP, GIF; each at most 20 MiB), "
        "--images per request (default 1), in turn.",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
