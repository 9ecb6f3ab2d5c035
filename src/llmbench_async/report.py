"""Reporters: the console report and the summary JSON. They only read a `Summary` and a
`RunInfo`; they compute nothing themselves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .histogram import render_histogram
from .stats import MetricStats, Summary

SUMMARY_SCHEMA = "llmbench-async/summary/v1"

# summary-JSON key, console label; the order is the report's order
METRICS: tuple[tuple[str, str], ...] = (
    ("ttft_ms", "TTFT (ms)"),
    ("e2e_ms", "E2E (ms)"),
    ("itl_ms", "ITL (ms)"),
    ("tpot_ms", "TPOT (ms)"),
    ("output_tokens_per_s", "Output tok/s per req"),
    ("queue_delay_ms", "Queue delay (ms)"),
)
_STATS = ("count", "mean", "stdev", "min", "p50", "p90", "p95", "p99", "max")


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the report says about the run besides its statistics."""

    tool_version: str
    endpoint: str
    model: str
    settings: str  # e.g. "10 requests · concurrency 5 · max_tokens 128 · stream"
    started_at: str
    config: Mapping[str, Any] = field(default_factory=dict)  # redacted
    client: Mapping[str, Any] | None = None  # self-check figures
    target_concurrency: int | None = None
    interrupted_by: str | None = None
    cancelled: int = 0
    problem: str | None = None


def summary_json(summary: Summary, info: RunInfo) -> dict[str, Any]:
    """The summary JSON document (schema `llmbench-async/summary/v1`)."""
    metrics: dict[str, Any] = {}
    for key, _label in METRICS:
        stats = summary.metrics.get(key)
        metrics[key] = None if stats is None else stats.to_json()
    return {
        "schema": SUMMARY_SCHEMA,
        "tool": {"name": "llmbench-async", "version": info.tool_version},
        "started_at": info.started_at,
        "target": {"endpoint": info.endpoint, "model": info.model},
        "config": dict(info.config),
        "requests": {
            "total": summary.total,
            "ok": summary.ok,
            "failed": summary.failed,
            "warmup": summary.warmup,
            "cancelled": info.cancelled,
        },
        "duration_s": summary.duration_s,
        "metrics": metrics,
        "throughput": {
            "requests_per_s": summary.requests_per_s,
            "output_tokens_per_s": summary.output_tokens_per_s,
        },
        "tokens": {
            "output": summary.total_output_tokens,
            "input": summary.total_input_tokens,
            "output_source": dict(summary.token_sources),
        },
        "retries": summary.retries,
        "errors": {group.kind: group.count for group in summary.errors},
        "error_details": [
            {
                "kind": group.kind,
                "count": group.count,
                "first_message": group.first_message,
                "statuses": {str(status): n for status, n in group.statuses},
            }
            for group in summary.errors
        ],
        "client": dict(info.client) if info.client is not None else None,
        "interrupted_by": info.interrupted_by,
        "problem": info.problem,
    }


def console_report(summary: Summary, info: RunInfo, *, width: int = 100) -> str:
    """The one-screen console report: header, summary, statistics, histograms, errors."""
    width = max(60, min(width, 120))
    out: list[str] = []
    out.append(f"llmbench-async {info.tool_version} → {info.endpoint}")
    out.append(f"model {info.model} · {info.settings}")
    if info.interrupted_by:
        out.append(
            f"!! interrupted by {info.interrupted_by}: report covers the {summary.total} "
            f"requests that finished ({info.cancelled} in flight were cancelled)"
        )
    out.append("")
    out.append("Summary")
    out.append(
        f"  Requests:         {summary.ok} ok, {summary.failed} failed ({summary.total} total)"
    )
    out.append(f"  Duration:         {summary.duration_s:.3f} s")
    out.append(f"  Requests/s:       {summary.requests_per_s:.2f}")
    sources = ", ".join(f"{k} {v}" for k, v in summary.token_sources.items() if v)
    out.append(
        f"  Output tokens/s:  {summary.output_tokens_per_s:.1f} "
        f"({summary.total_output_tokens} tokens; counted from: {sources or 'none'})"
    )
    if summary.retries:
        out.append(f"  Retries:          {summary.retries}")
    out.append("")
    out.extend(_stats_table(summary.metrics))
    for key, title in (("e2e_ms", "E2E latency (ms)"), ("ttft_ms", "Time to first token (ms)")):
        values = summary.samples.get(key)
        if values and len(values) > 1:
            out.append("")
            out.append(f"{title} histogram")
            out.extend(render_histogram(values, width=min(width, 90), bins=8, unit="ms"))
    if summary.errors:
        out.append("")
        out.append("Errors")
        kind_w = max(len(g.kind) for g in summary.errors)
        for group in summary.errors:
            msg = group.first_message
            room = max(20, width - kind_w - 14)
            if len(msg) > room:
                msg = msg[: room - 1] + "…"
            out.append(f"  {group.kind:<{kind_w}} {group.count:>6}  {msg}")
    if info.client is not None:
        out.append("")
        out.extend(_self_check(info))
    if info.problem:
        out.append("")
        out.append(f"!! {info.problem}")
    return "\n".join(out) + "\n"


def _stats_table(metrics: Mapping[str, MetricStats]) -> list[str]:
    label_w = max(len(label) for _, label in METRICS)
    head = f"{'':<{label_w}}" + "".join(f"{name:>10}" for name in _STATS)
    lines = [head]
    for key, label in METRICS:
        stats = metrics.get(key)
        if stats is None:
            continue
        cells = [f"{stats.count:>10d}"]
        cells += [f"{_fmt(getattr(stats, name)):>10}" for name in _STATS[1:]]
        lines.append(f"{label:<{label_w}}" + "".join(cells))
    if len(lines) == 1:
        lines.append("  (no successful request: no latency statistics)")
    return lines


def _self_check(info: RunInfo) -> list[str]:
    client = info.client or {}
    lag = client.get("loop_lag_ms", {})
    peak = client.get("peak_in_flight")
    target = info.target_concurrency
    line = (
        f"Client self-check: loop lag p50 {lag.get('p50', 0.0):.1f} ms, "
        f"p99 {lag.get('p99', 0.0):.1f} ms; CPU {client.get('cpu_percent', 0.0):.0f}%; "
        f"peak in flight {peak}" + (f"/{target}" if target else "")
    )
    lines = [line]
    if lag.get("p99", 0.0) > 20.0 or client.get("cpu_percent", 0.0) > 90.0:
        lines.append(
            "!! the client itself was busy: its event loop lagged, so latencies include "
            "client delay; lower --concurrency or spread the load"
        )
    return lines


def _fmt(value: float) -> str:
    """Compact fixed-point: 3 significant digits at least, no scientific notation."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
