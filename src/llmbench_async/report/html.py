"""The HTML report: one self-contained file (uPlot, its CSS and the data embedded; no network
at view time, opens from file://) for a run, a sweep, or a comparison of two runs.

Tables are rendered here from the summary JSON (readable without scripts); charts are drawn
by report_assets/report.js from data embedded as JSON. Distributions are shipped as exact
quantiles and a histogram, never as raw samples, so the file stays small for any run size.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from .. import outbound
from ..metrics import format_number
from ..results.facts import peak_text, tally_text
from ..results.stats import Summary, percentile
from .confidence import steady_html
from .outcomes import answers_line
from .workloads import slo_over_time_console

__all__ = [
    "UPLOT_VERSION",
    "compare_html",
    "distributions",
    "run_html",
    "sweep_html",
]

DIST_METRICS = ("ttft_ms", "e2e_ms", "itl_ms", "tpot_ms")
TABLE_METRICS = (
    ("ttft_ms", "TTFT (ms)"),
    ("ttfc_ms", "TTFC (ms)"),
    ("e2e_ms", "E2E (ms)"),
    ("itl_ms", "ITL (ms)"),
    ("tpot_ms", "TPOT (ms)"),
    ("output_tokens_per_s", "Out tok/s per req"),
    ("queue_delay_ms", "Queue delay (ms)"),
)
_TABLE_STATS = ("count", "mean", "min", "p50", "p90", "p95", "p99", "max")
_CDF_Q = (*(i / 100 for i in range(99)), 0.99, 0.995, 0.999, 0.9999, 1.0)
_HIST_BINS = 40
_ASSETS = files("llmbench_async")


def _asset(*parts: str) -> str:
    return _ASSETS.joinpath(*parts).read_text(encoding="utf-8")


UPLOT_VERSION = _asset("vendor", "uplot", "VERSION").strip()


def distributions(summary: Summary) -> dict[str, Any]:
    """Per metric: exact quantiles (the CDF) and a histogram up to p99.5 plus an overflow."""
    out: dict[str, Any] = {}
    for key in DIST_METRICS:
        xs = summary.samples.get(key)
        if not xs:
            continue
        cdf_x = [round(percentile(xs, q * 100), 4) for q in _CDF_Q]
        lo, hi = float(xs[0]), percentile(xs, 99.5)
        step = (hi - lo) / _HIST_BINS if hi > lo else 1.0
        edges = [lo + step * (i + 1) for i in range(_HIST_BINS if hi > lo else 1)]
        counts, below = [], 0
        for edge in edges:
            upto = bisect_right(xs, edge)
            counts.append(upto - below)
            below = upto
        if below < len(xs):  # the top 0.5 %: one last bucket up to the maximum
            edges.append(float(xs[-1]))
            counts.append(len(xs) - below)
        out[key] = {
            "cdf": {"x": cdf_x, "q": list(_CDF_Q)},
            "hist": {"edges": [round(e, 4) for e in edges], "counts": counts},
        }
    return out


def _esc(value: object, limit: int = 2000) -> str:
    """Any text as HTML (escaped, one line, capped: outbound.html)."""
    return outbound.html(value, limit)


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value) if math.isfinite(value) else "–"
    return _esc(value)


def _cell(value: Any, key: str) -> str:
    raw = "" if _missing(value) else f' data-value="{_esc(value)}"'
    return f'<td data-key="{_esc(key)}"{raw}>{_num(value)}</td>'


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _warnings(doc: Mapping[str, Any]) -> str:
    """The report model's warnings, the same list the console and Markdown print."""
    return "".join(
        f'<p class="problem" data-key="warning">{_esc(w)}</p>' for w in doc.get("warnings") or ()
    )


def _header(doc: Mapping[str, Any], title: str) -> str:
    target = doc.get("target") or {}
    tool = doc.get("tool") or {}
    lines = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">target <b data-key="endpoint">{_esc(target.get("endpoint", "?"))}</b>'
        f' · model <b data-key="model">{_esc(target.get("model", "?"))}</b></p>',
        f'<p class="meta">{_esc(doc.get("settings", ""))}</p>',
        f'<p class="meta">started {_esc(doc.get("started_at", ""))} · llmbench-async '
        f"{_esc(tool.get('version', '?'))} · latency from {_esc(doc.get('latency_from', 'send'))}"
        "</p>",
    ]
    if doc.get("problem"):
        lines.append(f'<p class="problem">{_esc(doc["problem"])}</p>')
    if doc.get("interrupted_by"):
        lines.append(f'<p class="problem">interrupted by {_esc(doc["interrupted_by"])}</p>')
    lines.append(_warnings(doc))
    return "\n".join(lines)


def _cards(doc: Mapping[str, Any]) -> str:
    req = doc.get("requests") or {}
    thr = doc.get("throughput") or {}
    items = [
        ("requests.ok", "ok", req.get("ok")),
        ("requests.failed", "failed", req.get("failed")),
        ("requests.warmup", "warm-up", req.get("warmup")),
        ("duration_s", "duration (s)", doc.get("duration_s")),
        ("throughput.requests_per_s", "requests/s", thr.get("requests_per_s")),
        ("throughput.output_tokens_per_s", "output tokens/s", thr.get("output_tokens_per_s")),
    ]
    cards = "".join(
        f'<div class="card"><div class="v" data-key="{key}" data-value="{_esc(value)}">'
        f'{_num(value)}</div><div class="k">{label}</div></div>'
        for key, label, value in items
    )
    return f'<div class="cards">{cards}</div>'


def _metrics_table(doc: Mapping[str, Any]) -> str:
    metrics = doc.get("metrics") or {}
    saved = doc.get("intervals")
    intervals: Mapping[str, Any] = saved if isinstance(saved, Mapping) else {}
    rows = []
    for key, label in TABLE_METRICS:
        stats = metrics.get(key)
        if not stats:
            continue
        cells = "".join(_cell(stats.get(s), f"metrics.{key}.{s}") for s in _TABLE_STATS)
        cells += _interval_cell(intervals.get(key), f"intervals.{key}.p99")
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    headers = ("metric", *_TABLE_STATS, "p99 95 % interval")
    return _table("metrics", headers, "".join(rows))


def _interval_cell(per_stat: object, key: str) -> str:
    """The p99's 95 % interval, `[low, high]`; `open` for a missing bound."""
    found = per_stat.get("p99") if isinstance(per_stat, Mapping) else None
    if not isinstance(found, Mapping):
        return f'<td data-key="{_esc(key)}">–</td>'
    low, high = (found.get(side) for side in ("lower", "upper"))
    text = f"[{'open' if low is None else _num(low)}, {'open' if high is None else _num(high)}]"
    return f'<td data-key="{_esc(key)}">{text}</td>'


def _table(table_id: str, headers: Sequence[str], rows: str) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    return f'<table id="{table_id}"><tr>{head}</tr>{rows}</table>'


def _thresholds(doc: Mapping[str, Any]) -> str:
    verdicts = doc.get("thresholds") or []
    if not verdicts:
        return '<p class="note">No thresholds given (--fail-if).</p>'
    rows = "".join(
        f"<tr><td>{_esc(v['expression'])}</td>{_cell(v.get('observed'), 'observed')}"
        f"<td>{_esc(v.get('unit', ''))}</td>"
        f"<td>{_esc(v.get('op', ''))} {_esc(_limit(v.get('limit')))}</td>"
        f'<td class="{"pass" if v["passed"] else "fail"}">{"pass" if v["passed"] else "FAIL"}'
        "</td></tr>"
        for v in verdicts
    )
    failed = sum(not v["passed"] for v in verdicts)
    tally = f'<p class="meta" data-key="tally">{_esc(tally_text(failed, len(verdicts)))}</p>'
    return _table("thresholds", ("threshold", "observed", "unit", "limit", ""), rows) + tally


def _limit(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


def _errors(doc: Mapping[str, Any]) -> str:
    details = doc.get("error_details") or []
    if not details:
        return '<p class="note">No request failed.</p>'
    rows = "".join(
        f"<tr><td>{_esc(d['kind'])}</td>{_cell(d['count'], 'errors.' + d['kind'])}"
        f"<td class='msg'>{_esc(d.get('first_message', ''))}</td></tr>"
        for d in details
    )
    return _table("errors", ("kind", "count", "first message"), rows)


def _per_model(doc: Mapping[str, Any]) -> str:
    """With several models: one row per model asked for ("" otherwise)."""
    models = doc.get("per_model") or {}
    if not models:
        return ""
    rows = []
    for name, m in models.items():
        key = f"per_model.{name}"
        ttft, e2e = m["metrics"].get("ttft_ms") or {}, m["metrics"].get("e2e_ms") or {}
        rows.append(
            f"<tr><td>{_esc(name)}</td>{_cell(m['requests']['ok'], key + '.requests.ok')}"
            f"{_cell(m['requests']['failed'], key + '.requests.failed')}"
            f"{_cell(m['requests_per_s'], key + '.requests_per_s')}"
            f"{_cell(ttft.get('p50'), key + '.metrics.ttft_ms.p50')}"
            f"{_cell(ttft.get('p95'), key + '.metrics.ttft_ms.p95')}"
            f"{_cell(e2e.get('p95'), key + '.metrics.e2e_ms.p95')}</tr>"
        )
    headers = ("model", "ok", "failed", "req/s", "TTFT p50 (ms)", "TTFT p95 (ms)", "E2E p95 (ms)")
    return "<h2>By model</h2>" + _table("per-model", headers, "".join(rows))


def _over_time(doc: Mapping[str, Any]) -> str:
    """A --load-shape run's thresholds judged per window ("" otherwise)."""
    lines = slo_over_time_console(doc.get("slo_over_time"))
    text = " · ".join(line.strip() for line in lines)
    return f'<p class="meta" data-key="slo_over_time">{_esc(text)}</p>' if text else ""


def _self_check(doc: Mapping[str, Any]) -> str:
    client = doc.get("client")
    if not client:
        return '<p class="note">No client self-check recorded.</p>'
    lag = client.get("loop_lag_ms") or {}
    rows = [
        ("event-loop lag p50 (ms)", lag.get("p50"), "client.loop_lag_ms.p50"),
        ("event-loop lag p99 (ms)", lag.get("p99"), "client.loop_lag_ms.p99"),
        ("event-loop lag max (ms)", lag.get("max"), "client.loop_lag_ms.max"),
        ("client CPU (% of one core)", client.get("cpu_percent"), "client.cpu_percent"),
    ]
    body = "".join(f"<tr><td>{label}</td>{_cell(v, key)}</tr>" for label, v, key in rows)
    peak = peak_text(client.get("peak_in_flight"), doc.get("in_flight_cap"))
    raw = client.get("peak_in_flight")
    value = "" if _missing(raw) else f' data-value="{_esc(raw)}"'
    body += (
        f'<tr><td>peak in flight</td><td data-key="client.peak_in_flight"{value}>'
        f"{_esc(peak)}</td></tr>"
    )
    return f'<table id="client">{body}</table>'


def _client_error(doc: Mapping[str, Any]) -> str:
    """A calibrated run (--calibrate, `calibrate`): the verdict and each clock's error."""
    err = doc.get("client_error")
    if not isinstance(err, Mapping):
        return ""
    rows = ""
    for clock, stats in (err.get("clocks") or {}).items():
        if not stats:
            continue
        cells = "".join(
            _cell(stats.get(s), f"client_error.clocks.{clock}.{s}") for s in ("p50", "p99", "max")
        )
        rows += f"<tr><td>{_esc(clock)}</td>{cells}</tr>"
    verdict = f'<p class="note" data-key="client_error.verdict">{_esc(err.get("verdict"))}</p>'
    table = _table(
        "client-error", ("clock (ms, ours − the mock's truth)", "p50", "p99", "max"), rows
    )
    return f"<h2>Client error</h2>\n{verdict}\n{table}"


def _server_note(doc: Mapping[str, Any]) -> str:
    server = (doc.get("timeseries") or {}).get("server")
    if not server:
        return ""
    sources = server.get("sources")
    urls = [str(s.get("url")) for s in sources if isinstance(s, dict)] if sources else []
    shown = ", ".join(_esc(u) for u in urls) if len(urls) > 1 else _esc(server["url"])
    text = (
        f"Server metrics from {shown} every {server['interval_s']:g} s: "
        f"{server['scrapes']} scrapes, {server['failures']} failed"
    )
    if server.get("first_error"):
        text += f" (first: {_esc(server['first_error'])})"
    return f'<p class="note" id="server-note">{text}.</p>'


def _page(title: str, body: str, payload: Mapping[str, Any]) -> str:
    data = outbound.json_dumps(payload, indent=None).replace("</", "<\\/")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{_esc(title)}</title>\n"
        f"<style>{_asset('vendor', 'uplot', 'uPlot.min.css')}</style>\n"
        f"<style>{_asset('report_assets', 'report.css')}</style>\n"
        f"</head><body><main>\n{body}\n"
        f'<p class="note">Charts: uPlot {UPLOT_VERSION} (MIT), embedded.</p>\n</main>\n'
        f'<script type="application/json" id="llmbench-data">{data}</script>\n'
        f"<script>/* uPlot {UPLOT_VERSION}, MIT licence */\n"
        f"{_asset('vendor', 'uplot', 'uPlot.iife.min.js')}</script>\n"
        f"<script>{_asset('report_assets', 'report.js')}</script>\n"
        "</body></html>\n"
    )


def _run_sections(doc: Mapping[str, Any]) -> str:
    answers = answers_line(doc.get("answers") or {}, doc.get("request_bytes"))
    return "\n".join(
        [
            _cards(doc),
            f'<p class="meta" data-key="answers">{_esc(answers)}</p>' if answers else "",
            "<h2>Latency</h2>",
            _metrics_table(doc),
            _per_model(doc),
            steady_html(doc),
            "<h2>Thresholds</h2>",
            _thresholds(doc),
            _over_time(doc),
            "<h2>Errors</h2>",
            _errors(doc),
            "<h2>Client self-check</h2>",
            _self_check(doc),
            _client_error(doc),
        ]
    )


def run_html(doc: Mapping[str, Any], summary: Summary, settings: str = "") -> str:
    """The report of one run from its summary JSON document (with `timeseries`) and Summary."""
    page = dict(doc, settings=settings)
    ts = doc.get("timeseries")
    marks = ", ".join(m["label"] for m in (ts or {}).get("marks") or [])
    body = "\n".join(
        [
            _header(page, "llmbench-async report"),
            _run_sections(doc),
            "<h2>Distributions</h2>",
            '<div class="grid" id="dist-charts"></div>',
            "<h2>Over time</h2>",
            f'<p class="note">Windows of {(ts or {}).get("window_s", 0):g} s'
            + (f"; shaded: {_esc(marks)}" if marks else "")
            + "; per-window percentiles are within ±1 %.</p>",
            _server_note(doc),
            '<div class="grid" id="time-charts"></div>',
        ]
    )
    runs = [{"name": "run", "timeseries": ts, "dist": distributions(summary)}]
    return _page("llmbench-async report", body, {"kind": "run", "runs": runs})


def sweep_html(sweep: Mapping[str, Any]) -> str:
    """The report of a sweep from its JSON document (`sweep_json`): its target, load,
    warnings and capacity as every other output states them."""
    levels = sweep.get("levels") or []
    capacity = sweep.get("capacity_under_slo")
    points = []
    for doc in levels:
        metrics = doc.get("metrics") or {}
        points.append(
            {
                "label": doc["level"]["label"],
                "rps": (doc.get("throughput") or {}).get("requests_per_s"),
                "ttft_p99": (metrics.get("ttft_ms") or {}).get("p99"),
                "e2e_p99": (metrics.get("e2e_ms") or {}).get("p99"),
                "passed": doc["level"]["passed"],
            }
        )
    first = dict(levels[0]) if levels else {}
    first.update(settings=sweep.get("settings", ""), warnings=sweep.get("warnings") or ())
    cap = sweep.get("capacity_text") or "not judged (no --fail-if)"
    parts = [
        _header(first, "llmbench-async sweep"),
        f'<p class="meta">capacity under SLO: <b data-key="capacity">{_esc(cap)}</b></p>',
        f'<p class="meta" data-key="slo">{_esc(sweep.get("slo") or "")}</p>',
        _sweep_table(points, judged=sweep.get("capacity") is not None),
        '<div class="grid" id="sweep-charts"></div>',
    ]
    for i, doc in enumerate(levels):
        parts += [
            f"<h2>Level {_esc(doc['level']['label'])}</h2>",
            _run_sections(doc),
            f'<div class="grid" id="levels-{i}"></div>',
        ]
    payload = {
        "kind": "sweep",
        "sweep": {
            "levels": points,
            "capacity": None if capacity is None else capacity["label"],
            "capacity_bound": None if capacity is None else capacity.get("bound"),
        },
        "runs": [{"name": d["level"]["label"], "timeseries": d.get("timeseries")} for d in levels],
    }
    return _page("llmbench-async sweep", "\n".join(parts), payload)


def _verdict_cell(passed: bool) -> str:
    return '<td class="pass">pass</td>' if passed else '<td class="fail">FAIL</td>'


def _sweep_table(points: Sequence[Mapping[str, Any]], *, judged: bool) -> str:
    """The levels' table; its SLO column only when the levels were judged (as the console)."""
    rows = "".join(
        f"<tr><td>{_esc(p['label'])}</td>{_cell(p['rps'], 'rps')}{_cell(p['ttft_p99'], 'ttft_p99')}"
        f"{_cell(p['e2e_p99'], 'e2e_p99')}"
        + (_verdict_cell(bool(p["passed"])) if judged else "")
        + "</tr>"
        for p in points
    )
    head = "<tr><th>level</th><th>req/s</th><th>TTFT p99 (ms)</th><th>E2E p99 (ms)</th>"
    head += "<th>SLO</th>" if judged else ""
    return f'<table id="sweep">{head}</tr>{rows}</table>'


def compare_html(
    sides: Sequence[tuple[str, Mapping[str, Any], Summary | None]],
    rows: Sequence[Mapping[str, Any]],
    warnings: Sequence[str] = (),
    *,
    verdict: str = "",
) -> str:
    """BASE and NEW overlaid: `sides` is (name, summary JSON document, Summary or None) for
    each; `rows` the comparison table (metric, base, new, change, verdict); `warnings` the
    comparison's (settings that differ, too few samples) and `verdict` its outcome, as the
    console prints them."""
    head = "<tr><th>metric</th><th>BASE</th><th>NEW</th><th>change</th><th>verdict</th></tr>"
    body_rows = "".join(
        f"<tr><td>{_esc(r['metric'])}</td>{_cell(r['base'], 'base')}{_cell(r['new'], 'new')}"
        f"<td>{_esc(r['change'])}</td><td>{_esc(r['verdict'])}</td></tr>"
        for r in rows
    )
    parts = ["<h1>llmbench-async comparison</h1>"]
    for name, doc, _ in sides:
        target = doc.get("target") or {}
        parts.append(
            f'<p class="meta"><b>{_esc(name)}</b> {_esc(doc.get("path", ""))} · '
            f"{_esc(target.get('endpoint', '?'))} · model {_esc(target.get('model', '?'))} · "
            f"started {_esc(doc.get('started_at', '?'))}</p>"
        )
    parts.append(_warnings({"warnings": warnings}))
    if verdict:
        parts.append(f'<p class="meta">compare: <b data-key="verdict">{_esc(verdict)}</b></p>')
    parts += [
        f'<table id="comparison">{head}{body_rows}</table>',
        '<div class="grid" id="compare-charts"></div>',
    ]
    runs = [
        {
            "name": name,
            "timeseries": doc.get("timeseries"),
            "dist": distributions(summary) if summary is not None else None,
        }
        for name, doc, summary in sides
    ]
    return _page("llmbench-async comparison", "\n".join(parts), {"kind": "compare", "runs": runs})
