"""The answers part of every report: finish reasons, served models, the request size and the
summary's warning lines (`Summary.warnings`, docs/outcomes.md). Renderers only read the
Summary."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from ..metrics import KIND_RATES
from ..results.stats import Summary

__all__ = ["answers_console", "answers_json", "answers_line", "answers_markdown", "answers_text"]


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
    """Summary-block lines: finish reasons, served models (warnings: the report model)."""
    lines: list[str] = []
    if summary.request_bytes is not None:
        lines.append(f"  Request size:     {_sizes(*summary.request_bytes)}")
    if summary.finish_reasons:
        lines.append(f"  Finish reasons:   {_counts(summary.finish_reasons)}")
    if summary.served_models:
        lines.append(f"  Served by:        {_counts(summary.served_models)}")
    return lines


def answers_json(summary: Summary) -> dict[str, Any]:
    """The summary JSON's `answers` and `notices` keys (warnings as data: code, count, text)."""
    return {
        "answers": {
            "finish_reasons": dict(summary.finish_reasons),
            "served_models": dict(summary.served_models),
        },
        "notices": [_notice_json(notice) for notice in summary.warnings],
        **{name: summary.kind_rate(kind) for name, kind in KIND_RATES.items()},
        "request_bytes": None
        if summary.request_bytes is None
        else {"mean": summary.request_bytes[0], "max": summary.request_bytes[1]},
    }


def _size(count: float) -> str:
    """Bytes as B, KiB or MiB (3 significant digits)."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


def _notice_json(notice: object) -> dict[str, Any]:
    """A warning as data: a Notice's own form, or a plain line's text."""
    to_json = getattr(notice, "to_json", None)
    if callable(to_json):
        return dict(to_json())
    return {"code": None, "count": None, "text": str(notice)}


def answers_markdown(summary: Summary, escape: Callable[[str], str]) -> list[str]:
    """Markdown lines: served models and finish reasons, (warnings: the report model)."""
    parts = []
    if summary.served_models:
        parts.append(f"**Served by:** {escape(_counts(summary.served_models))}")
    if summary.finish_reasons:
        parts.append(f"**Finish reasons:** {escape(_counts(summary.finish_reasons))}")
    if summary.request_bytes is not None:
        parts.append(f"**Request size:** {_sizes(*summary.request_bytes)}")
    return [" · ".join(parts), ""] if parts else []


def answers_text(summary: Summary) -> list[str]:
    """Plain lines (JUnit's system-out): served models."""
    return [f"served by: {_counts(summary.served_models)}"] if summary.served_models else []


def answers_line(answers: Mapping[str, Any], sent: Any = None) -> str:
    """`Served by: m 6 · Finish reasons: stop 8 · Request size: mean 1 KiB, max 1 KiB` from the
    summary JSON's `answers` and `request_bytes` (`sent`) (the HTML's line, worded as the
    console and Markdown word it); "" when none was recorded."""
    parts = []
    for key, label in (("served_models", "Served by"), ("finish_reasons", "Finish reasons")):
        counts = answers.get(key)
        if isinstance(counts, Mapping) and counts:
            parts.append(f"{label}: {_counts({str(k): int(v) for k, v in counts.items()})}")
    if isinstance(sent, Mapping):
        mean, largest = sent.get("mean"), sent.get("max")
        if _size_value(mean) and _size_value(largest):
            parts.append(f"Request size: {_sizes(mean, largest)}")
    return " · ".join(parts)


def _size_value(value: Any) -> TypeGuard[float]:
    """A byte count read back from a saved summary: a finite number, 0 or more."""
    plain = isinstance(value, int | float) and not isinstance(value, bool)
    return plain and math.isfinite(value) and value >= 0


def _sizes(mean: float, largest: float) -> str:
    return f"mean {_size(mean)}, max {_size(largest)}"
