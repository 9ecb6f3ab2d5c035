"""Reporters for a sweep: the per-level table (with the load offered against the load
achieved), an ASCII chart of throughput and latency against the level, the capacity under
SLO, and the sweep's JSON, Markdown and JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .compare import SWEEP_SCHEMA, SweepComparison
from .report import RunInfo, _md, comparison_markdown, comparison_report, summary_json
from .stats import Summary
from .sweep import Capacity, LevelResult

_Col = tuple[str, Callable[[Summary], float | None], str]
_COLUMNS: tuple[_Col, ...] = (
    ("req/s", lambda s: s.requests_per_s, "{:.2f}"),
    ("out tok/s", lambda s: s.output_tokens_per_s, "{:.1f}"),
    ("TTFT p50", lambda s: s.percentile("ttft_ms", 50), "{:.1f}"),
    ("TTFT p99", lambda s: s.percentile("ttft_ms", 99), "{:.1f}"),
    ("E2E p50", lambda s: s.percentile("e2e_ms", 50), "{:.1f}"),
    ("E2E p99", lambda s: s.percentile("e2e_ms", 99), "{:.1f}"),
    ("errors", lambda s: float(s.failed), "{:.0f}"),
)
# With --goodput, good requests/s after req/s
_GOODPUT: _Col = ("goodput", lambda s: s.goodput_per_s, "{:.2f}")


def _columns(goodput: bool) -> tuple[_Col, ...]:
    return (_COLUMNS[0], _GOODPUT, *_COLUMNS[1:]) if goodput else _COLUMNS


def _cell(value: float | None, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def achieved_cell(r: LevelResult) -> str:
    """`4/4` (peak in flight / target) or `8.36 (52%)` (achieved req/s, share of arrivals)."""
    load = r.load
    if load.achieved is None:
        return "–"
    if load.kind == "concurrency":
        return f"{load.achieved:g}/{load.offered:g}"
    return f"{load.achieved:.2f} ({(load.ratio or 0.0) * 100:.0f}%)"


def verdict_cell(r: LevelResult) -> str:
    if r.passed:
        return "pass"
    return "SATURATED" if r.saturated else "FAIL"


def sweep_console(
    results: Sequence[LevelResult],
    capacity: Capacity | None,
    *,
    width: int = 100,
    goodput: bool = False,
) -> str:
    """The sweep's table (latencies in ms; with `goodput`, a goodput column), its chart, and
    the capacity under SLO (when the levels were judged: thresholds, or a rate sweep judged
    on its achieved rate)."""
    columns = _columns(goodput)
    label_w = max([5, *(len(r.level.label) for r in results)])
    load_head = "achieved" if results and results[0].load.kind == "rate" else "in flight"
    head = f"{'level':<{label_w}}{load_head:>13}"
    head += "".join(f"{name:>11}" for name, _, _ in columns)
    if capacity is not None:
        head += "  SLO"
    lines = ["Sweep (latencies in ms)", head]
    for r in results:
        row = f"{r.level.label:<{label_w}}{achieved_cell(r):>13}"
        row += "".join(f"{_cell(get(r.summary), fmt):>11}" for _, get, fmt in columns)
        if capacity is not None:
            row += "  " + verdict_cell(r)
        if r.interrupted_by:
            row += f"  (interrupted by {r.interrupted_by})"
        lines.append(row)
    lines.append("")
    lines.extend(_chart(results, label_w, width))
    saturated = [r for r in results if r.saturated]
    if saturated:
        lines.append("")
        lines.extend(f"!! {r.level.label} {r.failure_reasons()[-1]}" for r in saturated)
    noted = [f"!! {r.level.label}: {n.text}" for r in results for n in r.summary.warnings]
    if noted:  # each level's warning lines (docs/outcomes.md)
        lines += ["", *noted]
    if capacity is not None:
        lines.append("")
        line = capacity.text()
        if capacity.value is not None:
            s = capacity.value.summary
            line += f"; {s.requests_per_s:.2f} req/s, {s.output_tokens_per_s:.1f} output tok/s"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _chart(results: Sequence[LevelResult], label_w: int, width: int) -> list[str]:
    """Two bars per level: throughput (█) and TTFT p99 (░), each scaled to its maximum."""
    room = max(10, (min(width, 120) - label_w - 30) // 2)
    rps = [r.summary.requests_per_s for r in results]
    ttft = [r.summary.percentile("ttft_ms", 99) or 0.0 for r in results]
    top_rps, top_ttft = max(rps) or 1.0, max(ttft) or 1.0
    lines = [f"{'':<{label_w}}  {'req/s':<{room + 9}}  TTFT p99 (ms)"]
    for r, a, b in zip(results, rps, ttft, strict=True):
        bar_a = "█" * max(1 if a else 0, round(room * a / top_rps))
        bar_b = "░" * max(1 if b else 0, round(room * b / top_ttft))
        lines.append(
            f"{r.level.label:<{label_w}}  {bar_a:<{room}} {a:>8.2f}  {bar_b:<{room}} {b:>8.1f}"
        )
    return lines


def level_json(r: LevelResult) -> dict[str, Any]:
    """The `level` object of one level: its label, value, load and verdict."""
    load = r.load
    return {
        "label": r.level.label,
        "value": r.level.value,
        "kind": load.kind,
        "offered": load.offered,
        "achieved": load.achieved,
        "arrivals_per_s": load.arrivals,
        "achieved_ratio": load.ratio,
        "min_achieved": r.min_achieved if load.kind == "rate" else None,
        "saturated": r.saturated,
        "passed": r.passed,
        "failures": r.failure_reasons(),
    }


def sweep_json(
    results: Sequence[LevelResult], capacity: Capacity | None, infos: Sequence[RunInfo]
) -> dict[str, Any]:
    """Every level's full summary JSON, and the capacity under SLO."""
    levels = []
    for r, info in zip(results, infos, strict=True):
        doc = summary_json(r.summary, info, r.verdicts)
        doc["level"] = level_json(r)
        levels.append(doc)
    cap = None if capacity is None else capacity.to_json()
    return {
        "schema": SWEEP_SCHEMA,
        "levels": levels,
        "capacity": cap,
        # kept for readers of the first sweep format: the capacity's label and throughput
        "capacity_under_slo": None
        if cap is None or cap["value"] is None
        else {
            k: cap[k]
            for k in (
                "label",
                "value",
                "bound",
                "requests_per_s",
                "output_tokens_per_s",
                "goodput_per_s",
            )
        },
    }


def sweep_markdown(
    results: Sequence[LevelResult], capacity: Capacity | None, *, goodput: bool = False
) -> str:
    """The sweep table in Markdown (with `goodput`, a goodput column), with the capacity
    under SLO."""
    columns = _columns(goodput)
    judged = capacity is not None
    names = ["achieved" if results and results[0].load.kind == "rate" else "in flight"]
    names += [name for name, _, _ in columns]
    head = "| level | " + " | ".join(names) + (" | SLO |" if judged else " |")
    rule = "|---" * (len(names) + 1 + (1 if judged else 0)) + "|"
    out = ["### llmbench-async sweep (latencies in ms)", "", head, rule]
    for r in results:
        cells = [achieved_cell(r), *(_cell(get(r.summary), fmt) for _, get, fmt in columns)]
        verdict = [verdict_cell(r) if r.passed else f"**{verdict_cell(r)}**"] if judged else []
        out.append("| " + " | ".join([r.level.label, *cells, *verdict]) + " |")
    for r in results:  # each level's warning lines (docs/outcomes.md)
        for notice in r.summary.warnings:
            out += ["", f"> ⚠️ {r.level.label}: {_md(notice.text)}"]
    if capacity is not None:
        out.append("")
        out.append(capacity.text())
    return "\n".join(out) + "\n"


def sweep_junit(results: Sequence[LevelResult]) -> str:
    """JUnit XML: one testcase per level, failing when the level broke a threshold."""
    root = ET.Element("testsuites", name="llmbench-async")
    suite = ET.SubElement(root, "testsuite", name="llmbench-async sweep")
    failures = 0
    for r in results:
        case = ET.SubElement(
            suite, "testcase", classname="llmbench-async.sweep", name=f"{r.level.label} meets SLO"
        )
        case.set("time", f"{r.summary.duration_s:.3f}")
        if not r.passed:
            failures += 1
            message = "; ".join(r.failure_reasons()) or "failed"
            ET.SubElement(case, "failure", message=message, type="threshold").text = message
    for element in (root, suite):
        element.set("tests", str(len(results)))
        element.set("failures", str(failures))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def sweep_comparison_report(comparison: SweepComparison, *, color: bool = False) -> str:
    """Two sweeps, level by level: each shared level's comparison table in turn."""
    out = [f"BASE sweep {comparison.base.path}", f"NEW  sweep {comparison.new.path}"]
    for label in comparison.only_base:
        out.append(f"!! level {label} is only in BASE: not compared")
    for label in comparison.only_new:
        out.append(f"!! level {label} is only in NEW: not compared")
    for label, level in comparison.levels:
        out.append("")
        out.append(f"── level {label} " + "─" * max(0, 60 - len(label)))
        out.append(comparison_report(level, color=color).rstrip("\n"))
    return "\n".join(out) + "\n"


def sweep_comparison_markdown(comparison: SweepComparison) -> str:
    """Two sweeps, level by level, in Markdown."""
    out = [f"## llmbench-async compare: sweeps, {len(comparison.levels)} shared levels", ""]
    out.extend(f"- ⚠️ level {label} is only in BASE" for label in comparison.only_base)
    out.extend(f"- ⚠️ level {label} is only in NEW" for label in comparison.only_new)
    for label, level in comparison.levels:
        out.append("")
        out.append(comparison_markdown(level).replace("### llmbench-async compare", f"### {label}"))
    return "\n".join(out) + "\n"


@dataclass(frozen=True, slots=True)
class SweepReport:
    """A sweep rendered for every output (see publish.publish). `capacity` is None when
    the levels were not judged (no thresholds, and not a rate sweep)."""

    results: Sequence[LevelResult]
    capacity: Capacity | None
    infos: Sequence[RunInfo]

    @property
    def goodput(self) -> bool:
        """Whether the run had --goodput conditions (then the table has a goodput column)."""
        return bool(self.infos and self.infos[0].config.get("goodput"))

    def console(self, *, width: int, color: bool) -> str:
        head = f"llmbench-async sweep → {self.infos[0].endpoint}\nmodel {self.infos[0].model}\n\n"
        return head + sweep_console(self.results, self.capacity, width=width, goodput=self.goodput)

    def json(self) -> dict[str, Any]:
        return sweep_json(self.results, self.capacity, self.infos)

    def markdown(self) -> str:
        return sweep_markdown(self.results, self.capacity, goodput=self.goodput)

    def junit(self) -> str:
        return sweep_junit(self.results)

    def html(self) -> str:
        from .report_html import sweep_html  # loaded only for --html

        return sweep_html(self.json(), [info.settings for info in self.infos])
