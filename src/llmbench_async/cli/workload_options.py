"""The workload `run` options (datasets, multi-turn, shared prefixes, gamma arrivals,
goodput, embeddings batches), each declared once as a field of `WorkloadOptions`: type,
default, help and panel. cli/flags.py turns them into RunConfig fields (parsers:
cli/parse.py) and RunConfig checks them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from .layout import GATE, LOAD, WORKLOAD

_PANEL = WORKLOAD


def _length_option(flag: str, what: str) -> Any:
    return typer.Option(
        flag,
        help=f"--dataset: {what} (tokens, estimated as characters/4, no tokenizer).",
        show_default=False,
        rich_help_panel=_PANEL,
    )


@dataclass(frozen=True)
class WorkloadOptions:
    """The workload options, each declared once: type, default, help and panel."""

    # -- Load
    burstiness: Annotated[
        float,
        typer.Option(
            "--burstiness",
            help="--arrival gamma: gamma shape B. 1 = Poisson; below 1 burstier, above 1 "
            "smoother (gap CV = 1/sqrt(B)). Same mean rate.",
            rich_help_panel=LOAD,
        ),
    ] = 1.0
    # -- Gate
    goodput: Annotated[
        list[str] | None,
        typer.Option(
            "--goodput",
            help="Per-request SLO, e.g. 'ttft<200ms,tpot<50ms': report good requests/s and "
            "the good share (metrics goodput and good_fraction in --fail-if).",
            show_default=False,
            rich_help_panel=GATE,
        ),
    ] = None
    # -- Workload
    batch: Annotated[
        int,
        typer.Option(
            "--batch", help="--api embeddings: inputs per request.", rich_help_panel=_PANEL
        ),
    ] = 1
    turns: Annotated[
        int | None,
        typer.Option(
            "--turns",
            help="Multi-turn: turns per session (each carries the earlier turns and replies). "
            "Default 1, or each dataset conversation's own turns (capped by --turns).",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    think_time: Annotated[
        str | None,
        typer.Option(
            "--think-time",
            help="Multi-turn: pause between a reply and the next turn (e.g. 500ms, 2s; a bare "
            "number is seconds). Default 0.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    replay_history: Annotated[
        bool,
        typer.Option(
            "--replay-history",
            help="Multi-turn: carry the dataset's assistant replies instead of the server's.",
            rich_help_panel=_PANEL,
        ),
    ] = False
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            help="Prompts or conversations from a local file (streamed, seeded sample), or "
            "sample:sharegpt, sample:openai-jsonl, sample:conversations (shipped with the tool).",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    dataset_format: Annotated[
        str | None,
        typer.Option(
            "--dataset-format",
            help="sharegpt, openai-jsonl or conversations. Default: detected from the file.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    min_input_tokens: Annotated[
        int | None, _length_option("--min-input-tokens", "skip prompts shorter than this")
    ] = None
    max_input_tokens: Annotated[
        int | None, _length_option("--max-input-tokens", "skip prompts longer than this")
    ] = None
    min_output_tokens: Annotated[
        int | None, _length_option("--min-output-tokens", "skip entries whose reply is shorter")
    ] = None
    max_output_tokens: Annotated[
        int | None, _length_option("--max-output-tokens", "skip entries whose reply is longer")
    ] = None
    prefix_tokens: Annotated[
        int,
        typer.Option(
            "--prefix-tokens",
            help="Shared prefixes: every prompt starts with one of --prefix-groups fixed "
            "prefixes of about this many tokens (part of --input-tokens). 0 = none.",
            rich_help_panel=_PANEL,
        ),
    ] = 0
    prefix_groups: Annotated[
        int,
        typer.Option(
            "--prefix-groups",
            help="Shared prefixes: how many distinct prefixes (request i uses i mod G).",
            rich_help_panel=_PANEL,
        ),
    ] = 1
    trace: Annotated[
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
    ] = None
    trace_format: Annotated[
        str | None,
        typer.Option(
            "--trace-format",
            help="--trace's format: mooncake, burstgpt or azure. Default: detected.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    trace_speed: Annotated[
        float,
        typer.Option(
            "--trace-speed",
            help="--trace: time scale; 2 replays twice as fast (gaps halved). Default 1.",
            rich_help_panel=_PANEL,
        ),
    ] = 1.0
    trace_window: Annotated[
        str | None,
        typer.Option(
            "--trace-window",
            help="--trace: replay only START:END of it, durations from its first row "
            "(e.g. 10m:20m, :60s). Default: all of it.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    trace_block_tokens: Annotated[
        int,
        typer.Option(
            "--trace-block-tokens",
            help="--trace (Mooncake): prompt tokens per hash id; the same id is the same text "
            "in every request, so a prefix cache sees the trace's reuse. Default 512.",
            rich_help_panel=_PANEL,
        ),
    ] = 512
    max_requests: Annotated[
        int | None,
        typer.Option(
            "--max-requests",
            help="--trace: replay at most N rows (the same as -n with --trace). Default: all.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    session_header: Annotated[
        str | None,
        typer.Option(
            "--session-header",
            help="Send this header with a stable id per session, <run id>-<session> (e.g. "
            "X-Session-ID), for routers with session affinity. Needs sessions: --turns N, a "
            "conversation --dataset, or a --trace with a session column. Default: none.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    tools: Annotated[
        Path | None,
        typer.Option(
            "--tools",
            help="A JSON file: a list of OpenAI tool definitions sent with every request; each "
            "tool call's arguments are checked against its parameters schema (invalid_output). "
            "Chat, responses, messages.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    tool_choice: Annotated[
        str,
        typer.Option(
            "--tool-choice",
            help="With --tools: auto, required, none, or a tool's name (that tool must be called).",
            rich_help_panel=_PANEL,
        ),
    ] = "auto"
    response_format: Annotated[
        str | None,
        typer.Option(
            "--response-format",
            help="json (any JSON object), or a JSON schema file: asks for structured output and "
            "checks each reply against it (invalid_output). Chat, responses.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
    images: Annotated[
        int,
        typer.Option(
            "--images",
            help="Images attached to each request: synthetic PNGs of --image-size (seeded by "
            "--seed), or files of --image-dir. 0 = none.",
            rich_help_panel=_PANEL,
        ),
    ] = 0
    image_size: Annotated[
        str,
        typer.Option(
            "--image-size",
            help="Synthetic images: WIDTHxHEIGHT in pixels (about 3 bytes a pixel as sent).",
            rich_help_panel=_PANEL,
        ),
    ] = "256x256"
    image_dir: Annotated[
        Path | None,
        typer.Option(
            "--image-dir",
            help="Attach images from this folder (PNG, JPEG, WebP, GIF; each at most 20 MiB), "
            "--images per request (default 1), in turn.",
            show_default=False,
            rich_help_panel=_PANEL,
        ),
    ] = None
