"""The answers part of every report: finish reasons, served models and the summary's warning
lines (`Summary.warnings`, docs/outcomes.md). Renderers only read the Summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .metrics import KIND_RATES
from .stats import Summary

__all__ = ["answers_console", "answers_json", "answers_markdown", "answers_text"]


_SHOWN = 10  # names listed on one line; the JSON has them all


def _counts(counts: Mapping[str, int]) -> str:
    """`stop 18, length 2` (most frequent first); past _SHOWN names, `and K more (N)`."""
    items = list(counts.items())
    text = ", ".join(f"{name} {n}" for name, n in items[:_SHOWN])
    rest = items[_SHOWN:]
    if rest:
        text += f", and {len(rest)} more ({sum(n for _, n in rest)})"
    return text


def answers_console(summary: Summary) -> list[str]:
    """Summary-block lines (finish reasons, served models), then one `!!` line a warning."""
    lines: list[str] = []
    if summary.finish_reasons:
        lines.append(f"  Finish reasons:   {_counts(summary.finish_reasons)}")
    if summary.served_models:
        lines.append(f"  Served by:        {_counts(summary.served_models)}")
    lines.extend(f"!! {notice.text}" for notice in summary.warnings)
    return lines


def answers_json(summary: Summary) -> dict[str, Any]:
    """The summary JSON's `answers` and `warnings` keys."""
    return {
        "answers": {
            "finish_reasons": dict(summary.finish_reasons),
            "served_models": dict(summary.served_models),
        },
        "warnings": [notice.to_json() for notice in summary.warnings],
        **{name: summary.kind_rate(kind) for name, kind in KIND_RATES.items()},
    }


def answers_markdown(summary: Summary, escape: Callable[[str], str]) -> list[str]:
    """Markdown lines: served models and finish reasons, then one quoted line a warning."""
    parts = []
    if summary.served_models:
        parts.append(f"**Served by:** {escape(_counts(summary.served_models))}")
    if summary.finish_reasons:
        parts.append(f"**Finish reasons:** {escape(_counts(summary.finish_reasons))}")
    lines = [" · ".join(parts), ""] if parts else []
    for notice in summary.warnings:
        lines += [f"> ⚠️ {escape(notice.text)}", ""]
    return lines


def answers_text(summary: Summary) -> list[str]:
    """Plain lines (JUnit's system-out): served models, then the warnings."""
    lines = [f"served by: {_counts(summary.served_models)}"] if summary.served_models else []
    return lines + [f"warning: {notice.text}" for notice in summary.warnings]
