"""Reporters: the console report, the summary JSON, Markdown, JUnit XML and the comparison
table. They only read a `Summary`, a `RunInfo`, judged thresholds (`Verdict`s, from gate.py)
or a `Comparison` (from compare.py); they compute nothing themselves."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .histogram import render_histogram
from .metrics import MIN_REQUESTS, PER_REQUEST, format_number
from .report_workloads import (
    workload_console,
    workload_json,
    workload_markdown,
    workload_throughput,
)
from .stats import MetricStats, Summary

if TYPE_CHECKING:
    from .compare import ComparedRun, Comparison, Row
    from .gate import Verdict

SUMMARY_SCHEMA = "llmbench-async/summary/v1"

# summary-JSON key, console label; the order is the report's order
METRICS: tuple[tuple[str, str], ...] = tuple((m.key, m.label) for m in PER_REQUEST)
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
    not_sent: int | None = None  # requests of a counted plan never sent (an early stop)
    problem: str | None = None
    timeseries: Mapping[str, Any] | None = None  # timeseries.SeriesBuilder.to_json()


@dataclass(frozen=True, slots=True)
class RunReport:
    """One run rendered for every output (see publish.publish)."""

    summary: Summary
    info: RunInfo
    verdicts: tuple[Verdict, ...] = ()

    def console(self, *, width: int, color: bool) -> str:
        return console_report(
            self.summary, self.info, width=width, verdicts=self.verdicts, color=color
        )

    def json(self) -> dict[str, Any]:
        return summary_json(self.summary, self.info, self.verdicts)

    def markdown(self) -> str:
        return markdown_report(self.summary, self.info, self.verdicts)

    def junit(self) -> str:
        return junit_xml(self.summary, self.info, self.verdicts)

    def html(self) -> str:
        from .report_html import run_html  # loaded only for --html

        return run_html(self.json(), self.summary, self.info.settings)


def summary_json(
    summary: Summary, info: RunInfo, verdicts: Sequence[Verdict] = ()
) -> dict[str, Any]:
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
            "ramp": summary.ramp,
            "new_connections": summary.new_connections,
            "cancelled": info.cancelled,
            "not_sent": info.not_sent,
        },
        "duration_s": summary.duration_s,
        "metrics": metrics,
        "throughput": {
            "requests_per_s": summary.requests_per_s,
            "output_tokens_per_s": summary.output_tokens_per_s,
            **workload_throughput(summary),
        },
        "tokens": {
            "output": summary.total_output_tokens,
            "input": summary.total_input_tokens,
            "output_source": dict(summary.token_sources),
        },
        "retries": summary.retries,
        "retry_causes": dict(summary.retry_causes),
        "retry_rate": summary.retry_rate,
        "retry_wait_s": summary.retry_wait_s,
        "latency_from": summary.latency_from,
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
        "timeseries": dict(info.timeseries) if info.timeseries is not None else None,
        "thresholds": [
            {
                "expression": str(v.threshold),
                "metric": str(v.threshold.ref),
                "op": v.threshold.op,
                "limit": v.threshold.limit,
                "unit": v.threshold.ref.unit,
                "observed": v.observed,
                "passed": v.passed,
            }
            for v in verdicts
        ],
        **workload_json(summary, info.config),
    }


def console_report(
    summary: Summary,
    info: RunInfo,
    *,
    width: int = 100,
    verdicts: Sequence[Verdict] = (),
    color: bool = False,
) -> str:
    """The one-screen console report: header, summary, statistics, histograms, errors and
    thresholds. `color` adds ANSI colour to PASS / FAIL (only ask for it on a terminal)."""
    width = max(60, min(width, 120))
    out: list[str] = []
    out.append(f"llmbench-async {info.tool_version} → {info.endpoint}")
    out.append(f"model {info.model} · {info.settings}")
    if info.interrupted_by:
        out.append(
            f"!! interrupted by {info.interrupted_by}: report covers the {summary.total} "
            f"requests that finished ({info.cancelled} in flight were cancelled)"
        )
    elif info.problem and info.not_sent:
        out.append(
            f"!! stopped early: report covers the {summary.total} requests that finished "
            f"({info.cancelled} in flight were cancelled, {info.not_sent} not sent)"
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
    if summary.total_input_tokens and summary.ok:
        requested = info.config.get("input_tokens")
        asked = f"; asked for ~{requested[0]}" if requested else ""
        out.append(
            f"  Input tokens:     {summary.total_input_tokens / summary.ok:.1f} per request "
            f"(server's count{asked})"
        )
    if summary.new_connections:
        out.append(
            f"  Connections:      {summary.new_connections} opened during the run "
            "(see Connect below)"
        )
    if summary.retries:
        out.append(
            f"  Retries:          {summary.retries} ({_causes_text(summary)}; retry rate "
            f"{summary.retry_rate:.1f} %; {summary.retry_wait_s:.2f} s lost to failed "
            "attempts and backoff)"
        )
    out.extend(workload_console(summary, info.config))
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
    if verdicts:
        out.append("")
        out.extend(_thresholds_table(summary, info, verdicts, color))
    return "\n".join(out) + "\n"


def _causes_text(summary: Summary) -> str:
    """`http_429 3, timeout 1`: retried attempts by cause."""
    return ", ".join(f"{cause} {n}" for cause, n in summary.retry_causes.items()) or "no cause"


def _thresholds_table(
    summary: Summary, info: RunInfo, verdicts: Sequence[Verdict], color: bool
) -> list[str]:
    title = "Thresholds"
    if info.interrupted_by:
        title += (
            f" (judged on the {summary.total} requests that finished before {info.interrupted_by})"
        )
    expr_w = max(len(str(v.threshold)) for v in verdicts)
    seen_w = max(len(v.observed_text) for v in verdicts)
    lines = [title]
    for v in verdicts:
        mark = _paint("PASS", _GREEN, color) if v.passed else _paint("FAIL", _RED, color)
        lines.append(
            f"  {mark}  {v.threshold!s:<{expr_w}}  observed {v.observed_text:<{seen_w}}  "
            f"limit {v.threshold.limit_text}"
        )
    lines.append(f"  {threshold_tally(verdicts)}")
    return lines


def threshold_tally(verdicts: Sequence[Verdict]) -> str:
    """`all 3 thresholds passed` or `1 of 3 thresholds failed`."""
    failed = sum(not v.passed for v in verdicts)
    noun = "threshold" if len(verdicts) == 1 else "thresholds"
    if not failed:
        return f"all {len(verdicts)} {noun} passed" if len(verdicts) > 1 else f"1 {noun} passed"
    return f"{failed} of {len(verdicts)} {noun} failed"


_GREEN = "32"
_RED = "31"


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


# ---------------------------------------------------------------------------------------------
# Markdown (CI job summaries, PR comments)

# the statistics columns of the Markdown table
_MD_STATS = ("count", "mean", "p50", "p90", "p95", "p99", "max")


def markdown_report(summary: Summary, info: RunInfo, verdicts: Sequence[Verdict] = ()) -> str:
    """A Markdown summary: headline, key statistics table, thresholds table, errors."""
    failed = [v for v in verdicts if not v.passed]
    if not verdicts:
        headline = f"{summary.ok} ok, {summary.failed} failed"
    elif failed:
        headline = f"❌ {threshold_tally(verdicts)}"
    else:
        headline = f"✅ {threshold_tally(verdicts)}"
    out = [f"### llmbench-async: {headline}", ""]
    model = info.model.replace("`", "'")
    out.append(f"`{model}` → {_md(info.endpoint)} · {_md(info.settings)}")
    out.append("")
    if info.interrupted_by:
        out.append(
            f"> **Interrupted by {info.interrupted_by}**: the figures cover the "
            f"{summary.total} requests that finished ({info.cancelled} in flight were cancelled)."
        )
        out.append("")
    if info.problem:
        out.append(f"> **Problem:** {_md(info.problem)}")
        out.append("")
    out.append(
        f"**{summary.ok} ok, {summary.failed} failed** · {summary.duration_s:.3f} s · "
        f"{summary.requests_per_s:.2f} req/s · {summary.output_tokens_per_s:.1f} output tok/s"
    )
    out.append("")
    if summary.retries:
        out.append(
            f"**Retries:** {summary.retries} retried attempts ({_md(_causes_text(summary))}) · "
            f"retry rate {summary.retry_rate:.1f} % · error rate counts requests that failed "
            "after all retries"
        )
        out.append("")
    out.extend(workload_markdown(summary, info.config))
    rows = [(label, summary.metrics.get(key)) for key, label in METRICS]
    present = [(label, stats) for label, stats in rows if stats is not None]
    if present:
        out.append("| metric | " + " | ".join(_MD_STATS) + " |")
        out.append("|---|" + "---:|" * len(_MD_STATS))
        for label, stats in present:
            cells = [str(stats.count)] + [format_number(getattr(stats, n)) for n in _MD_STATS[1:]]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    else:
        out.append("_No successful request: no latency statistics._")
    if verdicts:
        out.append("")
        out.append("| result | threshold | observed | limit |")
        out.append("|---|---|---:|---|")
        for v in verdicts:
            mark = "✅ pass" if v.passed else "❌ **FAIL**"
            out.append(
                f"| {mark} | `{v.threshold}` | {v.observed_text} | {v.threshold.limit_text} |"
            )
    if summary.errors:
        out.append("")
        out.append("| error | count | first message |")
        out.append("|---|---:|---|")
        for group in summary.errors:
            out.append(f"| {group.kind} | {group.count} | {_md(group.first_message)} |")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """Escape text for a Markdown table cell (pipes, HTML, line breaks)."""
    return (
        " ".join(text.split())
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


# ---------------------------------------------------------------------------------------------
# JUnit XML (GitLab, Jenkins and most CI systems show these as tests)


def junit_xml(summary: Summary, info: RunInfo, verdicts: Sequence[Verdict] = ()) -> str:
    """JUnit XML: one testcase per threshold, plus one for "no request failed"."""
    cases: list[tuple[str, str, str | None]] = []  # classname, name, failure message
    for v in verdicts:
        message = None
        if not v.passed:
            message = f"observed {v.observed_text} vs limit {v.threshold.limit_text}"
        cases.append(("llmbench-async.thresholds", str(v.threshold), message))
    failure = None
    if summary.failed:
        kinds = ", ".join(f"{g.kind} {g.count}" for g in summary.errors)
        failure = f"{summary.failed} of {summary.total} requests failed ({kinds})"
    cases.append(("llmbench-async.requests", "no request failed", failure))
    failures = sum(message is not None for _, _, message in cases)

    root = ET.Element("testsuites", name="llmbench-async")
    root.set("tests", str(len(cases)))
    root.set("failures", str(failures))
    suite = ET.SubElement(root, "testsuite", name="llmbench-async")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", f"{summary.duration_s:.3f}")
    if info.started_at:
        suite.set("timestamp", info.started_at)
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("endpoint", info.endpoint),
        ("model", info.model),
        ("settings", info.settings),
        ("tool_version", info.tool_version),
        ("interrupted_by", info.interrupted_by),
        ("retries", str(summary.retries)),
        ("retry_rate", f"{summary.retry_rate:.3f}"),
        *((f"retries.{cause}", str(n)) for cause, n in summary.retry_causes.items()),
    ):
        if value:
            ET.SubElement(props, "property", name=name, value=value)
    for classname, name, message in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=name)
        case.set("time", "0")
        if message is not None:
            kind = "threshold" if classname.endswith("thresholds") else "request_failures"
            element = ET.SubElement(case, "failure", message=message, type=kind)
            element.text = message
    out = [
        f"{summary.ok} ok, {summary.failed} failed ({summary.total} total) in "
        f"{summary.duration_s:.3f} s; {summary.requests_per_s:.2f} req/s; "
        f"{summary.retries} retries (retry_rate {summary.retry_rate:.1f} %)"
    ]
    if info.interrupted_by:
        out.append(
            f"interrupted by {info.interrupted_by}: thresholds were judged on the "
            f"{summary.total} requests that finished"
        )
    if info.problem:
        out.append(info.problem)
    ET.SubElement(suite, "system-out").text = "\n".join(out)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _stats_table(metrics: Mapping[str, MetricStats]) -> list[str]:
    label_w = max(len(label) for _, label in METRICS)
    head = f"{'':<{label_w}}" + "".join(f"{name:>9}" for name in _STATS)
    lines = [head]
    for key, label in METRICS:
        stats = metrics.get(key)
        if stats is None:
            continue
        if key == "ttfc_ms" and stats == metrics.get("ttft_ms"):
            continue  # no reasoning: TTFC is TTFT, one row says it
        cells = [f"{stats.count:>9d}"]
        cells += [f"{format_number(getattr(stats, name)):>9}" for name in _STATS[1:]]
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
    if client.get("ray"):
        return lines + ray_self_check(client["ray"])
    workers = info.config.get("workers") or 1
    per_process_cpu = client.get("cpu_percent", 0.0) / max(1, int(workers))
    if lag.get("p99", 0.0) > 20.0 or per_process_cpu > 90.0:
        lines.append(
            "!! the client itself was busy (event-loop lag or a saturated core), so latencies "
            "include client delay; use --workers (one process per core) or lower the load"
        )
    return lines


def ray_self_check(ray: Mapping[str, Any]) -> list[str]:
    """A Ray run: placement and clocks, each actor's self-check, busy nodes, lost requests."""
    spread = ray.get("start_spread_ms")
    lines = [
        f"Ray: {len(ray.get('actors', ()))} actors on {ray.get('nodes')} nodes; start spread "
        + ("–" if spread is None else f"{spread:.1f} ms")
    ]
    for a in ray.get("actors", ()):
        lag = a.get("loop_lag_ms", {})
        where = f"{a.get('node')} (node {str(a.get('node_id'))[:8]})"
        lines.append(
            f"  actor {a.get('actor')} @ {where}: {a.get('requests')} requests; lag p50 "
            f"{lag.get('p50', 0.0):.1f} / p99 {lag.get('p99', 0.0):.1f} ms; CPU "
            f"{a.get('cpu_percent', 0.0):.0f}%; peak {a.get('peak_in_flight')}; clock offset "
            f"{a.get('clock_offset_ms', 0.0):+.1f} ms (RTT {a.get('clock_rtt_ms', 0.0):.1f})"
        )
        if a.get("error"):
            lost = a.get("lost")
            count = "an unknown number of" if lost is None else str(lost)
            lines.append(f"!! {count} requests lost with node {where}: {a['error']}")
        elif lag.get("p99", 0.0) > 20.0 or a.get("cpu_percent", 0.0) > 90.0:
            lines.append(
                f"!! the client on node {where} was busy (event-loop lag or a saturated core), "
                "so its latencies include client delay; add nodes or lower the load"
            )
    return lines


# ---------------------------------------------------------------------------------------------
# Comparison of two runs


def comparison_report(comparison: Comparison, *, color: bool = False) -> str:
    """BASE vs NEW, side by side: value, change with an arrow, better/worse, and the verdict
    for metrics with a tolerance. `color` paints better green, worse red (terminals only)."""
    out = [
        f"BASE  {_side(comparison.base)}",
        f"NEW   {_side(comparison.new)}",
        *(f"!! {diff}" for diff in comparison.setting_diffs),
        "",
    ]
    labels = [f"{row.ref} ({row.ref.unit})" for row in comparison.rows]
    label_w = max(len(label) for label in labels)
    out.append(f"{'metric':<{label_w}}  {'base':>10}  {'new':>10}  {'change':>11}")
    for label, row in zip(labels, comparison.rows, strict=True):
        change = f"{_arrow(row)} {change_text(row):>9}"
        direction: str = row.direction if row.direction != "n/a" else ""
        if direction == "better":
            direction = _paint(f"{direction:<6}", _GREEN, color)
        elif direction == "worse":
            direction = _paint(f"{direction:<6}", _RED, color)
        else:
            direction = f"{direction:<6}"
        line = (
            f"{label:<{label_w}}  {_opt(row.base):>10}  {_opt(row.new):>10}  {change}  {direction}"
        )
        verdict = _row_verdict(row)
        if verdict:
            line += "  " + (_paint(verdict, _RED, color) if row.regressed else verdict)
        out.append(line.rstrip())
    out.append("")
    if comparison.too_few_samples:
        out.append(f"!! {_too_few(comparison)}")
    out.append(f"compare: {_comparison_tally(comparison)}")
    return "\n".join(out) + "\n"


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as a Markdown table (for CI job summaries and PR comments)."""
    if not comparison.judged:
        headline = "comparison"
    elif comparison.regressions:
        headline = f"❌ {_comparison_tally(comparison)}"
    else:
        headline = f"✅ {_comparison_tally(comparison)}"
    out = [f"### llmbench-async compare: {headline}", ""]
    out.append(f"- **BASE** {_md(_side(comparison.base))}")
    out.append(f"- **NEW** {_md(_side(comparison.new))}")
    out.extend(f"- ⚠️ {_md(str(diff))}" for diff in comparison.setting_diffs)
    out.append("")
    if comparison.too_few_samples:
        out.append(f"> ⚠️ {_md(_too_few(comparison))}")
        out.append("")
    out.append("| metric | base | new | change | | verdict |")
    out.append("|---|---:|---:|---:|---|---|")
    for row in comparison.rows:
        verdict = _row_verdict(row)
        if row.regressed:
            verdict = f"❌ **{verdict}**"
        out.append(
            f"| `{row.ref}` ({row.ref.unit}) | {_opt(row.base)} | {_opt(row.new)} | "
            f"{_arrow(row)} {change_text(row)} | "
            f"{row.direction if row.direction != 'n/a' else ''} | {_md(verdict)} |"
        )
    if not comparison.judged:
        out.append("")
        out.append(f"_{_comparison_tally(comparison)}_")
    return "\n".join(out) + "\n"


def _side(run: ComparedRun) -> str:
    return (
        f"{run.path}: {run.total} requests ({run.ok} ok) · {run.model} → {run.endpoint} · "
        f"started {run.started_at}"
    )


def _opt(value: float | None) -> str:
    return "no data" if value is None else format_number(value)


def _arrow(row: Row) -> str:
    if row.base is None or row.new is None:
        return " "
    if row.direction == "same":
        return "="
    if row.new > row.base:
        return "↑"
    return "↓" if row.new < row.base else "="


def change_text(row: Row) -> str:
    if row.base is None or row.new is None:
        return "—"
    if row.change is None:
        return "from 0"
    if row.change_unit == "pt":
        return "±0.00 pt" if row.direction == "same" else f"{row.change:+.2f} pt"
    return "±0.0%" if row.direction == "same" else f"{row.change:+.1f}%"


def _row_verdict(row: Row) -> str:
    if row.tolerance is None:
        return ""
    limit = f"{row.tolerance:g} pt" if row.change_unit == "pt" else f"{row.tolerance:g}%"
    if row.regressed:
        return f"REGRESSION: worse by more than {limit}"
    return f"ok (within {limit})"


def _too_few(comparison: Comparison) -> str:
    return (
        f"too few samples to tell: BASE has {comparison.base.total} requests, NEW "
        f"{comparison.new.total} (want {MIN_REQUESTS} or more each); differences may be noise"
    )


def _comparison_tally(comparison: Comparison) -> str:
    if not comparison.judged:
        return "no --max-regression given: nothing judged"
    bad = comparison.regressions
    if not bad:
        return "no metric worse than BASE beyond its tolerance"
    noun = "metric" if len(bad) == 1 else "metrics"
    listed = ", ".join(f"{row.ref} {change_text(row)}" for row in bad)
    return f"{len(bad)} {noun} worse than BASE beyond tolerance: {listed}"
