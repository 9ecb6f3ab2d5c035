"""Report sections of the workloads: goodput, embeddings throughput, latency by turn and by
shared-prefix group. They read a `Summary` only; report/summary.py places them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import outbound
from ..metrics import format_number
from ..results.stats import MetricStats, Summary

__all__ = [
    "slo_over_time_console",
    "workload_console",
    "workload_json",
    "workload_markdown",
    "workload_settings",
]


def workload_settings(config: Mapping[str, Any]) -> str:
    """The settings line's workload part: ` · batch 16 · 3 turns · dataset x.json …`."""
    parts = []
    if (config.get("batch") or 1) > 1:
        parts.append(f"batch {config['batch']}")
    if config.get("dataset"):
        name = str(config["dataset"]).rsplit("/", 1)[-1]
        fmt = config.get("dataset_format")
        parts.append(f"dataset {name}" + (f" ({fmt})" if fmt else ""))
    if (config.get("turns") or 1) > 1:
        parts.append(f"{config['turns']} turns")
    if config.get("think_time_s"):
        parts.append(f"think {config['think_time_s']:g} s")
    if config.get("replay_history"):
        parts.append("replayed history")
    if config.get("prefix_tokens"):
        parts.append(f"prefix {config['prefix_tokens']} tokens × {config.get('prefix_groups', 1)}")
    if config.get("session_header"):
        parts.append(f"session header {config['session_header']}")
    return "".join(f" · {p}" for p in parts + _content_settings(config))


def _content_settings(config: Mapping[str, Any]) -> list[str]:
    """`2 tools (required)`, `JSON schema reply`, `2 images 512x512` or `1 image from DIR`
    (a saved header's values, any shape)."""
    parts = []
    tools = config.get("tools")
    if isinstance(tools, list | tuple) and tools:
        choice = str(config.get("tool_choice") or "auto")[:64]
        parts.append(f"{len(tools)} tool{'s' if len(tools) > 1 else ''} ({choice})")
    reply = config.get("response_format")
    if reply is not None:
        parts.append("JSON reply" if reply == "json" else "JSON schema reply")
    count = config.get("images")
    count = count if type(count) is int and count > 0 else 0
    images = f"{count or 1} image{'s' if count > 1 else ''}"
    size = config.get("image_size")
    if config.get("image_dir"):
        parts.append(f"{images} from {str(config['image_dir']).rsplit('/', 1)[-1]}")
    elif count and isinstance(size, list | tuple) and len(size) == 2:
        parts.append(f"{images} {size[0]}x{size[1]}")
    return parts


def workload_json(summary: Summary, config: Mapping[str, Any]) -> dict[str, Any]:
    """The summary JSON's `goodput`, `embeddings`, `dispatch_lag`, `by_turn` and `by_group`
    keys."""
    goodput = None
    if config.get("goodput"):
        goodput = {
            "conditions": list(config.get("goodput") or ()),
            "good": summary.good,
            "per_s": summary.goodput_per_s,
            "fraction": summary.good_fraction,
        }
    embeddings = None
    if summary.total_inputs:
        embeddings = {
            "inputs": summary.total_inputs,
            "inputs_per_s": summary.inputs_per_s,
            "input_tokens_per_s": summary.input_tokens_per_s,
            # the server's input tokens per input (each request embeds a batch of inputs)
            "input_tokens_per_input": summary.total_input_tokens / summary.total_inputs,
        }
    lag = summary.metrics.get("dispatch_lag_ms")
    return {
        "goodput": goodput,
        "embeddings": embeddings,
        # trace replay: how far sending fell behind the trace's schedule (ms)
        "dispatch_lag": None
        if lag is None
        else {"unit": "ms", "count": lag.count, "p50": lag.p50, "p99": lag.p99, "max": lag.max},
        "by_turn": _by_json(summary.by_turn),
        "by_group": _by_json(summary.by_group),
        "per_model": per_model_json(summary) or None,
    }


def per_model_json(summary: Summary) -> dict[str, Any]:
    """The summary JSON's `per_model`: each requested model's counts, throughput, every
    latency statistic and error counts (names from the run's own --model list)."""
    out: dict[str, Any] = {}
    for name, sub in summary.by_model.items():
        out[outbound.json_text(name)] = {
            "requests": {"total": sub.total, "ok": sub.ok, "failed": sub.failed},
            "duration_s": sub.duration_s,
            "requests_per_s": sub.requests_per_s,
            "output_tokens_per_s": sub.output_tokens_per_s,
            "metrics": {k: v.to_json() for k, v in sub.metrics.items()},
            "errors": {g.kind: g.count for g in sub.errors},
        }
    return out


def _by_json(by: Mapping[int, Mapping[str, MetricStats]]) -> dict[str, Any]:
    return {str(k): {m: s.to_json() for m, s in v.items()} for k, v in by.items()}


def workload_console(summary: Summary, config: Mapping[str, Any]) -> list[str]:
    """Lines for the console's Summary block and, when there are any, the breakdowns."""
    lines: list[str] = []
    if config.get("goodput"):
        conditions = ",".join(config.get("goodput") or ())
        lines.append(
            f"  Goodput:          {summary.goodput_per_s:.2f} good req/s, "
            f"{100 * summary.good_fraction:.1f}% good ({summary.good} met {conditions})"
        )
    if summary.total_inputs:
        lines.append(
            f"  Embeddings:       {summary.inputs_per_s:.1f} inputs/s, "
            f"{summary.input_tokens_per_s:.1f} input tokens/s ({summary.total_inputs} inputs)"
        )
    if summary.by_model:
        lines += ["", "By model", *_model_table(summary)]
    lag = summary.metrics.get("dispatch_lag_ms")
    if lag is not None:
        lines.append(
            f"  Behind the trace: dispatch lag p50 {format_number(lag.p50)} ms, "
            f"p99 {format_number(lag.p99)} ms, max {format_number(lag.max)} ms "
            f"({lag.count} rows)"
        )
    for title, by, label in (
        ("By turn", summary.by_turn, "turn"),
        ("By prefix group", summary.by_group, "group"),
    ):
        if by:
            lines += ["", f"{title} (ms)", *_by_table(by, label)]
    return lines


def _model_table(summary: Summary) -> list[str]:
    names = {name: outbound.terminal(name, 40) for name in summary.by_model}
    width = max(8, *(len(n) for n in names.values()))
    head = f"  {'model':<{width}} {'ok':>6} {'failed':>7} {'req/s':>8} "
    rows = [head + f"{'TTFT p50':>10} {'TTFT p95':>10} {'E2E p50':>10} {'E2E p95':>10}"]
    for name, sub in summary.by_model.items():
        ttft, e2e = sub.metrics.get("ttft_ms"), sub.metrics.get("e2e_ms")
        rows.append(
            f"  {names[name]:<{width}} {sub.ok:>6} {sub.failed:>7} {sub.requests_per_s:>8.2f} "
            f"{_n(ttft, 'p50'):>10} {_n(ttft, 'p95'):>10} {_n(e2e, 'p50'):>10} "
            f"{_n(e2e, 'p95'):>10}"
        )
    return rows


def _by_table(by: Mapping[int, Mapping[str, MetricStats]], label: str) -> list[str]:
    head = f"  {label:>6} {'count':>7} {'TTFT p50':>10} {'TTFT p90':>10} {'E2E p50':>10}"
    rows = [head]
    for key, stats in by.items():
        ttft, e2e = stats.get("ttft_ms"), stats.get("e2e_ms")
        count = e2e.count if e2e is not None else 0
        rows.append(
            f"  {key:>6} {count:>7} {_n(ttft, 'p50'):>10} {_n(ttft, 'p90'):>10} "
            f"{_n(e2e, 'p50'):>10}"
        )
    return rows


def _n(stats: MetricStats | None, name: str) -> str:
    return "–" if stats is None else format_number(getattr(stats, name))


def workload_markdown(summary: Summary, config: Mapping[str, Any]) -> list[str]:
    """Markdown lines: goodput and embeddings figures, then the breakdown tables."""
    out: list[str] = []
    if config.get("goodput"):
        out.append(
            f"**Goodput** {summary.goodput_per_s:.2f} good req/s · "
            f"{100 * summary.good_fraction:.1f}% good"
        )
    if summary.total_inputs:
        out.append(
            f"**Embeddings** {summary.inputs_per_s:.1f} inputs/s · "
            f"{summary.input_tokens_per_s:.1f} input tok/s"
        )
    if summary.by_model:
        out += [
            "",
            "| model | ok | failed | req/s | TTFT p50 (ms) | TTFT p95 (ms) | E2E p95 (ms) |",
        ]
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, sub in summary.by_model.items():
            ttft, e2e = sub.metrics.get("ttft_ms"), sub.metrics.get("e2e_ms")
            out.append(
                f"| {outbound.markdown(name, 80)} | {sub.ok} | {sub.failed} | "
                f"{sub.requests_per_s:.2f} | {_n(ttft, 'p50')} | {_n(ttft, 'p95')} | "
                f"{_n(e2e, 'p95')} |"
            )
    for title, by in (("turn", summary.by_turn), ("prefix group", summary.by_group)):
        if not by:
            continue
        out += ["", f"| {title} | count | TTFT p50 (ms) | TTFT p90 (ms) | E2E p50 (ms) |"]
        out.append("|---:|---:|---:|---:|---:|")
        for key, stats in by.items():
            ttft, e2e = stats.get("ttft_ms"), stats.get("e2e_ms")
            count = e2e.count if e2e is not None else 0
            out.append(
                f"| {key} | {count} | {_n(ttft, 'p50')} | {_n(ttft, 'p90')} | {_n(e2e, 'p50')} |"
            )
    return [*out, ""] if out else []


def slo_over_time_console(slo: Mapping[str, Any] | None) -> list[str]:
    """The thresholds judged window by window (a --load-shape run): the violated share and
    the recovery after the peak."""
    if slo is None:
        return []
    judged, violated = slo["windows_judged"], slo["windows_violated"]
    width = slo["window_s"]
    line = f"  Over time: SLO violated in {violated} of {judged} windows of {width:g} s"
    if slo["violated_share"] is not None:
        line += f" ({100 * slo['violated_share']:.1f}% of the time)"
    lines = [line]
    peak_end = slo["peak_end_s"]
    if peak_end is not None:
        after = f"  After the peak ended at {peak_end:g} s: "
        if slo["recovered"]:
            lines.append(after + f"SLO held again {slo['recovery_s']:g} s later")
        else:
            lines.append(after + "SLO still violated when the run ended")
    return lines
