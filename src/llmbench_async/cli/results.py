"""The `report` and `compare` sub-commands: saved runs re-rendered, judged and compared.

Each command imports what it runs in its body, so that its `--help` stays fast."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import EXIT_OK, EXIT_THRESHOLD, ConfigError, error
from .options import OUTPUTS, FailIfOption, JsonOption, JunitOption

if TYPE_CHECKING:
    from ..compare import Row
    from ..records import RequestRecord

REPORT_EPILOG = "Exit codes: 0 ok, 1 a --fail-if threshold failed, 2 bad usage or unreadable file."
COMPARE_EPILOG = (
    "Exit codes: 0 no regression beyond tolerance, 1 NEW is worse beyond "
    "--max-regression, 2 bad usage or unreadable files."
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
) -> None:
    """Re-render the report of a saved run from its results file (no network)."""
    from ..gate import judge
    from ..publish import (
        Outputs,
        exit_code,
        is_summary_json,
        parse_fail_if,
        publish,
        results_info,
        threshold_failure,
    )
    from ..records import read_results
    from ..report import RunReport
    from ..stats import summarize

    thresholds = parse_fail_if(fail_if)
    outputs = Outputs(json_path=json_path, markdown_path=markdown, junit_path=junit, quiet=quiet)
    outputs.check_dirs()
    try:
        saved = read_results(results)
    except OSError as exc:
        raise ConfigError(f"cannot read {results}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{results} is not a results file (not text)") from None
    if not saved.header:
        what = "a summary JSON (--json)" if is_summary_json(results) else "not a results file"
        raise ConfigError(
            f"{results} is {what}; `report` needs the per-request JSONL written by `run -o`"
        )
    saved_config = saved.header.get("config") or {}
    latency_from = saved_config.get("latency_from", "send")
    summary = summarize(
        saved.records,
        latency_from=latency_from if latency_from == "schedule" else "send",
        good=saved_goodput(saved_config),  # workloads branch: the run's --goodput, if any
    )
    verdicts = judge(summary, thresholds)
    publish(RunReport(summary, results_info(saved, results), verdicts), outputs)
    raise typer.Exit(exit_code(failure=threshold_failure(verdicts)))


def saved_goodput(config: Mapping[str, Any]) -> Callable[[RequestRecord], bool] | None:
    """Workloads branch: the goodput predicate of a saved run's --goodput, if it had one."""
    from ..goodput import is_good, parse_goodput

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
            help="The reference run: results JSONL (-o) or summary JSON (--json).",
            show_default=False,
            metavar="BASE",
        ),
    ],
    new: Annotated[
        Path,
        typer.Argument(
            help="The run to judge: results JSONL (-o) or summary JSON (--json).",
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
) -> None:
    """Compare two runs: key metrics side by side, the change, and regressions."""
    from ..compare import compare, load_run, parse_tolerances
    from ..publish import Outputs, append_step_summary, use_color, write_text
    from ..report import comparison_markdown, comparison_report

    tolerances = parse_tolerances(max_regression or ())
    Outputs(markdown_path=markdown).check_dirs()
    comparison = compare(load_run(base), load_run(new), tolerances)
    if not quiet:
        sys.stdout.write(comparison_report(comparison, color=use_color(sys.stdout)))
        sys.stdout.flush()
    text = comparison_markdown(comparison)
    if markdown is not None:
        write_text(markdown, text)
    append_step_summary(text)
    bad = comparison.regressions
    if bad:
        listed = "; ".join(_regression_text(row) for row in bad)
        error(f"NEW is worse than BASE beyond tolerance: {listed}")
        raise typer.Exit(EXIT_THRESHOLD)
    raise typer.Exit(EXIT_OK)


def _regression_text(row: Row) -> str:
    unit = " pt" if row.change_unit == "pt" else "%"
    if row.new is None:
        return f"{row.ref} has no data in NEW"
    change = "from 0" if row.change is None else f"{row.change:+.1f}{unit}"
    return f"{row.ref} {change} (limit {row.tolerance:g}{unit})"
