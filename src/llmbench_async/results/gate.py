"""Thresholds: expressions like `ttft.p95<800ms` or `error_rate<1%`, parsed once and judged
against a `Summary`. Pure functions: nothing here does I/O or knows about HTTP.

Grammar: `METRIC.STAT OP VALUE[UNIT]` for per-request metrics, `METRIC OP VALUE[UNIT]` for
run-level ones. A number without a unit is in the metric's own unit (ms for times, per
second for rates); a share (error_rate, retry_rate, good_fraction) needs its `%`, since
k6 writes 1 % as 0.01: a bare number other than 0 is refused with a hint.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, cast

from ..errors import ThresholdError
from ..metrics import (
    CLIENT_ERROR_CLOCKS,
    CLIENT_ERROR_PREFIX,
    NAMES,
    PER_REQUEST,
    RETRY_CAUSES,
    RUN_LEVEL,
    STATS,
    Metric,
    canonical_name,
    format_number,
    metric,
)
from ..metrics import plain_number as _plain
from .intervals import interval
from .stats import Summary

__all__ = [
    "RUN_LEVEL_METRICS",
    "STATS",
    "TIME_METRICS",
    "MetricRef",
    "Threshold",
    "ThresholdError",
    "Verdict",
    "check",
    "format_value",
    "judge",
    "observe",
    "parse_metric_ref",
    "parse_threshold",
    "parse_thresholds",
]

Op = Literal["<", "<=", ">", ">="]
Bound = Literal["lower", "upper"]
Kind = Literal["time", "rate", "percent"]

# grammar name → Summary metric key, for per-request metrics (they need a STAT)
TIME_METRICS: dict[str, str] = {m.name: m.key for m in PER_REQUEST if m.kind == "latency"}
_PER_REQUEST: dict[str, str] = {m.name: m.key for m in PER_REQUEST}
# run-level metrics take no STAT; bare output_tokens_per_s is the aggregate rate
RUN_LEVEL_METRICS: tuple[str, ...] = (*(m.name for m in RUN_LEVEL), "retries")
_ALL_METRICS: tuple[str, ...] = NAMES
_KIND: dict[str, Kind] = {"latency": "time", "ratio": "percent", "rate": "rate", "count": "rate"}

_STATS_HELP = "mean, min, max, stdev, p50, p90, p95, p99 or any pNN / pNN.N"
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SHAPE = "expected METRIC.STAT OP VALUE[UNIT], e.g. ttft.p95<800ms"
_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)")
_VALUE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(\S*)")


@dataclass(frozen=True, slots=True)
class MetricRef:
    """One number a run yields: `ttft.p95`, `output_tokens_per_s.p50`, `error_rate`…"""

    metric: str  # grammar name: ttft, e2e, itl, tpot, queue_delay, output_tokens_per_s, …
    stat: str | None  # mean, min, max, stdev or pNN (normalised: p95, p99.9); None = run-level
    model: str | None = None  # `{model=NAME}`: the requests that asked for that model only
    # a percentile's 95 % interval bound instead of its point (`ttft.p99.upper`); None: the point
    bound: Bound | None = None

    def __str__(self) -> str:
        text = self.metric if self.stat is None else f"{self.metric}.{self.stat}"
        text = text if self.bound is None else f"{text}.{self.bound}"
        return text if self.model is None else f"{text}{{model={self.model}}}"

    @property
    def run_level(self) -> bool:
        """One number per run (`error_rate`, `retries.http_429`), not a distribution."""
        return self.stat is None or self.metric == "retries"

    @property
    def quantile(self) -> float | None:
        """The percentile (0-100) when the stat is pNN, else None."""
        if self.run_level or self.stat is None or not self.stat.startswith("p"):
            return None
        return float(self.stat[1:])

    @property
    def definition(self) -> Metric:
        """The metric table's entry for this reference; KeyError for a name it does not hold."""
        return metric(self.metric, per_request=not self.run_level)

    @property
    def kind(self) -> Kind:
        return _KIND[self.definition.kind]

    @property
    def unit(self) -> str:
        """The unit values of this metric are in: ms, %, req/s or tok/s."""
        return self.definition.unit

    @property
    def higher_is_better(self) -> bool:
        """Throughput: higher is better; latency, error rate and any spread: lower is better."""
        return self.definition.higher_is_better and self.stat != "stdev"

    @property
    def cause(self) -> str | None:
        """`retries.http_429` → `http_429`."""
        return self.stat if self.metric == "retries" else None


@dataclass(frozen=True, slots=True)
class Threshold:
    """A parsed `--fail-if` expression."""

    ref: MetricRef
    op: Op
    limit: float  # in the metric's unit (`MetricRef.unit`): ms, %, req/s or tok/s
    unit: str  # the unit as written ("ms", "s", "%" or ""): values are shown in it

    def __str__(self) -> str:
        """The canonical expression, e.g. `ttft.p95<800ms`."""
        return f"{self.ref}{self.op}{_plain(self.limit / _scale(self.unit))}{self.unit}"

    @property
    def limit_text(self) -> str:
        """The comparison and the limit, e.g. `< 800 ms`."""
        return f"{self.op} {_plain(self.limit / _scale(self.unit))} {self.unit or self.ref.unit}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A threshold judged against a run: the value observed, and whether it passed."""

    threshold: Threshold
    observed: float | None  # in the metric's unit; None when the run gave no such data
    passed: bool

    @property
    def observed_text(self) -> str:
        """The observed value in the threshold's unit, or `no data`."""
        if self.observed is None:
            return "no data" if self.threshold.ref.bound is None else "open (too few samples)"
        return format_value(self.observed, self.threshold)

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict} {self.threshold}: observed {self.observed_text} "
            f"vs limit {self.threshold.limit_text}"
        )


def parse_metric_ref(text: str, expression: str | None = None) -> MetricRef:
    """`ttft.p95` → MetricRef; ThresholdError naming `expression` (default: `text`) if bad."""
    expr = text if expression is None else expression
    name, dot, stat = text.strip().lower().partition(".")
    name = name.strip()
    stat = stat.strip()
    head, _, last = stat.rpartition(".")
    if head and last in ("upper", "lower"):
        ref = parse_metric_ref(f"{name}.{head}", expr)
        if ref.quantile is None or ref.bound is not None:
            raise ThresholdError(
                expr, f".{last} is the bound of a percentile's 95 % interval, e.g. ttft.p99.{last}"
            )
        return MetricRef(ref.metric, ref.stat, bound=cast(Bound, last))
    if not name:
        raise ThresholdError(expr, f"missing metric; {_SHAPE}")
    if name == CLIENT_ERROR_PREFIX:
        return _client_error_ref(stat, expr)
    name = canonical_name(name) or name
    if name not in _ALL_METRICS:
        close = difflib.get_close_matches(name, _ALL_METRICS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ThresholdError(
            expr, f"unknown metric {name!r}{hint}; expected one of {', '.join(_ALL_METRICS)}"
        )
    if not dot:
        if name in RUN_LEVEL_METRICS:
            return MetricRef(name, None)
        raise ThresholdError(
            expr, f"{name} needs a statistic, e.g. {name}.p95; expected one of {_STATS_HELP}"
        )
    if name == "retries":
        if stat not in RETRY_CAUSES:
            raise ThresholdError(
                expr, f"unknown retry cause {stat!r}; expected one of {', '.join(RETRY_CAUSES)}"
            )
        return MetricRef(name, stat)
    if name not in _PER_REQUEST:
        raise ThresholdError(
            expr,
            f"{name} is a run-level metric and takes no statistic; "
            f"write e.g. {name}{'<1%' if name == 'error_rate' else '>=2'}",
        )
    return _stat_ref(name, stat, expr)


def _client_error_ref(rest: str, expr: str) -> MetricRef:
    """`client_error.CLOCK.STAT`: a statistic of the error the client adds to one clock,
    measured by a calibration (--calibrate; docs/calibrate.md)."""
    clock, _dot, stat = rest.partition(".")
    if clock not in CLIENT_ERROR_CLOCKS:
        close = difflib.get_close_matches(clock, CLIENT_ERROR_CLOCKS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ThresholdError(
            expr,
            f"unknown clock {clock!r} for {CLIENT_ERROR_PREFIX}{hint}; expected "
            f"{CLIENT_ERROR_PREFIX}.CLOCK.STAT with CLOCK one of "
            f"{', '.join(CLIENT_ERROR_CLOCKS)}, e.g. client_error.ttft.p99<5ms",
        )
    return _stat_ref(f"{CLIENT_ERROR_PREFIX}.{clock}", stat, expr)


def _stat_ref(name: str, stat: str, expr: str) -> MetricRef:
    """A per-request metric with its STAT: mean, min, max, stdev or pNN."""
    if stat in STATS[:4]:
        return MetricRef(name, stat)
    match = _PERCENTILE.fullmatch(stat)
    if match is None:
        shown = f"statistic {stat!r}" if stat else "empty statistic"
        raise ThresholdError(expr, f"unknown {shown} for {name}; expected one of {_STATS_HELP}")
    q = float(match.group(1))
    if q > 100:
        raise ThresholdError(expr, f"percentile {stat} is out of range; expected p0 to p100")
    return MetricRef(name, f"p{_plain(q)}")


def parse_threshold(text: str) -> Threshold:
    """`ttft.p95<800ms` → Threshold; ThresholdError with what was expected when it is bad."""
    expr = text.strip()
    if not expr:
        raise ThresholdError(text, f"empty expression; {_SHAPE}")
    model, bare = _model_label(expr)
    found = re.search(r"[<>=!]+", bare)
    if found is None:
        raise ThresholdError(expr, f"no comparison (<, <=, >, >=); {_SHAPE}")
    if found.group() not in _OPS:
        raise ThresholdError(
            expr, f"unsupported comparison {found.group()!r}; expected one of <, <=, >, >="
        )
    op = cast(Op, found.group())
    left, right = bare[: found.start()], bare[found.end() :].strip()
    if not left.strip():
        raise ThresholdError(expr, f"missing metric before {op!r}; {_SHAPE}")
    ref = parse_metric_ref(left, expr)
    if model is not None:
        ref = replace(ref, model=model)
    if not right:
        raise ThresholdError(
            expr, f"missing value after {op!r}; expected a number with an optional unit (ms, s, %)"
        )
    match = _VALUE.fullmatch(right)
    if match is None:
        raise ThresholdError(expr, f"expected a number (0 or more) after {op!r}, got {right!r}")
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit not in ("", "ms", "s", "%"):
        raise ThresholdError(expr, f"unknown unit {unit!r}; expected ms, s, % or none")
    _check_unit(expr, ref, unit)
    if ref.kind == "percent" and not unit and number != 0:
        raise ThresholdError(expr, _share_hint(ref, number))
    return Threshold(ref=ref, op=op, limit=number * _scale(unit), unit=unit)


_LABEL = re.compile(r"\{([^{}]*)\}")
_MODEL_NAME = re.compile(r"[\w.:/@+-]{1,200}")


def _model_label(expr: str) -> tuple[str | None, str]:
    """`ttft.p95{model=b}<1s` → ("b", "ttft.p95<1s"); (None, expr) without a label."""
    found = _LABEL.search(expr)
    if found is None:
        if "{" in expr or "}" in expr:
            raise ThresholdError(expr, "a label is written {model=NAME}, e.g. ttft.p95{model=b}<1s")
        return None, expr
    key, eq, value = found.group(1).partition("=")
    if key.strip().lower() != "model" or not eq or not value.strip():
        raise ThresholdError(
            expr, f"unknown label {found.group(0)!r}; the one label is {{model=NAME}}"
        )
    name = value.strip()
    if not _MODEL_NAME.fullmatch(name):  # names go into reports' expressions as they are
        raise ThresholdError(
            expr, "a model label takes letters, digits and . _ : / @ + - (e.g. {model=org/m-1})"
        )
    return name, expr[: found.start()] + expr[found.end() :]


def for_models(thresholds: Sequence[Threshold], models: Sequence[str]) -> tuple[Threshold, ...]:
    """Thresholds whose `{model=NAME}` labels name the run's models (a ThresholdError for
    another name). A run of one model is all that model's: its label is dropped."""
    out = []
    for t in thresholds:
        name = t.ref.model
        if name is None:
            out.append(t)
            continue
        if name not in models:
            known = ", ".join(models) if models else "none given (use --model a,b)"
            raise ThresholdError(str(t), f"unknown model {name!r}; the run's models: {known}")
        if len(models) == 1:
            t = replace(t, ref=replace(t.ref, model=None))
        out.append(t)
    return tuple(out)


def parse_thresholds(texts: Iterable[str]) -> tuple[Threshold, ...]:
    """Parse several expressions; the first bad one raises ThresholdError."""
    return tuple(parse_threshold(t) for t in texts)


def _check_unit(expr: str, ref: MetricRef, unit: str) -> None:
    if not unit:
        return
    kind = ref.kind
    if kind == "time" and unit not in ("ms", "s"):
        raise ThresholdError(
            expr, f"unit {unit!r} does not fit {ref} (a time); use ms or s (a bare number means ms)"
        )
    if kind == "percent" and unit != "%":
        raise ThresholdError(
            expr,
            f"unit {unit!r} does not fit {ref} (a percentage); use %, e.g. 1%",
        )
    if kind == "rate":
        raise ThresholdError(
            expr,
            f"unit {unit!r} does not fit {ref} ({ref.unit or 'a count'}); write a bare number",
        )


def _share_hint(ref: MetricRef, number: float) -> str:
    """A bare number for a share is refused: k6 writes 1 % as 0.01, others as 1."""
    n = _plain(number)
    meant = f"k6's {n} is {_plain(number * 100)}%, else {n}%" if number <= 1 else f"{n}%"
    return f"{ref} is a share: a bare number is ambiguous; write 1% for a share ({meant})"


def _scale(unit: str) -> float:
    """How many of the metric's own units one written unit is (1 s = 1000 ms)."""
    return 1000.0 if unit == "s" else 1.0


def observe(summary: Summary, ref: MetricRef) -> float | None:
    """The value of `ref` in a run, in the metric's unit; None when the run has no such data.

    The metric table reads it; percentiles are computed exactly from the samples, so any
    pNN is as good as p95. A bound (`ttft.p99.upper`) is its 95 % interval's, None when open.
    """
    if ref.model is not None:
        of_model = summary.by_model.get(ref.model)
        if of_model is None:
            return None  # no request asked for that model
        summary = of_model
    quantile = ref.quantile
    if ref.bound is not None and quantile is not None:
        found = interval(summary.samples.get(ref.definition.key) or (), quantile)
        return None if found is None else getattr(found, ref.bound)
    return ref.definition.of_summary(summary, ref.stat)


def judge(summary: Summary, thresholds: Sequence[Threshold]) -> tuple[Verdict, ...]:
    """Judge each threshold; a metric with no data fails its threshold."""
    verdicts = []
    for threshold in thresholds:
        value = observe(summary, threshold.ref)
        passed = value is not None and _OPS[threshold.op](value, threshold.limit)
        verdicts.append(Verdict(threshold=threshold, observed=value, passed=passed))
    return tuple(verdicts)


def check(summary: Summary, thresholds: Iterable[str | Threshold]) -> tuple[Verdict, ...]:
    """Parse (when given as text) and judge thresholds: the Python API of `--fail-if`.

    >>> verdicts = check(result.summary, ["ttft.p95<800ms", "error_rate<1%"])
    >>> assert all(v.passed for v in verdicts), [str(v) for v in verdicts]
    """
    parsed = [t if isinstance(t, Threshold) else parse_threshold(t) for t in thresholds]
    return judge(summary, parsed)


def format_value(value: float, threshold: Threshold) -> str:
    """A value in the metric's unit, shown in the threshold's unit: `812 ms`, `0.81 s`."""
    unit = threshold.unit or threshold.ref.unit
    return f"{format_number(value / _scale(threshold.unit))} {unit}"
