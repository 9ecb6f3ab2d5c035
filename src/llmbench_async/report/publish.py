"""Where a finished run's report goes: `publish` writes the console, the JSON, Markdown,
HTML and JUnit files and the GitHub step summary, for `run`, `report` and sweeps alike; `exit_code`
turns the verdict into the exit code. It renders nothing itself (report/summary.py and
report/sweep.py do) and judges nothing (results/gate.py does)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from .. import outbound
from .._version import VERSION
from ..errors import (
    EXIT_FOR_SIGNAL,
    ConfigError,
    ExitCode,
    OutputError,
    error,
)
from ..redact import scrub
from ..results.facts import SavedRun, describe_target
from ..results.gate import Verdict
from ..results.steady import saved_convergence, steady_from_records
from .summary import RunInfo, threshold_tally
from .workloads import workload_settings

STDOUT = Path("-")  # `--json -`: write to stdout

if TYPE_CHECKING:
    from ..records import ResultsFile
    from ..session.run import RunResult


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

    def check_dirs(self, inputs: Iterable[tuple[str, Path | None]] = ()) -> None:
        """Fail before the run, not after it, when an output file cannot be created, or
        would overwrite another output or one of the command's `inputs` (flag, path)."""
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
        # one file per output, and none an input: it would overwrite it
        taken = {path.resolve(): flag for flag, path in inputs if path is not None}
        for flag, path in (
            ("--output", self.results_path),
            ("--json", self.json_path),
            ("--markdown", self.markdown_path),
            ("--junit", self.junit_path),
            ("--html", self.html_path),
        ):
            if path is not None and path != STDOUT:
                check_output_path(path, flag)
                same = taken.setdefault(path.resolve(), flag)
                if same != flag and not path.resolve().is_char_device():  # /dev/null twice
                    raise ConfigError(f"{same} and {flag} both name {path}; give each its own file")


def check_output_path(path: Path, flag: str) -> None:
    """A ConfigError (exit 2, before any request) unless `path` can be written: not a
    directory, its directory exists (it is not created: a typo should not make a tree),
    and the file can be opened for writing. The probe opens without truncating (append,
    non-blocking, so a FIFO with no reader fails rather than hangs); a file it had to
    create is removed again."""
    target = path.absolute()
    if target.is_dir():
        raise ConfigError(f"{flag}: {path} is a directory; give a file name")
    if not target.parent.is_dir():
        raise ConfigError(f"{flag}: directory {target.parent} does not exist")
    existed = target.exists()
    flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | (0 if existed else os.O_CREAT | os.O_EXCL)
    try:
        os.close(os.open(target, flags, 0o644))
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        target.unlink(missing_ok=True)


class Rendered(Protocol):
    """A finished run or sweep, ready to be written to every output."""

    def console(self, *, width: int, color: bool) -> str: ...

    def json(self) -> dict[str, Any]: ...

    def markdown(self) -> str: ...

    def junit(self) -> str: ...

    def html(self) -> str: ...


def publish(rendered: Rendered, outputs: Outputs) -> None:
    """The one writer of every output, for runs, sweeps and comparisons alike: the console
    report, the summary JSON, the HTML page, Markdown (and the GitHub step summary) and
    JUnit XML. A write that fails does not stop the others; the first failure is raised
    (an OutputError, exit 2) once every output has been tried."""
    secrets = outputs.secrets
    failed: list[OutputError] = []

    def attempt(path: Path | None, render: Callable[[], str]) -> None:
        if path is None:
            return
        try:
            write_text(path, scrub(render(), secrets))
        except OutputError as exc:
            failed.append(exc)

    if not outputs.quiet:
        console = sys.stderr if outputs.to_stdout else sys.stdout
        width = shutil.get_terminal_size((100, 24)).columns
        console.write(scrub(rendered.console(width=width, color=use_color(console)), secrets))
        console.flush()
    attempt(outputs.json_path, lambda: outbound.json_dumps(rendered.json()))
    attempt(outputs.html_path, rendered.html)
    markdown = scrub(rendered.markdown(), secrets)
    attempt(outputs.markdown_path, lambda: markdown)
    append_step_summary(markdown)
    attempt(outputs.junit_path, rendered.junit)
    for exc in failed[1:]:
        error(str(exc), secrets)  # the first is the exit's own error line
    if failed:
        raise failed[0]


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


def run_info(result: RunResult) -> RunInfo:
    """Build the report's RunInfo from a RunResult."""
    cfg = result.config
    public = cfg.to_public_dict()
    described = describe_target(cfg)
    return RunInfo(
        tool_version=VERSION,
        endpoint=result.endpoint_label,
        model=described["target"]["model"] or result.model,
        settings=_settings(public, described["load"]),
        started_at=result.started_at,
        config=public,
        client=result.client_stats,
        target_concurrency=described["in_flight_cap"],
        load=described["load"],
        api=cfg.api,
        interrupted_by=result.outcome.interrupted_by,
        cancelled=result.outcome.cancelled,
        not_sent=result.outcome.not_sent,
        problem=result.problem,
        timeseries=result.timeseries,
        slo_over_time=None if result.slo_over_time is None else result.slo_over_time.to_json(),
        steady_state=result.steady_state,
        convergence=result.convergence,
    )


def results_info(
    results: ResultsFile, path: Path, window_s: float = 1.0, ok: int | None = None
) -> RunInfo:
    """Build the report's RunInfo from a saved results file (header and footer lines); the
    time series is recomputed from its records. A run that lost its target (the footer's
    `lost`) says so as the run did, with `ok` the successes counted from the records."""
    from ..watch.timeseries import timeseries_from_records

    saved = SavedRun.from_header(results.header)
    cfg = saved.config
    footer = results.footer
    problem = None
    if footer is None:
        problem = (
            f"{path} has no footer line: the run did not end normally (crash or kill); "
            f"the report covers the {len(results.records)} requests it saved"
        )
    elif (lost := lost_reason(footer)) is not None:
        problem = f"target lost after {'?' if ok is None else ok} ok: {lost}"
    client = footer.get("client") if footer is not None else None
    not_sent = footer.get("not_sent") if footer is not None else None
    return RunInfo(
        tool_version=saved.tool_version,
        endpoint=saved.endpoint,
        model=saved.model,
        settings=_settings(cfg, saved.load),
        started_at=saved.started_at,
        config=cfg,
        client=client if isinstance(client, dict) else None,
        target_concurrency=saved.in_flight_cap,
        load=saved.load,
        api=saved.api,
        interrupted_by=footer.get("interrupted_by") if footer is not None else None,
        cancelled=int(footer.get("cancelled") or 0) if footer is not None else 0,
        not_sent=not_sent if type(not_sent) is int else None,
        problem=problem,
        timeseries=timeseries_from_records(results.records, window_s=window_s).to_json(
            server=footer.get("server_metrics") if footer is not None else None
        ),
        steady_state=steady_from_records(results.records, cfg),
        convergence=saved_convergence(footer.get("convergence") if footer is not None else None),
    )


def lost_reason(footer: Mapping[str, Any] | None) -> str | None:
    """Why `--lost-after` stopped a saved run (its footer's `lost`), None when it did not,
    or when a signal stopped it first."""
    if footer is None or footer.get("interrupted_by") is not None:
        return None
    lost = footer.get("lost")
    return lost if isinstance(lost, str) else None


def is_summary_json(path: Path) -> bool:
    from ..results.compare import read_summary

    try:
        doc = read_summary(path)
    except ConfigError:
        return False
    return isinstance(doc, dict) and "metrics" in doc and "requests" in doc


def _settings(cfg: Mapping[str, Any], load: str) -> str:
    """`closed loop, concurrency 5 · 10 requests · max_tokens 128 · stream · chat`: the load
    (from the report model) and the settings that apply (the same line for a run and for
    its results file read back by `report`)."""
    api = str(cfg.get("api", "chat"))
    if api == "embeddings":  # no output: max_tokens and streaming do not apply
        settings = f"{load} · {api}"
    else:
        mode = "stream" if cfg.get("stream", True) else "no-stream"
        # a trace replay asks each row's own output length
        limit = "per row" if cfg.get("trace") else cfg.get("max_tokens", "?")
        settings = f"{load} · max_tokens {limit} · {mode} · {api}"
    settings += workload_settings(cfg)
    if cfg.get("verify") is False:
        settings += " · TLS NOT VERIFIED (--insecure)"
    return settings


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
