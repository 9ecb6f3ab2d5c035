"""The server-side part of every report: how the latency splits as the server reported it
(queue, prefill, decode, and the rest: network and client), the prefix-cache hit rate, and
the HTTP phases apart for new, preconnected and reused connections (docs/server-timing.md,
docs/clocks.md). Renderers only read the Summary; the server's numbers passed the inbound
bounds when they were read (`wire/servertiming.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import outbound
from ..metrics import format_number
from ..results.serverside import NOT_REPORTED, PHASES
from ..results.stats import MetricStats, Summary

__all__ = ["server_console", "server_json", "server_markdown"]

# the split's parts: (name in the JSON, metric key, console label)
_PARTS = (
    ("queue_ms", "server_queue_ms", "queue"),
    ("prefill_ms", "server_prefill_ms", "prefill"),
    ("decode_ms", "server_decode_ms", "decode"),
    ("rest_ms", "network_client_ms", "network+client"),
)


def _stats(stats: MetricStats | None) -> dict[str, Any] | None:
    return None if stats is None else stats.to_json()


def server_json(summary: Summary) -> dict[str, Any]:
    """The summary JSON's `server_timing` and `phases` keys."""
    server = summary.server
    split = {name: summary.metrics[key].mean for name, key, _ in _PARTS if key in summary.metrics}
    timing = {
        "reported": server.timed,
        "of_ok": summary.ok,
        # a saved file's source names are outside text: escaped for the sink
        "sources": {outbound.json_text(name, 40): n for name, n in server.sources.items()},
        "note": None if server.timed else NOT_REPORTED,
        "mean_split_ms": split or None,
        "cache_hit_rate": server.cache_hit_rate,
        "cached_tokens": server.cached_tokens,
        "cache_prompt_tokens": server.cache_prompt_tokens,
        "cache_reports": server.cache_reports,
    }
    conns = server.connections
    phases = {
        "new": {
            "requests": conns.get("new", 0),
            **{k: _stats(server.new_phases.get(k)) for k in PHASES},
            "headers_ms": _stats(summary.metrics.get("headers_new_ms")),
        },
        "preconnected": {
            "connections": conns.get("preconnected", 0),
            **{k: _stats(server.preconnect_phases.get(k)) for k in PHASES},
        },
        "reused": {
            "requests": conns.get("reused", 0) + conns.get("preconnected", 0),
            "headers_ms": _stats(summary.metrics.get("headers_reused_ms")),
        },
    }
    return {"server_timing": timing, "phases": phases}


def server_console(summary: Summary) -> list[str]:
    """Summary-block lines: the server's split (or that it reported none), the cache hit
    rate, and the connection phases of new and preconnected connections."""
    server = summary.server
    lines: list[str] = []
    if summary.ok:
        if server.timed:
            parts = ", ".join(
                f"{label} {format_number(summary.metrics[key].mean)}"
                for _, key, label in _PARTS
                if key in summary.metrics
            )
            said = ", ".join(f"{outbound.terminal(k, 40)} {n}" for k, n in server.sources.items())
            lines.append(f"  Server timing:    {parts} ms (mean; {said} of {summary.ok} ok)")
        else:
            lines.append(f"  Server timing:    not reported ({NOT_REPORTED})")
    rate = server.cache_hit_rate
    if rate is not None:
        lines.append(
            f"  Cache hits:       {rate:.1f} % of prompt tokens ({server.cached_tokens} of "
            f"{server.cache_prompt_tokens}, {server.cache_reports} requests said)"
        )
    kinds = (("new", server.new_phases), ("preconnected", server.preconnect_phases))
    shown = [f"{kind}: {text}" for kind, phases in kinds if (text := _phase_text(phases))]
    if shown:
        lines.append(f"  Set-up phases:    {'; '.join(shown)}")
    return lines


def _phase_text(phases: Mapping[str, MetricStats]) -> str:
    """`dns 0.02, tcp 0.11, tls 3.40 ms (mean; 4 connections)`, or "" with none."""
    shown = [(k, phases[k]) for k in PHASES if k in phases]
    if not shown:
        return ""
    count = max(stats.count for _, stats in shown)
    parts = ", ".join(f"{k[:-3]} {format_number(stats.mean)}" for k, stats in shown)
    return f"{parts} ms (mean; {count} connections)"


def server_markdown(summary: Summary) -> list[str]:
    """The Markdown report's line: the server's split (or that it reported none) and the
    cache hit rate."""
    server = summary.server
    if not summary.ok:
        return []
    if not server.timed:
        text = "not reported"
    else:
        parts = ", ".join(
            f"{label} {format_number(summary.metrics[key].mean)}"
            for _, key, label in _PARTS
            if key in summary.metrics
        )
        said = ", ".join(f"{outbound.markdown(k, 40)} {n}" for k, n in server.sources.items())
        text = f"{parts} ms (mean; {said} of {summary.ok} ok)"
    rate = server.cache_hit_rate
    cache = "" if rate is None else f" · cache hits {rate:.1f} % of prompt tokens"
    return [f"**Server timing:** {text}{cache}", ""]
