"""Reporters for a sweep: the per-level table, an ASCII chart of throughput and latency
against the level, the capacity under SLO, and the sweep's JSON and Markdown."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .report import RunInfo, summary_json
from .stats import Summary
from .sweep import LevelResult

SWEEP_SCHEMA = "llmbench-async/sweep/v1"

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
# workloads branch: with --goodput, good requests/s after req/s
_GOODPUT: _Col = ("goodput", lambda s: s.goodput_per_s, "{:.2f}")


def _columns(goodput: bool) -> tuple[_Col, ...]:
    return (_COLUMNS[0], _GOODPUT, *_COLUMNS[1:]) if goodput else _COLUMNS


def _cell(value: float | None, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def sweep_console(
    results: Sequence[LevelResult],
    capacity: LevelResult | None,
    *,
    judged: bool,
    width: int = 100,
    goodput: bool = False,
) -> str:
    """The sweep's table (latencies in ms; with `goodput`, a goodput column), its chart, and
    the capacity under SLO."""
    columns = _columns(goodput)
    label_w = max([5, *(len(r.level.label) for r in results)])
    head = f"{'level':<{label_w}}" + "".join(f"{name:>11}" for name, _, _ in columns)
    if judged:
        head += "  SLO"
    lines = ["Sweep (latencies in ms)", head]
    for r in results:
        row = f"{r.level.label:<{label_w}}"
        row += "".join(f"{_cell(get(r.summary), fmt):>11}" for _, get, fmt in columns)
        if judged:
            row += "  " + ("pass" if r.passed else "FAIL")
        if r.interrupted_by:
            row += f"  (interrupted by {r.interrupted_by})"
        lines.append(row)
    lines.append("")
    lines.extend(_chart(results, label_w, width))
    if judged:
        lines.append("")
        if capacity is None:
            lines.append("Capacity under SLO: none (the lowest level already breaks a threshold)")
        else:
            lines.append(
                f"Capacity under SLO: {capacity.level.label} "
                f"({capacity.summary.requests_per_s:.2f} req/s, "
                f"{capacity.summary.output_tokens_per_s:.1f} output tok/s)"
            )
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


def sweep_json(
    results: Sequence[LevelResult], capacity: LevelResult | None, infos: Sequence[RunInfo]
) -> dict[str, Any]:
    """Every level's full summary JSON, and the capacity under SLO."""
    levels = []
    for r, info in zip(results, infos, strict=True):
        doc = summary_json(r.summary, info, r.verdicts)
        doc["level"] = {"label": r.level.label, "value": r.level.value, "passed": r.passed}
        levels.append(doc)
    return {
        "schema": SWEEP_SCHEMA,
        "levels": levels,
        "capacity_under_slo": None
        if capacity is None
        else {
            "label": capacity.level.label,
            "value": capacity.level.value,
            "requests_per_s": capacity.summary.requests_per_s,
            "output_tokens_per_s": capacity.summary.output_tokens_per_s,
            "goodput_per_s": capacity.summary.goodput_per_s,  # workloads branch
        },
    }


def sweep_markdown(
    results: Sequence[LevelResult],
    capacity: LevelResult | None,
    *,
    judged: bool,
    goodput: bool = False,
) -> str:
    """The sweep table in Markdown, with the capacity under SLO."""
    columns = _columns(goodput)
    names = [name for name, _, _ in columns]
    head = "| level | " + " | ".join(names) + (" | SLO |" if judged else " |")
    rule = "|---" * (len(names) + 1 + (1 if judged else 0)) + "|"
    out = ["### llmbench-async sweep (latencies in ms)", "", head, rule]
    for r in results:
        cells = [_cell(get(r.summary), fmt) for _, get, fmt in columns]
        verdict = [("pass" if r.passed else "**FAIL**")] if judged else []
        out.append("| " + " | ".join([r.level.label, *cells, *verdict]) + " |")
    if judged:
        out.append("")
        out.append(
            "Capacity under SLO: "
            + (f"**{capacity.level.label}**" if capacity is not None else "none")
        )
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
            broken = [
                f"{v.threshold} (observed {v.observed_text}, limit {v.threshold.limit_text})"
                for v in r.verdicts
                if not v.passed
            ]
            if r.summary.ok == 0:
                broken.append("no request succeeded")
            message = "; ".join(broken) or (r.problem or "failed")
            ET.SubElement(case, "failure", message=message, type="threshold").text = message
    for element in (root, suite):
        element.set("tests", str(len(results)))
        element.set("failures", str(failures))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """A sweep rendered for every output (see publish.publish)."""

    results: Sequence[LevelResult]
    capacity: LevelResult | None
    infos: Sequence[RunInfo]
    judged: bool  # thresholds were given

    @property
    def goodput(self) -> bool:
        """Whether the run had --goodput conditions (then the table has a goodput column)."""
        return bool(self.infos and self.infos[0].config.get("goodput"))

    def console(self, *, width: int, color: bool) -> str:
        head = f"llmbench-async sweep → {self.infos[0].endpoint}\nmodel {self.infos[0].model}\n\n"
        return head + sweep_console(
            self.results, self.capacity, judged=self.judged, width=width, goodput=self.goodput
        )

    def json(self) -> dict[str, Any]:
        return sweep_json(self.results, self.capacity, self.infos)

    def markdown(self) -> str:
        return sweep_markdown(self.results, self.capacity, judged=self.judged, goodput=self.goodput)

    def junit(self) -> str:
        return sweep_junit(self.results)
