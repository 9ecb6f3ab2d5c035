"""The `report` and `compare` sub-commands: saved runs re-rendered, judged and compared.

Each command imports what it runs in its body, so that its `--help` stays fast."""

from __future__ import annotations

import dataclasses
import functools
import glob
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from ..errors import ConfigError, ExitCode, error
from ..units import parse_duration
from .layout import OUTPUTS
from .options import FailIfOption, HtmlOption, JsonOption, JunitOption, WindowOption

if TYPE_CHECKING:
    from ..records import RequestRecord, ResultsFile
    from ..report.compare import ComparisonReport, SweepComparisonReport
    from ..report.summary import RunInfo
    from ..results.compare import Comparison, Row, SettingDiff, Tolerances
    from ..results.gate import Threshold

REPORT_EPILOG = "Exit codes: 0 ok, 1 a --fail-if threshold failed, 2 bad usage or unreadable file."
COMPARE_EPILOG = (
    "Exit codes: 0 no regression beyond tolerance, 1 NEW is worse beyond "
    "--max-regression, 2 bad usage, unreadable files, or (with --strict) differing settings."
)


def report_command(
    results: Annotated[
        Path,
        typer.Argument(
            help="Per-request results file written by `run -o` (JSON lines).",
            show_default=False,
            metavar="RESULTS",
        ),
    ],
    json_path: JsonOption = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help="Write a Markdown summary. It is also appended to $GITHUB_STEP_SUMMARY when set.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    junit: JunitOption = None,
    fail_if: FailIfOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print no report.", rich_help_panel=OUTPUTS)
    ] = False,
    html: HtmlOption = None,
    window: WindowOption = "1s",
) -> None:
    """Re-render the report of a saved run from its results file (no network)."""
    from ..outcomes import Expect
    from ..records import read_results
    from ..report.publish import (
        Outputs,
        exit_code,
        is_summary_json,
        lost_reason,
        publish,
        results_info,
        threshold_failure,
    )
    from ..report.summary import RunReport
    from ..results.gate import for_models, judge
    from ..results.stats import summarize
    from .parse import parse_fail_if

    thresholds = parse_fail_if(fail_if)
    outputs = Outputs(
        json_path=json_path, markdown_path=markdown, junit_path=junit, quiet=quiet, html_path=html
    )
    outputs.check_dirs(inputs=[("RESULTS", results)])
    window_s = parse_duration(window, "--window")
    if hint := _levels(results):
        raise ConfigError(f"cannot read {results}: No such file or directory {hint}")
    if is_summary_json(results):  # before reading it as lines: no "corrupt lines" warning
        raise ConfigError(
            f"{results} is a summary JSON (--json); `report` needs the per-request JSONL "
            "written by `run -o`"
        )
    try:
        saved = read_results(results)
    except OSError as exc:
        raise ConfigError(f"cannot read {results}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{results} is not a results file (not text)") from None
    if not saved.header:
        raise ConfigError(
            f"{results} is not a results file; `report` needs the per-request JSONL written "
            "by `run -o`"
        )
    saved_config = saved.header.get("config") or {}
    thresholds = for_models(thresholds, _saved_models(saved_config))
    latency_from = saved_config.get("latency_from", "send")
    summary = summarize(
        saved.records,
        latency_from=latency_from if latency_from == "schedule" else "send",
        good=saved_goodput(saved_config),  # the run's --goodput, if any
        expect=Expect.from_config(saved_config),
    )
    verdicts = judge(summary, thresholds)
    info = results_info(saved, results, window_s, ok=summary.ok)
    info = _judged_over_time(info, saved, thresholds, window_s, summary.latency_from)
    publish(RunReport(summary, info, verdicts), outputs)
    # a run that lost its target exited 3; its report says the same (one verdict)
    problem = info.problem if lost_reason(saved.footer) is not None else None
    raise typer.Exit(exit_code(problem=problem, failure=threshold_failure(verdicts)))


def _saved_models(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The models a saved run asked for: its --model list, or its one model."""
    models = config.get("models")
    if isinstance(models, list) and all(isinstance(m, str) for m in models) and models:
        return tuple(models)
    model = config.get("model")
    return (model,) if isinstance(model, str) else ()


def _judged_over_time(
    info: RunInfo,
    saved: ResultsFile,
    thresholds: Sequence[Threshold],
    window_s: float,
    latency_from: str,
) -> RunInfo:
    """A saved --load-shape run with thresholds: its SLO judged window by window again."""
    from ..outcomes import Expect
    from ..results.slo_windows import saved_slo_over_time
    from ..results.stats import SummaryBuilder

    config = saved.header.get("config") or {}
    builder = functools.partial(
        SummaryBuilder,
        latency_from=latency_from,
        good=saved_goodput(config),
        expect=Expect.from_config(config),
    )
    found = saved_slo_over_time(saved.records, thresholds, config, window_s, builder)
    return info if found is None else dataclasses.replace(info, slo_over_time=found.to_json())


def _levels(results: Path) -> str:
    """A hint when a sweep's -o wrote one file per level (`r.jsonl` → `r.c4.jsonl`)."""
    if results.exists():
        return ""
    found = sorted(results.parent.glob(f"{glob.escape(results.stem)}.*{results.suffix}"))
    names = ", ".join(str(p) for p in found[:6]) + (", ..." if len(found) > 6 else "")
    return f"(a sweep writes one file per level: {names})" if found else ""


def saved_goodput(config: Mapping[str, Any]) -> Callable[[RequestRecord], bool] | None:
    """The goodput predicate of a saved run's --goodput, if it had one."""
    from ..results.goodput import is_good, parse_goodput

    conditions = config.get("goodput")
    if not conditions:
        return None
    spec = parse_goodput(list(conditions))
    from_schedule = config.get("latency_from") == "schedule"
    return functools.partial(is_good, spec=spec, from_schedule=from_schedule)


def compare_command(
    base: Annotated[
        Path,
        typer.Argument(
            help="The reference run: results JSONL (-o), summary JSON (--json) or sweep JSON.",
            show_default=False,
            metavar="BASE",
        ),
    ],
    new: Annotated[
        Path,
        typer.Argument(
            help="The run to judge: results JSONL (-o), summary JSON (--json) or sweep JSON.",
            show_default=False,
            metavar="NEW",
        ),
    ],
    max_regression: Annotated[
        list[str] | None,
        typer.Option(
            "--max-regression",
            metavar="PERCENT|METRIC.STAT=PERCENT",
            help="Exit 1 when NEW is worse than BASE by more than this: '10%' for every metric, "
            "'ttft.p95=15%' for one (repeatable). For error_rate it is in percentage points.",
            show_default=False,
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help="Write the comparison as Markdown. It is also appended to $GITHUB_STEP_SUMMARY "
            "when set.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no table.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 2 when BASE and NEW differ in a setting (model, API, endpoint, load, "
            "max tokens, prompt source, input length, streaming), instead of only warning.",
        ),
    ] = False,
    html: HtmlOption = None,
    init_baseline: Annotated[
        bool,
        typer.Option(
            "--init-baseline",
            help="A pipeline's first run: when BASE does not exist yet, save NEW as BASE, "
            "say so in one line and exit 0 (nothing to compare yet).",
        ),
    ] = False,
) -> None:
    """Compare two runs (or two sweeps, level by level): key metrics side by side, the
    change, regressions, and any setting in which the runs differ."""
    from ..outbound import terminal
    from ..report.publish import Outputs, publish
    from ..results.compare import parse_tolerances

    tolerances = parse_tolerances(max_regression or ())
    outputs = Outputs(markdown_path=markdown, html_path=html, quiet=quiet)
    outputs.check_dirs(inputs=[("BASE", base), ("NEW", new)])
    if not base.exists():
        if not init_baseline:
            raise ConfigError(
                f"cannot read {base}: no such file (a first run? --init-baseline saves NEW "
                "as the baseline)"
            )
        raise typer.Exit(_save_baseline(base, new, markdown))
    done = _compared(base, new, tolerances, strict=strict)
    if html is not None and done.single is None:
        raise ConfigError("compare --html draws two single runs; compare sweeps without it")
    publish(done.rendered, outputs)
    if quiet:  # otherwise the table's head already gives them, one `!!` line each
        for diff in done.diffs:
            shown = terminal(str(diff), 1000)
            sys.stderr.write(f"llmbench-async: warning: BASE and NEW are not alike: {shown}\n")
    if done.code == ExitCode.USAGE:
        error(f"--strict: BASE and NEW differ in {len(done.diffs)} setting(s); not compared")
    elif done.regressions:
        listed = "; ".join(prefix + _regression_text(row) for prefix, row in done.regressions)
        error(f"NEW is worse than BASE beyond tolerance: {listed}")
    raise typer.Exit(done.code)


def _save_baseline(base: Path, new: Path, markdown: Path | None) -> int:
    """`--init-baseline` with no BASE yet: NEW (checked to be a run) becomes BASE."""
    from ..report.publish import append_step_summary, write_text
    from ..results.compare import load

    load(new)  # a NEW that is no run of ours is the usual one-line error
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        base.write_bytes(new.read_bytes())
    except OSError as exc:
        raise ConfigError(f"--init-baseline: cannot write {base}: {exc.strerror or exc}") from None
    line = f"no baseline at {base} yet: saved this run ({new}) as the baseline"
    sys.stderr.write(f"llmbench-async: {line}\n")
    text = f"### llmbench-async compare: no baseline yet\n\n{line}.\n"
    if markdown is not None:
        write_text(markdown, text)
    append_step_summary(text)
    return ExitCode.OK


class _Compared(NamedTuple):
    """A comparison ready for publish(), the differing settings, the exit code and each
    regression (with its level's prefix in a sweep)."""

    rendered: ComparisonReport | SweepComparisonReport
    diffs: Sequence[SettingDiff]
    code: int
    regressions: list[tuple[str, Row]]
    single: Comparison | None = None  # two single runs (not sweeps): for the HTML page


def _compared(base: Path, new: Path, tolerances: Tolerances, *, strict: bool) -> _Compared:
    """Two runs, or two sweeps level by level; a sweep against a single run is an error."""
    from ..report.compare import ComparisonReport, SweepComparisonReport
    from ..results.compare import ComparedRun, SweepData, compare, compare_sweeps, load

    base_side, new_side = load(base), load(new)
    if isinstance(base_side, SweepData) and isinstance(new_side, SweepData):
        swept = compare_sweeps(base_side, new_side, tolerances)
        return _Compared(
            SweepComparisonReport(swept),
            swept.setting_diffs,
            swept.exit_code(strict=strict),
            [(f"{label}: ", row) for label, row in swept.regressions],
        )
    if isinstance(base_side, ComparedRun) and isinstance(new_side, ComparedRun):
        single = compare(base_side, new_side, tolerances)
        return _Compared(
            ComparisonReport(single),
            single.setting_diffs,
            single.exit_code(strict=strict),
            [("", row) for row in single.regressions],
            single,
        )
    sweep = base if isinstance(base_side, SweepData) else new
    raise ConfigError(
        f"{sweep} is a sweep summary and the other file a single run; "
        "compare a sweep with a sweep (level by level), or pick one level's results file"
    )


def _regression_text(row: Row) -> str:
    unit = " pt" if row.change_unit == "pt" else "%"
    if row.new is None:
        return f"{row.ref} has no data in NEW"
    change = "from 0" if row.change is None else f"{row.change:+.1f}{unit}"
    return f"{row.ref} {change} (limit {row.tolerance:g}{unit})"
