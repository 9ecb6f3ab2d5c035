"""Where a finished run's report goes: `publish` writes the console, the JSON, Markdown,
HTML and JUnit files and the GitHub step summary, for `run`, `report` and sweeps alike; `exit_code`
turns the verdict into the exit code. It renders nothing itself (report.py and
report_sweep.py do) and judges nothing (gate.py does)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from ._version import VERSION
from .compare import endpoint_of
from .config import RunConfig
from .errors import (
    EXIT_FOR_SIGNAL,
    ConfigError,
    ExitCode,
    OutputError,
    ThresholdError,
    error,
)
from .gate import Threshold, Verdict, parse_thresholds
from .redact import scrub
from .report import RunInfo, threshold_tally
from .report_workloads import workload_settings

STDOUT = Path("-")  # `--json -`: write to stdout

if TYPE_CHECKING:
    from .records import ResultsFile
    from .session import RunResult


@dataclass(frozen=True, slots=True)
class Outputs:
    """Where a report goes besides the console, and whether the console gets it."""

    json_path: Path | None = None
    markdown_path: Path | None = None
    junit_path: Path | None = None
    quiet: bool = False
    results_path: Path | None = None  # `run -o`: written by the run itself
    html_path: Path | None = None  # --html: the self-contained HTML report
    secrets: tuple[str, ...] = ()  # scrubbed from every output (defence in depth)

    @property
    def to_stdout(self) -> bool:
        """Whether one report file goes to stdout (`--json -`): the console report then
        goes to stderr."""
        return STDOUT in (self.json_path, self.markdown_path, self.junit_path)

    def check_dirs(self) -> None:
        """Fail before the run, not after it, when an output file cannot be created."""
        dashes = [
            flag
            for flag, path in (
                ("--json", self.json_path),
                ("--markdown", self.markdown_path),
                ("--junit", self.junit_path),
            )
            if path == STDOUT
        ]
        if len(dashes) > 1:
            raise ConfigError(f"{' and '.join(dashes)} both ask for stdout ('-'); give one a file")
        if self.results_path == STDOUT:
            raise ConfigError("-o/--output needs a file name; '-' (stdout) is not supported")
        for flag, path in (
            ("--output", self.results_path),
            ("--json", self.json_path),
            ("--markdown", self.markdown_path),
            ("--junit", self.junit_path),
            ("--html", self.html_path),
        ):
            if path is not None and path != STDOUT and not path.absolute().parent.is_dir():
                raise ConfigError(f"{flag}: directory {path.absolute().parent} does not exist")


class Rendered(Protocol):
    """A finished run or sweep, ready to be written to every output."""

    def console(self, *, width: int, color: bool) -> str: ...

    def json(self) -> dict[str, Any]: ...

    def markdown(self) -> str: ...

    def junit(self) -> str: ...

    def html(self) -> str: ...


def publish(rendered: Rendered, outputs: Outputs) -> None:
    """The one writer of every output, for single runs and sweeps alike: the console
    report, the summary JSON, the HTML page, Markdown (and the GitHub step summary) and
    JUnit XML."""
    secrets = outputs.secrets
    if not outputs.quiet:
        console = sys.stderr if outputs.to_stdout else sys.stdout
        width = shutil.get_terminal_size((100, 24)).columns
        console.write(scrub(rendered.console(width=width, color=use_color(console)), secrets))
        console.flush()
    if outputs.json_path is not None:
        write_text(outputs.json_path, scrub(json.dumps(rendered.json(), indent=2), secrets))
    if outputs.html_path is not None:
        write_text(outputs.html_path, scrub(rendered.html(), secrets))
    markdown = scrub(rendered.markdown(), secrets)
    if outputs.markdown_path is not None:
        write_text(outputs.markdown_path, markdown)
    append_step_summary(markdown)
    if outputs.junit_path is not None:
        write_text(outputs.junit_path, scrub(rendered.junit(), secrets))


def exit_code(
    *,
    interrupted_by: str | None = None,
    problem: str | None = None,
    failure: str | None = None,
    secrets: tuple[str, ...] = (),
) -> int:
    """The exit code, in priority order: a signal, an unusable target, a failed verdict (the
    report with its thresholds table has been published either way)."""
    if interrupted_by is not None:
        return EXIT_FOR_SIGNAL[interrupted_by]
    if problem is not None:
        error(problem, secrets)
        return ExitCode.TARGET
    if failure is not None:
        error(failure, secrets)
        return ExitCode.THRESHOLD
    return ExitCode.OK


def threshold_failure(verdicts: Sequence[Verdict]) -> str | None:
    """One line naming the failed thresholds, or None when every one held."""
    failed = [v for v in verdicts if not v.passed]
    if not failed:
        return None
    details = "; ".join(
        f"{v.threshold} (observed {v.observed_text}, limit {v.threshold.limit_text})"
        for v in failed
    )
    return f"{threshold_tally(verdicts)}: {details}"


def parse_fail_if(texts: Sequence[str] | None) -> tuple[Threshold, ...]:
    try:
        return parse_thresholds(texts or ())
    except ThresholdError as exc:
        raise ConfigError(f"--fail-if {exc.expression!r}: {exc.reason}") from None


def run_info(result: RunResult) -> RunInfo:
    """Build the report's RunInfo from a RunResult."""
    cfg = result.config
    public = cfg.to_public_dict()
    return RunInfo(
        tool_version=VERSION,
        endpoint=result.endpoint_label,
        model=result.model,
        settings=_settings(public),
        started_at=result.started_at,
        config=public,
        client=result.client_stats,
        target_concurrency=cfg.concurrency,
        interrupted_by=result.outcome.interrupted_by,
        cancelled=result.outcome.cancelled,
        problem=result.problem,
        timeseries=result.timeseries,
    )


def results_info(results: ResultsFile, path: Path, window_s: float = 1.0) -> RunInfo:
    """Build the report's RunInfo from a saved results file (header and footer lines); the
    time series is recomputed from its records."""
    from .timeseries import timeseries_from_records

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
        timeseries=timeseries_from_records(results.records, window_s=window_s).to_json(
            server=footer.get("server_metrics") if footer is not None else None
        ),
    )


def is_summary_json(path: Path) -> bool:
    from .compare import read_summary

    try:
        doc = read_summary(path)
    except ConfigError:
        return False
    return isinstance(doc, dict) and "metrics" in doc and "requests" in doc


def _settings(cfg: Mapping[str, Any]) -> str:
    """`10 requests · concurrency 5 · max_tokens 128 · stream · chat` from a public config
    (the same line for a run and for its results file read back by `report`)."""
    mode = "stream" if cfg.get("stream", True) else "no-stream"
    settings = f"{_load_line(cfg)} · max_tokens {cfg.get('max_tokens', '?')} · {mode} · "
    settings += str(cfg.get("api", "chat"))
    settings += workload_settings(cfg)
    if cfg.get("verify") is False:
        settings += " · TLS NOT VERIFIED (--insecure)"
    return settings


_LOAD_FIELDS = (
    "n",
    "concurrency",
    "rate",
    "arrival",
    "burstiness",
    "seed",
    "max_concurrency",
    "duration_s",
    "warmup_requests",
    "warmup_s",
    "ramp_up_s",
)


_NOT_SIMPLE = ("rate", "duration_s", "warmup_requests", "warmup_s", "ramp_up_s")


def _load_line(cfg: Mapping[str, Any]) -> str:
    simple = f"{cfg.get('n', '?')} requests · concurrency {cfg.get('concurrency', '?')}"
    if all(not cfg.get(k) for k in _NOT_SIMPLE):
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
    """Write `text` to `path`, or to stdout when the path is `-`."""
    if path == STDOUT:
        sys.stdout.write(text.rstrip("\n") + "\n")
        sys.stdout.flush()
        return
    try:
        path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
