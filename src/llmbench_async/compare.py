"""Comparing two runs (BASE and NEW): key metrics side by side, the change, and whether NEW is
worse than BASE beyond a tolerance. Reads saved files; computes; prints nothing.

A side is a JSONL results file (statistics are recomputed from its records, so any percentile
is available) or a summary JSON (only the statistics it holds).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config import Api, RunConfig
from .errors import ConfigError
from .gate import STATS, MetricRef, ThresholdError, observe, parse_metric_ref
from .metrics import MIN_REQUESTS
from .records import read_results
from .stats import Summary, summarize

__all__ = [
    "KEY_METRICS",
    "MIN_REQUESTS",
    "Comparison",
    "Row",
    "RunData",
    "Tolerances",
    "compare",
    "endpoint_of",
    "load_run",
    "parse_tolerances",
]


KEY_METRICS: tuple[MetricRef, ...] = tuple(
    parse_metric_ref(name)
    for name in (
        "ttft.p50",
        "ttft.p95",
        "ttft.p99",
        "e2e.p50",
        "e2e.p95",
        "e2e.p99",
        "itl.p50",
        "itl.p95",
        "tpot.p50",
        "requests_per_s",
        "output_tokens_per_s",
        "error_rate",
    )
)

Direction = Literal["better", "worse", "same", "n/a"]


@dataclass(frozen=True, slots=True)
class RunData:
    """One side of a comparison: a results file's Summary, or a summary JSON document."""

    path: str
    kind: Literal["results", "summary"]
    total: int  # non-warm-up requests
    ok: int
    model: str
    endpoint: str
    started_at: str
    summary: Summary | None = None  # kind == "results"
    document: Mapping[str, Any] = field(default_factory=dict)  # kind == "summary"

    def value(self, ref: MetricRef) -> float | None:
        """The run's value of `ref` in the metric's unit; None when the run has no such data."""
        if self.summary is not None:
            return observe(self.summary, ref)
        return _value_from_document(self, ref)


@dataclass(frozen=True, slots=True)
class Tolerances:
    """How much worse NEW may be: `default` for every metric, or per metric (in %).

    For error_rate, itself a percentage, the tolerance is in percentage points.
    """

    default: float | None = None
    per_metric: Mapping[MetricRef, float] = field(default_factory=dict)

    def for_metric(self, ref: MetricRef) -> float | None:
        return self.per_metric.get(ref, self.default)


@dataclass(frozen=True, slots=True)
class Row:
    """One metric, both sides, the change and the verdict."""

    ref: MetricRef
    base: float | None
    new: float | None
    # NEW vs BASE: in % of BASE, or in percentage points for error_rate; None when BASE is 0
    # and NEW is not (an infinite relative change) or a side has no data
    change: float | None
    change_unit: Literal["%", "pt"]
    direction: Direction
    tolerance: float | None  # allowed worsening, in change_unit; None: not judged
    regressed: bool  # worse than BASE by more than the tolerance


@dataclass(frozen=True, slots=True)
class Comparison:
    """BASE vs NEW, row by row."""

    base: RunData
    new: RunData
    rows: tuple[Row, ...]
    judged: bool  # a tolerance was given

    @property
    def regressions(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.regressed)

    @property
    def too_few_samples(self) -> bool:
        """Either side has fewer than MIN_REQUESTS requests: differences may be noise."""
        return min(self.base.total, self.new.total) < MIN_REQUESTS


def parse_tolerances(texts: Iterable[str]) -> Tolerances:
    """`10%` (every metric) and `ttft.p95=15%` (one metric) → Tolerances; ConfigError if bad."""
    default: float | None = None
    per_metric: dict[MetricRef, float] = {}
    for text in texts:
        name, eq, amount = text.strip().rpartition("=")
        what = f"--max-regression {text!r}"
        percent = _percent(amount, what)
        if not eq:
            if default is not None:
                raise ConfigError(f"{what}: a tolerance for every metric was already given")
            default = percent
            continue
        try:
            ref = parse_metric_ref(name)
        except ThresholdError as exc:
            raise ConfigError(f"{what}: {exc.reason}") from None
        if ref in per_metric:
            raise ConfigError(f"{what}: {ref} was already given a tolerance")
        per_metric[ref] = percent
    return Tolerances(default=default, per_metric=per_metric)


def _percent(text: str, what: str) -> float:
    body = text.strip()
    if not body.endswith("%"):
        raise ConfigError(f"{what}: expected a percentage like 10% or METRIC.STAT=PERCENT")
    try:
        value = float(body[:-1])
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise ConfigError(f"{what}: expected a percentage of 0 or more, like 10%")
    return value


def load_run(path: Path) -> RunData:
    """Read a JSONL results file or a summary JSON (told apart by content); ConfigError if
    it is neither."""
    try:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path} is not text; expected a results file or a summary JSON"
        ) from None
    if _is_header(first):
        return _from_results(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("metrics"), dict) and "requests" in doc:
        return _from_summary(path, doc)
    raise ConfigError(
        f"{path} is neither a results file (-o, JSONL) nor a summary JSON (--json) "
        "of llmbench-async"
    )


def _is_header(line: str) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("type") == "header"


def _from_results(path: Path) -> RunData:
    results = read_results(path)
    summary = summarize(results.records)
    config = results.header.get("config") or {}
    return RunData(
        path=str(path),
        kind="results",
        total=summary.total,
        ok=summary.ok,
        model=str(config.get("model") or "?"),
        endpoint=endpoint_of(config),
        started_at=str(results.header.get("started_at") or "?"),
        summary=summary,
    )


def endpoint_of(config: Mapping[str, Any]) -> str:
    """The request URL of a run from its saved (public) config."""
    base_url = config.get("base_url")
    if not base_url:
        return "?"
    api: Api = "completions" if config.get("api") == "completions" else "chat"
    return RunConfig(base_url=str(base_url), api=api).endpoint


def _from_summary(path: Path, doc: dict[str, Any]) -> RunData:
    requests = doc.get("requests") or {}
    target = doc.get("target") or {}
    return RunData(
        path=str(path),
        kind="summary",
        total=int(requests.get("total") or 0),
        ok=int(requests.get("ok") or 0),
        model=str(target.get("model") or "?"),
        endpoint=str(target.get("endpoint") or "?"),
        started_at=str(doc.get("started_at") or "?"),
        document=doc,
    )


def _value_from_document(run: RunData, ref: MetricRef) -> float | None:
    doc = run.document
    key = ref.summary_key
    if key is None:
        if run.total == 0:
            return None
        if ref.metric == "error_rate":
            failed = int((doc.get("requests") or {}).get("failed") or 0)
            return 100.0 * failed / run.total
        value = (doc.get("throughput") or {}).get(ref.metric)
        return None if value is None else float(value)
    stat = str(ref.stat)
    if stat not in STATS:
        raise ConfigError(
            f"{run.path} is a summary JSON, which holds only {', '.join(STATS)} of each "
            f"metric, not {ref}; compare the results files (-o JSONL) instead"
        )
    stats = (doc.get("metrics") or {}).get(key)
    if not isinstance(stats, dict) or stats.get(stat) is None:
        return None
    return float(stats[stat])


def compare(base: RunData, new: RunData, tolerances: Tolerances | None = None) -> Comparison:
    """Key metrics of BASE and NEW (plus any metric given its own tolerance), judged."""
    tol = tolerances or Tolerances()
    refs = list(KEY_METRICS)
    refs += [ref for ref in tol.per_metric if ref not in refs]
    rows = tuple(_row(ref, base.value(ref), new.value(ref), tol.for_metric(ref)) for ref in refs)
    judged = tol.default is not None or bool(tol.per_metric)
    return Comparison(base=base, new=new, rows=rows, judged=judged)


def _row(ref: MetricRef, base: float | None, new: float | None, tolerance: float | None) -> Row:
    unit: Literal["%", "pt"] = "pt" if ref.kind == "percent" else "%"
    if base is None or new is None:
        # NEW lost data BASE had (e.g. no successful request): worse, and judged as such
        lost = base is not None and new is None
        return Row(
            ref=ref,
            base=base,
            new=new,
            change=None,
            change_unit=unit,
            direction="worse" if lost else "n/a",
            tolerance=tolerance,
            regressed=lost and tolerance is not None,
        )
    if unit == "pt":
        change: float | None = new - base
    elif base == 0:
        change = 0.0 if new == 0 else None
    else:
        change = (new - base) / abs(base) * 100.0
    if new == base:
        direction: Direction = "same"
    else:
        direction = "better" if (new > base) == ref.higher_is_better else "worse"
    regressed = False
    if tolerance is not None and direction == "worse":
        # change None here means BASE was 0: any worsening is infinitely many % of it
        regressed = change is None or abs(change) > tolerance
    return Row(
        ref=ref,
        base=base,
        new=new,
        change=change,
        change_unit=unit,
        direction=direction,
        tolerance=tolerance,
        regressed=regressed,
    )
