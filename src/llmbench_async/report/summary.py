"""Reporters of one run: the console report, the summary JSON, Markdown and JUnit XML. They
only read a `Summary`, a `RunInfo` and judged thresholds (`Verdict`s, from results/gate.py); the
facts every output states (load, warnings, in-flight cap) come from results/facts.py, and
every outside text goes through its sink's escaper (outbound.py). The comparison's
renderers are in report/compare.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import outbound
from ..metrics import PER_REQUEST, RUN_LEVEL, format_number
from ..results.facts import CPU_WARN_PERCENT, LAG_WARN_MS, peak_text, run_warnings, tally_text
from ..results.intervals import intervals_json
from ..results.stats import MetricStats, Summary
from .client_error import client_error_console, client_error_markdown
from .confidence import (
    LEGEND,
    convergence_lines,
    interval_text,
    junit_properties,
    percentile_interval,
    steady_lines,
    wide_mark,
)
from .histogram import render_histogram
from .outcomes import answers_console, answers_json, answers_markdown, answers_text
from .server import server_console, server_json, server_markdown
from .workloads import (
    slo_over_time_console,
    workload_console,
    workload_json,
    workload_markdown,
)

if TYPE_CHECKING:
    from ..results.gate import Verdict

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
    target_concurrency: int | None = None  # the in-flight cap (None: an uncapped open loop)
    interrupted_by: str | None = None
    cancelled: int = 0
    not_sent: int | None = None  # requests of a counted plan never sent (an early stop)
    problem: str | None = None
    timeseries: Mapping[str, Any] | None = None  # timeseries.SeriesBuilder.to_json()
    load: str = ""  # the load description, e.g. "closed loop, concurrency 5 · 10 requests"
    api: str = ""
    slo_over_time: Mapping[str, Any] | None = None  # results.slo_windows.SloOverTime.to_json()
    steady_state: Mapping[str, Any] | None = None  # results/steady.py's steady_state()
    convergence: Mapping[str, Any] | None = None  # --until-stable: Convergence.to_json()


def report_warnings(summary: Summary, info: RunInfo) -> tuple[str, ...]:
    """Every warning of a run, the same list in every output: the Summary's own warnings
    (data) and the client's self-check."""
    return run_warnings(getattr(summary, "warnings", ()), info.client, info.config)


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
        from .html import run_html  # loaded only for --html

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
        "target": {
            "endpoint": outbound.json_text(info.endpoint, 2000),
            "model": outbound.json_text(info.model),
            "api": info.api or None,
        },
        "load": info.load or None,
        "in_flight_cap": info.target_concurrency,
        "warnings": [outbound.json_text(w) for w in report_warnings(summary, info)],
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
            m.key: m.summary_value(summary, None) for m in RUN_LEVEL if m.section == "throughput"
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
        "error_details": _error_details(summary),
        "client": dict(info.client) if info.client is not None else None,
        "interrupted_by": info.interrupted_by,
        "problem": None if info.problem is None else outbound.json_text(info.problem),
        "timeseries": dict(info.timeseries) if info.timeseries is not None else None,
        "thresholds": [_threshold_json(v) for v in verdicts],
        # --calibrate / `calibrate`: the client's own error on each clock (docs/calibrate.md)
        "client_error": None if summary.client_error is None else summary.client_error.to_json(),
        "slo_over_time": None if info.slo_over_time is None else dict(info.slo_over_time),
        "intervals": intervals_json(summary.samples),
        "steady_state": None if info.steady_state is None else dict(info.steady_state),
        "convergence": None if info.convergence is None else dict(info.convergence),
        **workload_json(summary, info.config),
        **answers_json(summary),
        **server_json(summary),
    }


def _error_details(summary: Summary) -> list[dict[str, Any]]:
    return [
        {
            "kind": group.kind,
            "count": group.count,
            "first_message": outbound.json_text(group.first_message),
            "statuses": {str(status): n for status, n in group.statuses},
        }
        for group in summary.errors
    ]


def _threshold_json(v: Verdict) -> dict[str, Any]:
    return {
        "expression": str(v.threshold),
        "metric": str(v.threshold.ref),
        "op": v.threshold.op,
        "limit": v.threshold.limit,
        "unit": v.threshold.ref.unit,
        "observed": v.observed,
        "passed": v.passed,
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
    term = outbound.terminal
    out.append(f"llmbench-async {term(info.tool_version, 40)} → {term(info.endpoint)}")
    out.append(f"model {term(info.model)} · {term(info.settings, 2000)}")
    if info.interrupted_by:
        out.append(
            f"!! interrupted by {term(info.interrupted_by, 40)}: report covers the {summary.total} "
            f"requests that finished ({info.cancelled} in flight were cancelled)"
        )
    elif info.problem and info.not_sent:
        out.append(
            f"!! stopped early: report covers the {summary.total} requests that finished "
            f"({info.cancelled} in flight were cancelled, {info.not_sent} not sent)"
        )
    out.append("")
    out.extend(_summary_lines(summary, info))
    out.extend(workload_console(summary, info.config))
    out.extend(answers_console(summary))
    out.extend(server_console(summary))
    out.append("")
    out.extend(_stats_table(summary.metrics, summary.samples))
    out.extend(steady_lines(info.steady_state, summary.metrics))
    out.extend(convergence_lines(info.convergence))
    for key, title in (("e2e_ms", "E2E latency (ms)"), ("ttft_ms", "Time to first token (ms)")):
        values = summary.samples.get(key)
        if values and len(values) > 1:
            out.append("")
            out.append(f"{title} histogram")
            out.extend(render_histogram(values, width=min(width, 90), bins=8, unit="ms"))
    out.extend(_errors_lines(summary, width))
    if info.client is not None:
        out.append("")
        out.extend(_self_check(info))
    if summary.client_error is not None:
        out.append("")
        out.extend(client_error_console(summary.client_error))
    if info.problem:
        out.append("")
        out.append(f"!! {outbound.terminal(info.problem)}")
    warnings = report_warnings(summary, info)
    if warnings:
        out.append("")
        out.extend(f"!! {outbound.terminal(w)}" for w in warnings)
    if verdicts:
        out.append("")
        out.extend(_thresholds_table(summary, info, verdicts, color))
        out.extend(slo_over_time_console(info.slo_over_time))
    return "\n".join(out) + "\n"


def _summary_lines(summary: Summary, info: RunInfo) -> list[str]:
    """The console's Summary block: counts, duration, rates, tokens, connections, retries."""
    out = ["Summary"]
    out.append(
        f"  Requests:         {summary.ok} ok, {summary.failed} failed ({summary.total} total)"
    )
    out.append(f"  Duration:         {summary.duration_s:.3f} s")
    out.append(f"  Requests/s:       {summary.requests_per_s:.2f}")
    sources = ", ".join(f"{k} {v}" for k, v in summary.token_sources.items() if v)
    if not summary.total_inputs or summary.total_output_tokens:  # embeddings: no output
        out.append(
            f"  Output tokens/s:  {summary.output_tokens_per_s:.1f} "
            f"({summary.total_output_tokens} tokens; counted from: {sources or 'none'})"
        )
    if summary.total_input_tokens and summary.ok:
        # embeddings: each request holds a batch, and --input-tokens asks per input
        per, count = ("input", summary.total_inputs) if summary.total_inputs else ("request", 0)
        requested = info.config.get("input_tokens")
        asked = f"; asked for ~{requested[0]}" if requested else ""
        out.append(
            f"  Input tokens:     {summary.total_input_tokens / (count or summary.ok):.1f} "
            f"per {per} (server's count{asked})"
        )
    if summary.new_connections:
        out.append(
            f"  Connections:      {summary.new_connections} opened during the run "
            "(see Connect below)"
        )
    if summary.retries:
        out.append(
            f"  Retries:          {summary.retries} "
            f"({outbound.terminal(_causes_text(summary))}; retry rate "
            f"{summary.retry_rate:.1f} %; {summary.retry_wait_s:.2f} s lost to failed "
            "attempts and backoff)"
        )
    return out


def _errors_lines(summary: Summary, width: int) -> list[str]:
    """The console's Errors block: each kind, its count and its first message (escaped)."""
    if not summary.errors:
        return []
    term = outbound.terminal
    out = ["", "Errors"]
    kind_w = max(len(term(g.kind, 40)) for g in summary.errors)
    for group in summary.errors:
        msg = term(group.first_message)
        room = max(20, width - kind_w - 14)
        if len(msg) > room:
            msg = msg[: room - 1] + "…"
        out.append(f"  {term(group.kind, 40):<{kind_w}} {group.count:>6}  {msg}")
    return out


def _causes_text(summary: Summary) -> str:
    """`http_429 3, timeout 1`: retried attempts by cause."""
    return ", ".join(f"{cause} {n}" for cause, n in summary.retry_causes.items()) or "no cause"


def _thresholds_table(
    summary: Summary, info: RunInfo, verdicts: Sequence[Verdict], color: bool
) -> list[str]:
    title = "Thresholds"
    if info.interrupted_by:
        title += (
            f" (judged on the {summary.total} requests that finished before "
            f"{outbound.terminal(info.interrupted_by, 40)})"
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
    return tally_text(sum(not v.passed for v in verdicts), len(verdicts))


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
    if info.problem and not failed:  # the run ended on a problem (exit 3): no green tick
        headline = f"❌ {headline.removeprefix('✅ ')}; the run ended on a problem"
    out = [f"### llmbench-async: {headline}", ""]
    settings = outbound.markdown(info.settings, 2000)
    out.append(f"{_md(info.model)} → {_md(info.endpoint)} · {settings}")
    out.append("")
    if info.interrupted_by:
        out.append(
            f"> **Interrupted by {_md(info.interrupted_by)}**: the figures cover the "
            f"{summary.total} requests that finished ({info.cancelled} in flight were cancelled)."
        )
        out.append("")
    if info.problem:
        out.append(f"> **Problem:** {_md(info.problem)}")
        out.append("")
    for warning in report_warnings(summary, info):
        out.append(f"> ⚠️ {_md(warning)}")
        out.append("")
    line = (
        f"**{summary.ok} ok, {summary.failed} failed** · {summary.duration_s:.3f} s · "
        f"{summary.requests_per_s:.2f} req/s"
    )
    if not summary.total_inputs or summary.total_output_tokens:  # embeddings: no output
        line += f" · {summary.output_tokens_per_s:.1f} output tok/s"
    out.append(line)
    out.append("")
    if summary.retries:
        out.append(
            f"**Retries:** {summary.retries} retried attempts ({_md(_causes_text(summary))}) · "
            f"retry rate {summary.retry_rate:.1f} % · error rate counts requests that failed "
            "after all retries"
        )
        out.append("")
    out.extend(workload_markdown(summary, info.config))
    out.extend(answers_markdown(summary, _md) + server_markdown(summary))
    out.extend(_md_stats(summary))
    if summary.client_error is not None:
        out.append("")
        out.extend(client_error_markdown(summary.client_error))
    out.extend(_md_verdicts(verdicts, info))
    if summary.errors:
        out.append("")
        out.append("| error | count | first message |")
        out.append("|---|---:|---|")
        for group in summary.errors:
            out.append(f"| {_md(group.kind)} | {group.count} | {_md(group.first_message)} |")
    return "\n".join(out) + "\n"


def _md_verdicts(verdicts: Sequence[Verdict], info: RunInfo) -> list[str]:
    """The thresholds table, then the SLO over time of a shaped run (none: no lines)."""
    if not verdicts:
        return []
    out = ["", "| result | threshold | observed | limit |", "|---|---|---:|---|"]
    for v in verdicts:
        mark = "✅ pass" if v.passed else "❌ **FAIL**"
        out.append(f"| {mark} | `{v.threshold}` | {v.observed_text} | {v.threshold.limit_text} |")
    out.extend(f"\n{line.strip()}" for line in slo_over_time_console(info.slo_over_time))
    return out


def _md_stats(summary: Summary) -> list[str]:
    """The statistics table of the Markdown report."""
    if not any(summary.metrics.get(key) for key, _ in METRICS):
        return ["_No successful request: no latency statistics._"]
    heads = [*_MD_STATS, "p99 95 % interval"]
    out = ["| metric | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
    for key, label in METRICS:
        stats = summary.metrics.get(key)
        if stats is None:
            continue
        cells = [str(stats.count)] + [format_number(getattr(stats, n)) for n in _MD_STATS[1:]]
        cells.append(interval_text(percentile_interval(summary.samples, key, "p99")))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out


def _md(text: str) -> str:
    """Outside text as inert Markdown (safe in a table cell and at a line's start)."""
    return outbound.markdown(text)


# ---------------------------------------------------------------------------------------------
# JUnit XML (GitLab, Jenkins and most CI systems show these as tests)


def junit_xml(summary: Summary, info: RunInfo, verdicts: Sequence[Verdict] = ()) -> str:
    """JUnit XML: one testcase per threshold, plus one for "no request failed"."""
    cases: list[tuple[str, str, str | None]] = []  # classname, name, failure message
    xml = outbound.xml
    for v in verdicts:
        message = None
        if not v.passed:
            message = f"observed {v.observed_text} vs limit {v.threshold.limit_text}"
        cases.append(("llmbench-async.thresholds", str(v.threshold), message))
    failure = None
    if summary.failed:
        kinds = xml(", ".join(f"{g.kind} {g.count}" for g in summary.errors))
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
        suite.set("timestamp", xml(info.started_at, 40))
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("endpoint", xml(info.endpoint)),
        ("model", xml(info.model)),
        ("settings", xml(info.settings, 2000)),
        ("tool_version", xml(info.tool_version, 40)),
        ("interrupted_by", xml(info.interrupted_by or "", 40)),
        ("retries", str(summary.retries)),
        ("retry_rate", f"{summary.retry_rate:.3f}"),
        *((xml(f"retries.{cause}"), str(n)) for cause, n in summary.retry_causes.items()),
        *junit_properties(summary.samples),
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
    ET.SubElement(suite, "system-out").text = _junit_system_out(summary, info)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _junit_system_out(summary: Summary, info: RunInfo) -> str:
    """The run in words, for JUnit's `system-out`: counts, interruption, problem, warnings."""
    xml = outbound.xml
    out = [
        f"{summary.ok} ok, {summary.failed} failed ({summary.total} total) in "
        f"{summary.duration_s:.3f} s; {summary.requests_per_s:.2f} req/s; "
        f"{summary.retries} retries (retry_rate {summary.retry_rate:.1f} %)"
    ]
    if info.interrupted_by:
        out.append(
            f"interrupted by {xml(info.interrupted_by, 40)}: thresholds were judged on the "
            f"{summary.total} requests that finished"
        )
    if info.problem:
        out.append(xml(info.problem))
    out.extend(xml(line) for line in answers_text(summary))
    if summary.client_error is not None:
        out.append(f"client error: {summary.client_error.verdict}")
    out.extend(f"warning: {xml(w)}" for w in report_warnings(summary, info))
    return "\n".join(out)


def _stats_table(
    metrics: Mapping[str, MetricStats], samples: Mapping[str, Sequence[float]]
) -> list[str]:
    """The statistics table; a percentile whose 95 % interval is wide ends in `~`."""
    label_w = max(len(label) for _, label in METRICS)
    head = f"{'':<{label_w}}" + "".join(f"{name:>9}" for name in _STATS)
    lines = [head]
    marked = False
    for key, label in METRICS:
        stats = metrics.get(key)
        if stats is None:
            continue
        if key == "ttfc_ms" and stats == metrics.get("ttft_ms"):
            continue  # no reasoning: TTFC is TTFT, one row says it
        cells = [f"{stats.count:>9d}"]
        for name in _STATS[1:]:
            mark = wide_mark(samples, key, name)
            marked = marked or bool(mark)
            cells.append(f"{format_number(getattr(stats, name)) + mark:>9}")
        lines.append(f"{label:<{label_w}}" + "".join(cells))
    if len(lines) == 1:
        lines.append("  (no successful request: no latency statistics)")
    if marked:
        lines.append(LEGEND)
    return lines


def _self_check(info: RunInfo) -> list[str]:
    client = info.client or {}
    lag = client.get("loop_lag_ms", {})
    peak = client.get("peak_in_flight")
    line = (
        f"Client self-check: loop lag p50 {lag.get('p50', 0.0):.1f} ms, "
        f"p99 {lag.get('p99', 0.0):.1f} ms; CPU {client.get('cpu_percent', 0.0):.0f}%; "
        f"peak in flight {peak_text(peak, info.target_concurrency)}"
    )
    lines = [line]
    if client.get("ray"):
        return lines + ray_self_check(client["ray"])
    return lines  # a busy client is one of report_warnings


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
        elif lag.get("p99", 0.0) > LAG_WARN_MS or a.get("cpu_percent", 0.0) > CPU_WARN_PERCENT:
            lines.append(
                f"!! the client on node {where} was busy (event-loop lag or a saturated core), "
                "so its latencies include client delay; add nodes or lower the load"
            )
    return lines
