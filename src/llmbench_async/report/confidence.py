"""How sure the figures are, as every output shows it: the `~` mark of a percentile whose
95 % interval is wide, the interval itself (`[12.1, 15.3]`), the steady-state window beside
the whole run, and whether `--until-stable` converged (docs/intervals.md). Renders only:
the numbers come from results/intervals.py and results/steady.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import outbound
from ..metrics import PER_REQUEST, format_number
from ..results.intervals import WIDE_RELATIVE, Interval, interval

__all__ = [
    "LEGEND",
    "convergence_lines",
    "interval_text",
    "junit_properties",
    "percentile_interval",
    "steady_html",
    "steady_lines",
    "wide_mark",
]

WIDE_MARK = "~"
LEGEND = (
    f"{WIDE_MARK} wide 95 % interval (a bound open for too few samples, or ± over "
    f"{WIDE_RELATIVE * 100:.0f} % of the value): docs/intervals.md"
)
_LABELS = {m.key: m.label for m in PER_REQUEST}


def percentile_interval(
    samples: Mapping[str, Sequence[float]], key: str, stat: str
) -> Interval | None:
    """The interval of `stat` (pNN) of a metric, None for another statistic or no samples."""
    values = samples.get(key)
    if not values or not stat.startswith("p"):
        return None
    return interval(values, float(stat[1:]))


def wide_mark(samples: Mapping[str, Sequence[float]], key: str, stat: str) -> str:
    """`~` after a percentile whose interval is wide, else ""."""
    found = percentile_interval(samples, key, stat)
    return WIDE_MARK if found is not None and found.wide else ""


def interval_text(found: Interval | None) -> str:
    """`[12.1, 15.3]`, with `open` for a missing bound; `–` without an interval."""
    if found is None:
        return "–"
    low = "open" if found.lower is None else format_number(found.lower)
    high = "open" if found.upper is None else format_number(found.upper)
    return f"[{low}, {high}]"


def junit_properties(samples: Mapping[str, Sequence[float]]) -> list[tuple[str, str]]:
    """JUnit properties: each latency's p99 with its 95 % interval, `ttft_ms.p99` →
    `27.0 [24.9, open]`."""
    out = []
    for key in ("ttft_ms", "e2e_ms", "itl_ms", "tpot_ms"):
        found = percentile_interval(samples, key, "p99")
        if found is not None:
            out.append((f"{key}.p99", f"{format_number(found.point)} {interval_text(found)}"))
    return out


def steady_lines(steady: Mapping[str, Any] | None, whole: Mapping[str, Any]) -> list[str]:
    """The console's Steady state block: the window, then p50 / p99 of each of its metrics
    beside the whole run's (`whole`: Summary.metrics)."""
    if not steady:
        return []
    window = steady.get("window")
    if not isinstance(window, Mapping):
        reason = outbound.terminal(str(steady.get("reason") or "none"))
        return ["", f"Steady state: no window ({reason})"]
    target = steady.get("target_in_flight")
    at = f"{target} in flight" if target is not None else "the target rate (open loop)"
    out = [
        "",
        f"Steady state ({at}): {_num(window.get('start_s'))} s → {_num(window.get('end_s'))} s, "
        f"{steady.get('requests')} requests, {_num(steady.get('requests_per_s'))} req/s",
        f"  {'':<12}{'whole p50':>11}{'steady p50':>12}{'whole p99':>11}{'steady p99':>12}",
    ]
    metrics = steady.get("metrics")
    for key, stats in (metrics or {}).items() if isinstance(metrics, Mapping) else ():
        overall = whole.get(key)
        if not isinstance(stats, Mapping) or overall is None:
            continue
        label = _LABELS.get(key, outbound.terminal(str(key), 20))
        out.append(
            f"  {label:<12}{format_number(overall.p50):>11}{_num(stats.get('p50')):>12}"
            f"{format_number(overall.p99):>11}{_num(stats.get('p99')):>12}"
        )
    return out


def steady_html(doc: Mapping[str, Any]) -> str:
    """The HTML report's steady-state table (whole run and window, p50 and p99) and the
    --until-stable line, from a summary JSON document; "" when it has neither."""
    parts = []
    lines = steady_lines(doc.get("steady_state"), {})
    steady = doc.get("steady_state")
    metrics = steady.get("metrics") if isinstance(steady, Mapping) else None
    if lines:
        parts.append(f'<p class="meta" data-key="steady_state">{outbound.html(lines[1])}</p>')
    whole = doc.get("metrics")
    if isinstance(metrics, Mapping) and isinstance(whole, Mapping):
        rows = []
        for key, own in metrics.items():
            overall = whole.get(key)
            if not isinstance(own, Mapping) or not isinstance(overall, Mapping):
                continue
            cells = "".join(
                _html_cell(f"{where}.{key}.{stat}", src.get(stat))
                for where, src in (("metrics", overall), ("steady_state.metrics", own))
                for stat in ("p50", "p99")
            )
            label = _LABELS.get(key, outbound.html(str(key), 40))
            rows.append(f"<tr><td>{label}</td>{cells}</tr>")
        head = "".join(
            f"<th>{h}</th>"
            for h in ("metric", "whole p50", "whole p99", "steady p50", "steady p99")
        )
        parts.append(f'<table id="steady"><tr>{head}</tr>{"".join(rows)}</table>')
    conv = convergence_lines(doc.get("convergence"))
    if conv:
        parts.append(f'<p class="meta" data-key="convergence">{outbound.html(conv[1])}</p>')
    return "\n".join(parts)


def _html_cell(key: str, value: object) -> str:
    return f'<td data-key="{outbound.html(key)}">{_num(value)}</td>'


def convergence_lines(convergence: Mapping[str, Any] | None) -> list[str]:
    """One line: converged (when, on how many samples) or stopped at the run's maximum,
    with each target's relative half-width."""
    if not convergence:
        return []
    widths = convergence.get("relative_half_width_pct")
    targets = convergence.get("targets")
    parts = []
    for ref, goal in (targets or {}).items() if isinstance(targets, Mapping) else ():
        width = widths.get(ref) if isinstance(widths, Mapping) else None
        shown = "open" if width is None else f"±{_num(width)} %"
        parts.append(f"{outbound.terminal(str(ref), 40)} {shown} (goal ±{_num(goal)} %)")
    detail = "; ".join(parts)
    if convergence.get("converged"):
        head = (
            f"Converged (--until-stable) after {_num(convergence.get('at_s'))} s, "
            f"{convergence.get('samples')} samples"
        )
    else:
        head = "Not converged (--until-stable): the run hit its --duration / --n"
    return ["", f"{head}: {detail}"]


def _num(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return format_number(float(value))
