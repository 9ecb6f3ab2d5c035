"""Reporters for a sweep: the per-level table (with the load offered against the load
achieved), an ASCII chart of throughput and latency against the level, the capacity under
SLO, and the sweep's JSON, Markdown and JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import outbound
from ..results.compare import SWEEP_SCHEMA
from ..results.facts import capacity_text, sweep_load
from ..results.stats import Summary
from ..results.sweep import Capacity, LevelResult
from .summary import RunInfo, report_warnings, summary_json

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
    if capacity is not None:
        lines.append("")
        line = capacity.text()
        if capacity.value is not None:
            s = capacity.value.summary
            line += f"; {s.requests_per_s:.2f} req/s, {s.output_tokens_per_s:.1f} output tok/s"
        lines.append(line)
        slo = sweep_slo(results)
        lines += [] if slo is None else [slo]
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


def sweep_slo(results: Sequence[LevelResult]) -> str | None:
    """The SLO every level was judged on, as one line (`SLO: ttft.p95<800ms; achieved ≥ 90 %
    of arrivals`): the --fail-if thresholds, and a rate sweep's --min-achieved; None when the
    levels had neither."""
    if not results:
        return None
    parts = [str(v.threshold) for v in results[0].verdicts]
    if results[0].load.kind == "rate":
        parts.append(f"achieved ≥ {results[0].min_achieved * 100:g} % of arrivals")
    return "SLO: " + "; ".join(parts) if parts else None


def sweep_settings(results: Sequence[LevelResult], infos: Sequence[RunInfo]) -> tuple[str, str]:
    """The sweep's load (`sweep c=1, c=2, c=4 · 8 requests per level`) and its settings line
    (that load, then the settings every level shares)."""
    if not infos:
        return "sweep", "sweep"
    first = infos[0]
    load = sweep_load([r.level.label for r in results], first.load)
    rest = first.settings[len(first.load) :] if first.settings.startswith(first.load) else ""
    return load, load + rest


def sweep_warnings(results: Sequence[LevelResult], infos: Sequence[RunInfo]) -> list[str]:
    """Every level's warnings, each prefixed with its level (a warning that two levels share
    is stated for each: its counts are the level's own)."""
    lines = [
        f"{r.level.label}: {warning}"
        for r, info in zip(results, infos, strict=True)
        for warning in report_warnings(r.summary, info)
    ]
    lines += [  # an interrupted level ends the sweep: say so, as the run's outputs do
        f"{r.level.label}: interrupted by {r.interrupted_by}: the figures cover the "
        f"{r.summary.total} requests that finished; no later level ran"
        for r in results
        if r.interrupted_by
    ]
    return list(dict.fromkeys(lines))


def sweep_json(
    results: Sequence[LevelResult], capacity: Capacity | None, infos: Sequence[RunInfo]
) -> dict[str, Any]:
    """Every level's full summary JSON, the sweep's target, load and warnings, and the
    capacity under SLO (its `text` says whether it is exact or a lower bound)."""
    levels = []
    for r, info in zip(results, infos, strict=True):
        doc = summary_json(r.summary, info, r.verdicts)
        doc["level"] = level_json(r)
        levels.append(doc)
    cap = None if capacity is None else capacity.to_json()
    load, settings = sweep_settings(results, infos)
    first = levels[0] if levels else {}
    return {
        "schema": SWEEP_SCHEMA,
        "target": first.get("target"),
        "load": load,
        "settings": settings,
        "warnings": [outbound.json_text(w) for w in sweep_warnings(results, infos)],
        "capacity_text": capacity_text(cap, judged=capacity is not None),
        "slo": sweep_slo(results) if capacity is not None else None,
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
    results: Sequence[LevelResult],
    capacity: Capacity | None,
    *,
    goodput: bool = False,
    infos: Sequence[RunInfo] = (),
) -> str:
    """The sweep table in Markdown (with `goodput`, a goodput column), with the target,
    load, warnings and the capacity under SLO."""
    columns = _columns(goodput)
    judged = capacity is not None
    names = ["achieved" if results and results[0].load.kind == "rate" else "in flight"]
    names += [name for name, _, _ in columns]
    head = "| level | " + " | ".join(names) + (" | SLO |" if judged else " |")
    rule = "|---" * (len(names) + 1 + (1 if judged else 0)) + "|"
    out = ["### llmbench-async sweep (latencies in ms)", ""]
    if infos:
        md = outbound.markdown
        settings = md(sweep_settings(results, infos)[1], 2000)
        out += [f"{md(infos[0].model)} → {md(infos[0].endpoint)} · {settings}", ""]
        out += [f"> ⚠️ {md(w)}\n" for w in sweep_warnings(results, infos)]
    out += [head, rule]
    for r in results:
        cells = [achieved_cell(r), *(_cell(get(r.summary), fmt) for _, get, fmt in columns)]
        verdict = [verdict_cell(r) if r.passed else f"**{verdict_cell(r)}**"] if judged else []
        out.append("| " + " | ".join([r.level.label, *cells, *verdict]) + " |")
    if capacity is not None:
        out.append("")
        out.append(capacity.text())
        slo = sweep_slo(results)
        out += [] if slo is None else ["", outbound.markdown(slo, 2000)]
    return "\n".join(out) + "\n"


def sweep_junit(
    results: Sequence[LevelResult], capacity: Capacity | None = None, infos: Sequence[RunInfo] = ()
) -> str:
    """JUnit XML: one testcase per level, failing when the level broke a threshold; the
    target, load, capacity and warnings in `system-out`, as the other outputs state them."""
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
    if infos:
        xml = outbound.xml
        out = [
            f"{xml(infos[0].model)} → {xml(infos[0].endpoint)}",
            xml(sweep_settings(results, infos)[1], 2000),
        ]
        if capacity is not None:
            out.append(capacity.text())
            slo = sweep_slo(results)
            out += [] if slo is None else [xml(slo, 2000)]
        out += [f"warning: {xml(w)}" for w in sweep_warnings(results, infos)]
        ET.SubElement(suite, "system-out").text = "\n".join(out)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


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
        term = outbound.terminal
        first = self.infos[0]
        settings = sweep_settings(self.results, self.infos)[1]
        head = (
            f"llmbench-async sweep → {term(first.endpoint)}\n"
            f"model {term(first.model)} · {term(settings, 2000)}\n\n"
        )
        body = sweep_console(self.results, self.capacity, width=width, goodput=self.goodput)
        warnings = sweep_warnings(self.results, self.infos)
        return head + body + "".join(f"!! {term(w)}\n" for w in warnings)

    def json(self) -> dict[str, Any]:
        return sweep_json(self.results, self.capacity, self.infos)

    def markdown(self) -> str:
        return sweep_markdown(self.results, self.capacity, goodput=self.goodput, infos=self.infos)

    def junit(self) -> str:
        return sweep_junit(self.results, self.capacity, self.infos)

    def html(self) -> str:
        from .html import sweep_html  # loaded only for --html

        return sweep_html(self.json())
