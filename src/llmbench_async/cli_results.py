"""The `report` and `compare` sub-commands: saved runs re-rendered, judged and compared."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .config import ConfigError
from .publish import (
    EXIT_USAGE,
    FAIL_IF_HELP,
    Outputs,
    append_step_summary,
    error,
    is_summary_json,
    parse_fail_if,
    publish,
    results_info,
    threshold_exit,
    use_color,
    write_text,
)

if TYPE_CHECKING:
    from .compare import Row

# options that `run` and `report` share
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Write the summary JSON to this file.")
]
JunitOption = Annotated[
    Path | None,
    typer.Option(
        "--junit", help="Write JUnit XML: one testcase per --fail-if, plus 'no request failed'."
    ),
]
FailIfOption = Annotated[
    list[str] | None,
    typer.Option("--fail-if", help=FAIL_IF_HELP, show_default=False, metavar="EXPR"),
]

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
        ),
    ] = None,
    junit: JunitOption = None,
    fail_if: FailIfOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no report.")] = False,
) -> None:
    """Re-render the report of a saved run from its results file (no network)."""
    from .records import read_results
    from .stats import summarize

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
    latency_from = (saved.header.get("config") or {}).get("latency_from", "send")
    summary = summarize(
        saved.records, latency_from=latency_from if latency_from == "schedule" else "send"
    )
    verdicts = publish(summary, results_info(saved, results), thresholds, outputs)
    raise typer.Exit(threshold_exit(verdicts))


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
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 2 when BASE and NEW differ in a setting (model, API, endpoint, load, "
            "max tokens, prompt source, input length, streaming), instead of only warning.",
        ),
    ] = False,
) -> None:
    """Compare two runs (or two sweeps, level by level): key metrics side by side, the
    change, regressions, and any setting in which the runs differ."""
    from .compare import RunData, SweepData, compare, compare_sweeps, load, parse_tolerances
    from .report import comparison_markdown, comparison_report
    from .report_sweep import sweep_comparison_markdown, sweep_comparison_report

    tolerances = parse_tolerances(max_regression or ())
    Outputs(markdown_path=markdown).check_dirs()
    base_side, new_side = load(base), load(new)
    color = use_color(sys.stdout)
    if isinstance(base_side, SweepData) and isinstance(new_side, SweepData):
        swept = compare_sweeps(base_side, new_side, tolerances)
        diffs, code = swept.setting_diffs, swept.exit_code(strict=strict)
        text, markdown_text = (
            sweep_comparison_report(swept, color=color),
            (sweep_comparison_markdown(swept)),
        )
        bad = [(f"{label}: ", row) for label, row in swept.regressions]
    elif isinstance(base_side, RunData) and isinstance(new_side, RunData):
        single = compare(base_side, new_side, tolerances)
        diffs, code = single.setting_diffs, single.exit_code(strict=strict)
        text, markdown_text = comparison_report(single, color=color), comparison_markdown(single)
        bad = [("", row) for row in single.regressions]
    else:
        sweep = base if isinstance(base_side, SweepData) else new
        raise ConfigError(
            f"{sweep} is a sweep summary and the other file a single run; "
            "compare a sweep with a sweep (level by level), or pick one level's results file"
        )
    if not quiet:
        sys.stdout.write(text)
        sys.stdout.flush()
    if markdown is not None:
        write_text(markdown, markdown_text)
    append_step_summary(markdown_text)
    if quiet:  # otherwise the table's head already gives them, one `!!` line each
        for diff in diffs:
            sys.stderr.write(f"llmbench-async: warning: BASE and NEW are not alike: {diff}\n")
    if code == EXIT_USAGE:
        error(f"--strict: BASE and NEW differ in {len(diffs)} setting(s); not compared")
    elif bad:
        listed = "; ".join(prefix + _regression_text(row) for prefix, row in bad)
        error(f"NEW is worse than BASE beyond tolerance: {listed}")
    raise typer.Exit(code)


def _regression_text(row: Row) -> str:
    unit = " pt" if row.change_unit == "pt" else "%"
    if row.new is None:
        return f"{row.ref} has no data in NEW"
    change = "from 0" if row.change is None else f"{row.change:+.1f}{unit}"
    return f"{row.ref} {change} (limit {row.tolerance:g}{unit})"
