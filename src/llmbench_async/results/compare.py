"""Comparing two runs (BASE and NEW): key metrics side by side, the change, whether NEW is
worse than BASE beyond a tolerance, and whether the two runs are comparable at all (their
settings). Reads saved files; computes; prints nothing.

A side is a JSONL results file (statistics are recomputed from its records, so any percentile
is available), a summary JSON (only the statistics it holds), or a sweep summary JSON, which
is compared level by level with another sweep.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, ExitCode
from ..inbound import check_file, loads
from ..limits import MAX_RESULTS_FILE_BYTES, MAX_RESULTS_LINE_BYTES, MAX_SUMMARY_FILE_BYTES
from ..metrics import MIN_REQUESTS
from ..records import read_results
from .facts import SavedRun
from .gate import STATS, MetricRef, ThresholdError, observe, parse_metric_ref
from .intervals import Interval, interval, saved_interval
from .stats import Summary, summarize

__all__ = [
    "KEY_METRICS",
    "MIN_REQUESTS",
    "ComparedRun",
    "Comparison",
    "Row",
    "SettingDiff",
    "SweepComparison",
    "SweepData",
    "Tolerances",
    "compare",
    "compare_sweeps",
    "load",
    "load_run",
    "parse_tolerances",
    "setting_differences",
]

# a change smaller than half the last printed digit is "same": never "+0.0% worse"
SAME_PERCENT = 0.05
SAME_POINTS = 0.005
# a time that moved by less than this (ms) is "same" whatever the share: below what a client
# on a shared machine resolves (several token events read at once have a 0 ms gap), and the
# only sound rule when BASE was 0, where any change is infinitely many percent
SAME_MS = 0.5
# measured input length (server's count) differing by more than this share is a different workload
INPUT_LENGTH_TOLERANCE = 0.10
# a sweep summary's schema (report/sweep.py writes it; compare reads it)
SWEEP_SCHEMA = "llmbench-async/sweep/v1"

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
class ComparedRun:
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
    config: Mapping[str, Any] = field(default_factory=dict)  # the run's public settings
    input_tokens: int = 0  # server-counted input tokens over the successful requests

    def value(self, ref: MetricRef) -> float | None:
        """The run's value of `ref` in the metric's unit; None when the run has no such data."""
        if self.summary is not None:
            return observe(self.summary, ref)
        return _value_from_document(self, ref)

    def interval(self, ref: MetricRef) -> Interval | None:
        """The 95 % interval of a percentile `ref`: computed from a results file's records,
        read from a summary JSON (None when it was saved before intervals existed)."""
        quantile = ref.quantile
        if quantile is None or ref.bound is not None:
            return None
        key = ref.definition.key
        if self.summary is not None:
            return interval(self.summary.samples.get(key) or (), quantile)
        return saved_interval(self.document, key, str(ref.stat))


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
    # "same" because the two runs' 95 % intervals of this percentile overlap
    within_noise: bool = False


@dataclass(frozen=True, slots=True)
class SettingDiff:
    """One setting in which BASE and NEW differ, so their numbers may not be comparable."""

    name: str  # "model", "api", "endpoint", "load", "max tokens", "prompt source", ...
    base: str
    new: str

    def __str__(self) -> str:
        return f"{self.name} differs: BASE {self.base}, NEW {self.new}"


@dataclass(frozen=True, slots=True)
class Comparison:
    """BASE vs NEW, row by row, and the settings in which they differ."""

    base: ComparedRun
    new: ComparedRun
    rows: tuple[Row, ...]
    judged: bool  # a tolerance was given
    setting_diffs: tuple[SettingDiff, ...] = ()
    # sides (BASE, NEW) whose percentiles have no interval (a summary JSON saved before
    # intervals existed): their rows fall back to the fixed "same" rule (SAME_PERCENT)
    no_intervals: tuple[str, ...] = ()

    @property
    def regressions(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.regressed)

    def exit_code(self, *, strict: bool = False) -> int:
        """The command line's exit code for this comparison: 2 when `strict` and the
        settings differ, 1 on a regression beyond tolerance, else 0."""
        if strict and self.setting_diffs:
            return ExitCode.USAGE
        return ExitCode.THRESHOLD if self.regressions else ExitCode.OK

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


def load_run(path: Path) -> ComparedRun:
    """Read a JSONL results file or a summary JSON (told apart by content); ConfigError if
    it is neither, or a sweep summary."""
    side = load(path)
    if isinstance(side, SweepData):
        raise ConfigError(
            f"{path} is a sweep summary; compare it with another sweep summary (level by level)"
        )
    return side


def load(path: Path) -> ComparedRun | SweepData:
    """Read a JSONL results file, a summary JSON or a sweep summary JSON (told apart by
    content); ConfigError if it is none of them."""
    check_file(path, "", MAX_RESULTS_FILE_BYTES)
    try:
        with path.open("rb") as fh:
            first = fh.readline(MAX_RESULTS_LINE_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if _is_header(first):
        return _from_results(path)
    doc = read_summary(path)
    try:
        if isinstance(doc, dict) and isinstance(doc.get("metrics"), dict) and "requests" in doc:
            return _from_summary(path, doc)
        if isinstance(doc, dict) and doc.get("schema") == SWEEP_SCHEMA:
            return _from_sweep(path, doc)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        reason = str(exc).split("\n")[0][:120]
        raise ConfigError(f"{path}: not a valid summary JSON ({reason})") from None
    raise ConfigError(
        f"{path} is neither a results file (-o, JSONL) nor a summary JSON (--json) "
        "of llmbench-async"
    )


def read_summary(path: Path) -> Any:
    """A summary or sweep JSON through the inbound boundary (a regular file of at most
    64 MiB, strict JSON); None when it is not JSON at all."""
    check_file(path, "", MAX_SUMMARY_FILE_BYTES)
    try:
        return loads(path.read_bytes(), str(path))
    except ConfigError as exc:
        if "nested deeper" in str(exc) or "not finite" in str(exc):
            raise
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _is_header(line: bytes) -> bool:
    try:
        obj = loads(line, "line 1")
    except ConfigError:
        return False
    return isinstance(obj, dict) and obj.get("type") == "header"


def _from_results(path: Path) -> ComparedRun:
    results = read_results(path)
    summary = summarize(results.records)
    saved = SavedRun.from_header(results.header)
    return ComparedRun(
        path=str(path),
        kind="results",
        total=summary.total,
        ok=summary.ok,
        model=saved.model,
        endpoint=saved.endpoint,
        started_at=saved.started_at or "?",
        summary=summary,
        config=saved.config,
        input_tokens=summary.total_input_tokens,
    )


def _from_summary(path: Path, doc: dict[str, Any]) -> ComparedRun:
    requests = doc.get("requests") or {}
    saved = SavedRun.from_summary(doc)
    return ComparedRun(
        path=str(path),
        kind="summary",
        total=int(requests.get("total") or 0),
        ok=int(requests.get("ok") or 0),
        model=saved.model,
        endpoint=saved.endpoint,
        started_at=saved.started_at or "?",
        document=doc,
        config=saved.config,
        input_tokens=int((doc.get("tokens") or {}).get("input") or 0),
    )


@dataclass(frozen=True, slots=True)
class SweepData:
    """A sweep summary: one ComparedRun per level, in the order run."""

    path: str
    levels: tuple[tuple[str, ComparedRun], ...]  # (label, level's data)


def _from_sweep(path: Path, doc: dict[str, Any]) -> SweepData:
    levels = []
    for i, level in enumerate(doc.get("levels") or ()):
        if not isinstance(level, dict) or not isinstance(level.get("metrics"), dict):
            raise ConfigError(f"{path}: sweep level {i + 1} is not a summary")
        label = str((level.get("level") or {}).get("label") or f"level {i + 1}")
        levels.append((label, _from_summary(Path(f"{path} [{label}]"), level)))
    if not levels:
        raise ConfigError(f"{path} is a sweep summary with no level")
    return SweepData(path=str(path), levels=tuple(levels))


def _value_from_document(run: ComparedRun, ref: MetricRef) -> float | None:
    if not ref.run_level and ref.stat not in STATS:
        raise ConfigError(
            f"{run.path} is a summary JSON, which holds only {', '.join(STATS)} of each "
            f"metric, not {ref}; compare the results files (-o JSONL) instead"
        )
    if ref.bound is not None:
        found = saved_interval(run.document, ref.definition.key, str(ref.stat))
        return None if found is None else getattr(found, ref.bound)
    return ref.definition.of_document(run.document, ref.stat)


def compare(
    base: ComparedRun, new: ComparedRun, tolerances: Tolerances | None = None
) -> Comparison:
    """Key metrics of BASE and NEW (plus any metric given its own tolerance), judged, and the
    settings in which the two runs differ."""
    tol = tolerances or Tolerances()
    refs = list(KEY_METRICS)
    refs += [ref for ref in tol.per_metric if ref not in refs]
    rows = []
    lacking: set[str] = set()
    for ref in refs:
        row = _row(ref, base.value(ref), new.value(ref), tol.for_metric(ref))
        if row.direction in ("better", "worse") and ref.quantile is not None:
            pair = base.interval(ref), new.interval(ref)
            if None not in pair and not any(i is not None and i.unbounded for i in pair):
                row = _noise(row, pair[0], pair[1])
            else:
                lacking.update(
                    side
                    for side, run in zip(_SIDES, (base, new), strict=True)
                    if run.kind == "summary" and "intervals" not in run.document
                )
        rows.append(row)
    judged = tol.default is not None or bool(tol.per_metric)
    diffs = setting_differences(base, new)
    return Comparison(
        base=base,
        new=new,
        rows=tuple(rows),
        judged=judged,
        setting_diffs=diffs,
        no_intervals=tuple(side for side in _SIDES if side in lacking),
    )


_SIDES = ("BASE", "NEW")


def _noise(row: Row, base: Interval | None, new: Interval | None) -> Row:
    """A percentile's change is "same" (within noise) when the two runs' 95 % intervals
    overlap: the data cannot tell the two percentiles apart. (Asking each value to lie in
    the other's interval would call two runs of one server different about one time in
    six per percentile; docs/intervals.md.) An interval with neither bound (too few samples
    for any: under 6 for a median) says nothing: such rows keep the fixed rule, and the
    comparison warns of too few samples."""
    assert base is not None and new is not None
    if base.overlaps(new):
        return replace(row, direction="same", regressed=False, within_noise=True)
    return row


@dataclass(frozen=True, slots=True)
class SweepComparison:
    """Two sweeps compared level by level (levels matched by label, e.g. `c=4`)."""

    base: SweepData
    new: SweepData
    levels: tuple[tuple[str, Comparison], ...]
    only_base: tuple[str, ...]  # levels NEW did not run
    only_new: tuple[str, ...]

    @property
    def judged(self) -> bool:
        return any(c.judged for _, c in self.levels)

    @property
    def regressions(self) -> tuple[tuple[str, Row], ...]:
        return tuple((label, row) for label, c in self.levels for row in c.regressions)

    @property
    def setting_diffs(self) -> tuple[SettingDiff, ...]:
        """Differences beyond the load level itself, each once, plus unmatched levels."""
        seen: dict[str, SettingDiff] = {}
        for _, c in self.levels:
            for diff in c.setting_diffs:
                seen.setdefault(diff.name, diff)
        diffs = list(seen.values())
        if self.only_base or self.only_new:
            diffs.append(
                SettingDiff(
                    "levels",
                    ", ".join(label for label, _ in self.base.levels),
                    ", ".join(label for label, _ in self.new.levels),
                )
            )
        return tuple(diffs)

    def exit_code(self, *, strict: bool = False) -> int:
        """As `Comparison.exit_code`, over every level."""
        if strict and self.setting_diffs:
            return ExitCode.USAGE
        return ExitCode.THRESHOLD if self.regressions else ExitCode.OK


def compare_sweeps(
    base: SweepData, new: SweepData, tolerances: Tolerances | None = None
) -> SweepComparison:
    """Compare the levels both sweeps ran, in BASE's order."""
    new_levels = dict(new.levels)
    base_labels = {label for label, _ in base.levels}
    matched = tuple(
        (label, compare(data, new_levels[label], tolerances))
        for label, data in base.levels
        if label in new_levels
    )
    if not matched:
        raise ConfigError(
            f"the sweeps share no level: BASE ran {', '.join(lb for lb, _ in base.levels)}, "
            f"NEW ran {', '.join(lb for lb, _ in new.levels)}"
        )
    return SweepComparison(
        base=base,
        new=new,
        levels=matched,
        only_base=tuple(label for label, _ in base.levels if label not in new_levels),
        only_new=tuple(label for label, _ in new.levels if label not in base_labels),
    )


def setting_differences(base: ComparedRun, new: ComparedRun) -> tuple[SettingDiff, ...]:
    """The settings (model, API, endpoint, load, max tokens, prompt source, input length,
    streaming) in which two runs differ. A setting unknown on either side is not compared."""
    pairs = [
        ("model", base.model, new.model),
        ("API", _cfg(base, "api"), _cfg(new, "api")),
        ("endpoint", base.endpoint, new.endpoint),
        ("load", _load_text(base.config), _load_text(new.config)),
        ("max tokens", _max_tokens_text(base.config), _max_tokens_text(new.config)),
        ("prompt source", _prompt_text(base.config), _prompt_text(new.config)),
        ("streaming", _stream_text(base.config), _stream_text(new.config)),
    ]
    diffs = [SettingDiff(n, b, w) for n, b, w in pairs if "?" not in (b, w) and b != w]
    base_len, new_len = _input_length(base), _input_length(new)
    if base_len and new_len and abs(new_len - base_len) > INPUT_LENGTH_TOLERANCE * base_len:
        diffs.append(
            SettingDiff(
                "input length",
                f"{base_len:.1f} tokens per request",
                f"{new_len:.1f} tokens per request",
            )
        )
    return tuple(diffs)


def _cfg(run: ComparedRun, key: str) -> str:
    value = run.config.get(key)
    return "?" if value is None else str(value)


def _load_text(cfg: Mapping[str, Any]) -> str:
    if not cfg:
        return "?"
    if cfg.get("trace"):  # a replay: the trace, its speed and slice, and its cap
        speed = cfg.get("trace_speed", 1)
        shown = f"{speed:g}" if isinstance(speed, int | float) else "?"
        text = f"trace {Path(str(cfg['trace'])).name} at {shown}× speed"
        text += _window_text(cfg.get("trace_window"))
        if cfg.get("max_concurrency"):
            text += f", at most {cfg['max_concurrency']} in flight"
        return text
    if cfg.get("rate"):
        text = f"rate {float(cfg['rate']):g} req/s ({cfg.get('arrival', 'poisson')})"
        if cfg.get("max_concurrency"):
            text += f", at most {cfg['max_concurrency']} in flight"
        return text
    return f"concurrency {cfg.get('concurrency', '?')}"


def _window_text(window: object) -> str:
    """`, window 60 s to 120 s` for a saved --trace-window; "" for the whole trace."""
    if not isinstance(window, list | tuple) or len(window) != 2:
        return ""
    start, end = window
    if not isinstance(start, int | float) or not isinstance(end, int | float | None):
        return ""
    if not start and end is None:
        return ""
    return f", window {start:g} s to " + ("its end" if end is None else f"{end:g} s")


def _stream_text(cfg: Mapping[str, Any]) -> str:
    """Streaming, or "?" (not compared) when unknown or for embeddings, which never stream."""
    value = cfg.get("stream")
    return "?" if value is None or cfg.get("api") == "embeddings" else str(value)


def _max_tokens_text(cfg: Mapping[str, Any]) -> str:
    if "max_tokens" not in cfg or cfg.get("api") == "embeddings":  # no output: not compared
        return "?"
    if cfg.get("trace"):
        return "per trace row" + (" (ignore_eos)" if cfg.get("ignore_eos") else "")
    return f"{cfg['max_tokens']}" + (" (ignore_eos)" if cfg.get("ignore_eos") else "")


def _prompt_text(cfg: Mapping[str, Any]) -> str:
    if not cfg:
        return "?"
    if cfg.get("trace"):
        return f"trace rows, {cfg.get('trace_block_tokens', 512)} tokens per hash id"
    if cfg.get("prompt_file"):
        order = "sampled" if cfg.get("sample_prompts") else "cycled"
        return f"file {Path(str(cfg['prompt_file'])).name} ({order})"
    synthetic = cfg.get("input_tokens")
    if synthetic:
        mean, stdev = (*synthetic, 0)[:2] if isinstance(synthetic, list | tuple) else (synthetic, 0)
        return f"synthetic {mean}" + (f":{stdev}" if stdev else "") + " tokens"
    prompt = str(cfg.get("prompt", "?"))
    return json.dumps(prompt if len(prompt) <= 40 else prompt[:37] + "...")


def _input_length(run: ComparedRun) -> float | None:
    return run.input_tokens / run.ok if run.ok and run.input_tokens else None


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
    same = SAME_POINTS if unit == "pt" else SAME_PERCENT
    tiny = ref.unit == "ms" and abs(new - base) < SAME_MS
    if new == base or tiny or (change is not None and abs(change) < same):
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
