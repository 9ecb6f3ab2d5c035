"""Reporters of a comparison of two runs (BASE and NEW): the console table and Markdown.
They only read a `Comparison` (from results/compare.py); every outside text (paths, models,
endpoints) goes through its sink's escaper (outbound.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import outbound
from ..errors import ConfigError
from ..metrics import MIN_REQUESTS, format_number
from .summary import _GREEN, _RED, _paint

if TYPE_CHECKING:
    from ..results.compare import ComparedRun, Comparison, Row, SweepComparison

COMPARISON_SCHEMA = "llmbench-async/comparison/v1"


def comparison_report(comparison: Comparison, *, color: bool = False) -> str:
    """BASE vs NEW, side by side: value, change with an arrow, better/worse, and the verdict
    for metrics with a tolerance. `color` paints better green, worse red (terminals only)."""
    out = [
        f"BASE  {outbound.terminal(_side(comparison.base), 2000)}",
        f"NEW   {outbound.terminal(_side(comparison.new), 2000)}",
        *(f"!! {outbound.terminal(diff)}" for diff in comparison.setting_diffs),
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
    if any(row.within_noise for row in comparison.rows):
        out.append(NOISE_NOTE)
    if comparison.no_intervals:
        out.append(f"!! {_no_intervals(comparison)}")
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
    out.append(f"- **BASE** {outbound.markdown(_side(comparison.base))}")
    out.append(f"- **NEW** {outbound.markdown(_side(comparison.new))}")
    out.extend(f"- ⚠️ {outbound.markdown(str(diff))}" for diff in comparison.setting_diffs)
    out.append("")
    if comparison.too_few_samples:
        out.append(f"> ⚠️ {outbound.markdown(_too_few(comparison))}")
        out.append("")
    if comparison.no_intervals:
        out.append(f"> ⚠️ {outbound.markdown(_no_intervals(comparison))}")
        out.append("")
    if any(row.within_noise for row in comparison.rows):
        out.append(f"_{NOISE_NOTE}_")
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
            f"{row.direction if row.direction != 'n/a' else ''} | {verdict} |"  # our own words
        )
    if not comparison.judged:
        out.append("")
        out.append(f"_{_comparison_tally(comparison)}_")
    return "\n".join(out) + "\n"


def comparison_warnings(comparison: Comparison) -> list[str]:
    """Every warning of a comparison, as each output states it: the settings in which BASE
    and NEW differ, and too few samples."""
    found = [str(diff) for diff in comparison.setting_diffs]
    if comparison.too_few_samples:
        found.append(_too_few(comparison))
    if comparison.no_intervals:
        found.append(_no_intervals(comparison))
    return found


NOISE_NOTE = (
    "≈ same within noise: the two runs' 95 % intervals of this percentile overlap "
    "(docs/intervals.md)"
)


def _no_intervals(comparison: Comparison) -> str:
    sides = " and ".join(comparison.no_intervals)
    return (
        f"{sides} holds no percentile intervals (a summary JSON saved before they existed): "
        "its percentiles are called same only within 0.05 %, as before; compare the results "
        "files (-o) to judge them against their intervals"
    )


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
    if row.within_noise:
        return "≈"
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
    if row.within_noise:
        return f"{row.change:+.1f}%"
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


def sweep_comparison_report(comparison: SweepComparison, *, color: bool = False) -> str:
    """Two sweeps, level by level: each shared level's comparison table in turn."""
    term = outbound.terminal
    out = [f"BASE sweep {term(comparison.base.path)}", f"NEW  sweep {term(comparison.new.path)}"]
    for label in comparison.only_base:
        out.append(f"!! level {term(label)} is only in BASE: not compared")
    for label in comparison.only_new:
        out.append(f"!! level {term(label)} is only in NEW: not compared")
    for label, level in comparison.levels:
        out.append("")
        out.append(f"── level {term(label)} " + "─" * max(0, 60 - len(label)))
        out.append(comparison_report(level, color=color).rstrip("\n"))
    return "\n".join(out) + "\n"


def sweep_comparison_markdown(comparison: SweepComparison) -> str:
    """Two sweeps, level by level, in Markdown."""
    md = outbound.markdown
    shared = len(comparison.levels)
    noun = "level" if shared == 1 else "levels"
    out = [f"## llmbench-async compare: sweeps, {shared} shared {noun}", ""]
    out.extend(f"- ⚠️ level {md(label)} is only in BASE" for label in comparison.only_base)
    out.extend(f"- ⚠️ level {md(label)} is only in NEW" for label in comparison.only_new)
    for label, level in comparison.levels:
        out.append("")
        table = comparison_markdown(level)
        out.append(table.replace("### llmbench-async compare", f"### {md(label)}", 1))
    return "\n".join(out) + "\n"


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as data: both sides, every row, the warnings."""
    return {
        "schema": COMPARISON_SCHEMA,
        "base": _side_json(comparison.base),
        "new": _side_json(comparison.new),
        "rows": [
            {
                "metric": str(row.ref),
                "unit": row.ref.unit,
                "base": row.base,
                "new": row.new,
                "change": row.change,
                "change_unit": row.change_unit,
                "direction": row.direction,
                "tolerance": row.tolerance,
                "regressed": row.regressed,
                "within_noise": row.within_noise,
            }
            for row in comparison.rows
        ],
        "warnings": [outbound.json_text(w) for w in comparison_warnings(comparison)],
        "verdict": _comparison_tally(comparison),
    }


def _side_json(run: ComparedRun) -> dict[str, Any]:
    return {
        "path": run.path,
        "endpoint": run.endpoint,
        "model": run.model,
        "started_at": run.started_at,
        "total": run.total,
        "ok": run.ok,
    }


def comparison_junit(rows: Sequence[tuple[str, Row]]) -> str:
    """JUnit XML: one testcase per judged metric (`prefix` names a sweep's level)."""
    root = ET.Element("testsuites", name="llmbench-async")
    suite = ET.SubElement(root, "testsuite", name="llmbench-async compare")
    judged = [(prefix, row) for prefix, row in rows if row.tolerance is not None]
    for prefix, row in judged:
        name = outbound.xml(f"{prefix}{row.ref} within {row.tolerance:g}{row.change_unit}")
        case = ET.SubElement(suite, "testcase", classname="llmbench-async.compare", name=name)
        if row.regressed:
            message = outbound.xml(f"{row.ref} {change_text(row)}")
            ET.SubElement(case, "failure", message=message, type="regression").text = message
    for element in (root, suite):
        element.set("tests", str(len(judged)))
        element.set("failures", str(sum(row.regressed for _, row in judged)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


@dataclass(frozen=True, slots=True)
class ComparisonReport:
    """Two runs compared, rendered for every output (see publish.publish)."""

    comparison: Comparison

    def console(self, *, width: int, color: bool) -> str:
        return comparison_report(self.comparison, color=color)

    def json(self) -> dict[str, Any]:
        return comparison_json(self.comparison)

    def markdown(self) -> str:
        return comparison_markdown(self.comparison)

    def junit(self) -> str:
        return comparison_junit([("", row) for row in self.comparison.rows])

    def html(self) -> str:
        return comparison_html(self.comparison)


@dataclass(frozen=True, slots=True)
class SweepComparisonReport:
    """Two sweeps compared level by level, rendered for every output (no HTML page)."""

    comparison: SweepComparison

    def console(self, *, width: int, color: bool) -> str:
        return sweep_comparison_report(self.comparison, color=color)

    def json(self) -> dict[str, Any]:
        return {
            "schema": COMPARISON_SCHEMA,
            "levels": {label: comparison_json(c) for label, c in self.comparison.levels},
            "warnings": [outbound.json_text(d) for d in self.comparison.setting_diffs],
        }

    def markdown(self) -> str:
        return sweep_comparison_markdown(self.comparison)

    def junit(self) -> str:
        rows = [(f"{label}: ", row) for label, c in self.comparison.levels for row in c.rows]
        return comparison_junit(rows)

    def html(self) -> str:
        raise ConfigError("compare --html draws two single runs; compare sweeps without it")


def comparison_html(comparison: Comparison) -> str:
    """The comparison as a self-contained HTML page, BASE and NEW overlaid, with the same
    warnings as the console and Markdown."""
    from ..records import read_results
    from ..watch.timeseries import timeseries_from_records
    from .html import compare_html  # loaded only for --html
    from .summary import RunInfo, summary_json

    sides = []
    for name, side in (("BASE", comparison.base), ("NEW", comparison.new)):
        if side.summary is not None:
            saved = read_results(Path(side.path))
            footer = saved.footer or {}
            server = footer.get("server_metrics")
            info = RunInfo(
                tool_version="",
                endpoint=side.endpoint,
                model=side.model,
                settings="",
                started_at=side.started_at,
                config=side.config,
                timeseries=timeseries_from_records(saved.records).to_json(server=server),
            )
            doc = summary_json(side.summary, info)
        else:
            doc = dict(side.document)
        sides.append((name, dict(doc, path=side.path), side.summary))
    rows = [
        {
            "metric": str(row.ref),
            "base": row.base,
            "new": row.new,
            "change": change_text(row),
            "verdict": _row_verdict(row),  # as the console and Markdown word it
        }
        for row in comparison.rows
    ]
    tally = _comparison_tally(comparison)
    return compare_html(sides, rows, comparison_warnings(comparison), verdict=tally)
