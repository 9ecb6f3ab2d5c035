"""Where a finished run's report goes: the console, the JSON, Markdown and JUnit files, the
GitHub step summary, and the exit code its thresholds call for. Shared by `run`, `report`
and the sweep; it renders nothing itself (report.py does) and judges nothing (gate.py does)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .config import ConfigError, RunConfig
from .report_workloads import workload_settings

if TYPE_CHECKING:
    from .benchmark import RunResult
    from .gate import Threshold, Verdict
    from .records import ResultsFile
    from .report import RunInfo
    from .stats import Summary

EXIT_OK = 0
EXIT_THRESHOLD = 1
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

FAIL_IF_HELP = (
    "Exit 1 when the run breaks this threshold (repeatable): METRIC.STAT OP VALUE[UNIT], e.g. "
    "'ttft.p95<800ms', 'e2e.p99<=5s', 'error_rate<1%', 'requests_per_s>=2'. Metrics ttft, "
    "e2e, itl, tpot, queue_delay, output_tokens_per_s; stats mean, min, max, stdev, pNN; "
    "run-level error_rate (%), requests_per_s, output_tokens_per_s (no stat)."
)


class Failure(Exception):
    """A one-line, user-facing failure with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where a report goes besides the console, and whether the console gets it."""

    json_path: Path | None = None
    markdown_path: Path | None = None
    junit_path: Path | None = None
    quiet: bool = False
    results_path: Path | None = None  # `run -o`: written by the run itself

    def check_dirs(self) -> None:
        """Fail before the run, not after it, when an output file cannot be created."""
        for flag, path in (
            ("--output", self.results_path),
            ("--json", self.json_path),
            ("--markdown", self.markdown_path),
            ("--junit", self.junit_path),
        ):
            if path is not None and not path.absolute().parent.is_dir():
                raise ConfigError(f"{flag}: directory {path.absolute().parent} does not exist")


def publish(
    summary: Summary, info: RunInfo, thresholds: Sequence[Threshold], outputs: Outputs
) -> tuple[Verdict, ...]:
    """Judge the thresholds; print the console report; write JSON, Markdown, JUnit and the
    GitHub step summary."""
    from .gate import judge
    from .report import console_report, junit_xml, markdown_report, summary_json

    verdicts = judge(summary, thresholds)
    if not outputs.quiet:
        width = shutil.get_terminal_size((100, 24)).columns
        text = console_report(
            summary, info, width=width, verdicts=verdicts, color=use_color(sys.stdout)
        )
        sys.stdout.write(text)
        sys.stdout.flush()
    if outputs.json_path is not None:
        document = summary_json(summary, info, verdicts)
        write_text(outputs.json_path, json.dumps(document, indent=2))
    markdown = markdown_report(summary, info, verdicts)
    if outputs.markdown_path is not None:
        write_text(outputs.markdown_path, markdown)
    append_step_summary(markdown)
    if outputs.junit_path is not None:
        write_text(outputs.junit_path, junit_xml(summary, info, verdicts))
    return verdicts


def threshold_exit(verdicts: Sequence[Verdict]) -> int:
    """Exit 1 with one line naming the failed thresholds, else 0."""
    from .report import threshold_tally

    failed = [v for v in verdicts if not v.passed]
    if not failed:
        return EXIT_OK
    details = "; ".join(
        f"{v.threshold} (observed {v.observed_text}, limit {v.threshold.limit_text})"
        for v in failed
    )
    error(f"{threshold_tally(verdicts)}: {details}")
    return EXIT_THRESHOLD


def parse_fail_if(texts: Sequence[str] | None) -> tuple[Threshold, ...]:
    from .gate import ThresholdError, parse_thresholds

    try:
        return parse_thresholds(texts or ())
    except ThresholdError as exc:
        raise ConfigError(f"--fail-if {exc.expression!r}: {exc.reason}") from None


def run_info(result: RunResult) -> RunInfo:
    """Build the report's RunInfo from a RunResult."""
    from .benchmark import tool_version
    from .report import RunInfo

    cfg = result.config
    public = cfg.to_public_dict()
    return RunInfo(
        tool_version=tool_version(),
        endpoint=cfg.endpoint,
        model=result.model,
        settings=_settings(public),
        started_at=result.started_at,
        config=public,
        client=result.client_stats,
        target_concurrency=cfg.concurrency,
        interrupted_by=result.outcome.interrupted_by,
        cancelled=result.outcome.cancelled,
        problem=result.problem,
    )


def results_info(results: ResultsFile, path: Path) -> RunInfo:
    """Build the report's RunInfo from a saved results file (header and footer lines)."""
    from .compare import endpoint_of
    from .report import RunInfo

    header = results.header
    cfg: Mapping[str, Any] = header.get("config") or {}
    footer = results.footer
    problem = None
    if footer is None:
        problem = (
            f"{path} has no footer line: the run did not end normally (crash or kill); "
            f"the report covers the {len(results.records)} requests it saved"
        )
    concurrency = cfg.get("concurrency")
    client = footer.get("client") if footer is not None else None
    return RunInfo(
        tool_version=str(header.get("version") or "?"),
        endpoint=endpoint_of(cfg),
        model=str(cfg.get("model") or "?"),
        settings=_settings(cfg),
        started_at=str(header.get("started_at") or ""),
        config=cfg,
        client=client if isinstance(client, dict) else None,
        target_concurrency=concurrency if isinstance(concurrency, int) else None,
        interrupted_by=footer.get("interrupted_by") if footer is not None else None,
        cancelled=int(footer.get("cancelled") or 0) if footer is not None else 0,
        problem=problem,
    )


def is_summary_json(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "metrics" in doc and "requests" in doc


def _settings(cfg: Mapping[str, Any]) -> str:
    """`10 requests · concurrency 5 · max_tokens 128 · stream · chat` from a public config
    (the same line for a run and for its results file read back by `report`)."""
    mode = "stream" if cfg.get("stream", True) else "no-stream"
    settings = f"{_load_line(cfg)} · max_tokens {cfg.get('max_tokens', '?')} · {mode} · "
    settings += str(cfg.get("api", "chat"))
    settings += workload_settings(cfg)  # workloads branch
    if cfg.get("verify") is False:
        settings += " · TLS NOT VERIFIED (--insecure)"
    return settings


_LOAD_FIELDS = (
    "n",
    "concurrency",
    "rate",
    "arrival",
    "burstiness",  # workloads branch
    "seed",
    "max_concurrency",
    "duration_s",
    "warmup_requests",
    "warmup_s",
)


def _load_line(cfg: Mapping[str, Any]) -> str:
    simple = f"{cfg.get('n', '?')} requests · concurrency {cfg.get('concurrency', '?')}"
    if all(not cfg.get(k) for k in ("rate", "duration_s", "warmup_requests", "warmup_s")):
        return simple
    try:  # open loop, duration or warm-up: RunConfig says it best
        load = RunConfig(**{k: cfg[k] for k in _LOAD_FIELDS if k in cfg})
        return load.load_description()
    except (ConfigError, TypeError, ValueError):
        return simple


def is_terminal(stream: TextIO) -> bool:
    """A terminal that understands cursor movement (not a pipe, a file or TERM=dumb)."""
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def use_color(stream: TextIO) -> bool:
    """ANSI colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


def append_step_summary(markdown: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY (GitHub Actions' job summary) when it is set."""
    target = os.environ.get("GITHUB_STEP_SUMMARY", "").strip()
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    except OSError as exc:
        sys.stderr.write(
            f"llmbench-async: warning: cannot append to $GITHUB_STEP_SUMMARY ({target}): "
            f"{exc.strerror or exc}\n"
        )


def write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc.strerror or exc}", EXIT_USAGE) from None


def error(message: str) -> None:
    sys.stderr.write(f"llmbench-async: error: {message}\n")
    sys.stderr.flush()
