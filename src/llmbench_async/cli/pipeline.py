"""The path of one `run`: flags → `RunConfig` → session or sweep → `publish` → exit code.

cli/run.py imports this module only when a run starts: it brings the session, and with it
httpx, anyio and tqdm.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from ..config import ObserveOptions, RunConfig
from ..errors import ConfigError, ExitCode, LlmbenchError, OutputError, error
from ..metrics import CLIENT_ERROR_PREFIX
from ..report.publish import (
    STDOUT,
    Outputs,
    exit_code,
    is_terminal,
    publish,
    run_info,
    threshold_failure,
)
from ..report.summary import RunInfo, RunReport
from ..report.sweep import SweepReport
from ..results.calibration import Replay
from ..results.facts import MOCK_ENDPOINT
from ..results.gate import Threshold, for_models, judge
from ..results.stats import Summary
from ..results.sweep import Capacity, LevelResult, capacity, is_judged, sweep_configs
from ..session.calibrate import after_run, calibrate, usable_cpus
from ..session.run import RunResult, run, run_sweep
from ..watch.feed import LiveFeed, serving
from .flags import (
    Flags,
    check_mock_flags,
    flags_to_config,
    flags_to_observe,
    is_sweep,
    model_names,
    sweep_values,
)
from .parse import is_loopback, parse_fail_if, parse_min_achieved

# where `calibrate` points its config until the mock's port is known (never contacted)
_MOCK_PLACEHOLDER = "http://127.0.0.1:9/v1"


def run_flags(flags: Flags) -> int:
    """The whole path of one `run`: returns the exit code."""
    check_mock_flags(flags)
    thresholds = for_models(parse_fail_if(flags.fail_if), model_names(flags.model))
    _check_calibration(flags, thresholds)
    min_achieved = parse_min_achieved(flags.min_achieved)
    outputs = _outputs(flags)
    inputs = [
        ("--dataset", flags.dataset),
        ("--prompt-file", flags.prompt_file),
        ("--api-key-file", flags.api_key_file),
        ("--ca-bundle", flags.ca_bundle),
    ]
    replace(outputs, results_path=flags.output).check_dirs(inputs)
    observe = flags_to_observe(flags)
    with ExitStack() as stack:
        if flags.mock:
            from ..mock import MockConfig, MockProcess  # only --mock loads the mock

            # several --model names: the mock serves each of them
            several = model_names(flags.model)
            mock = MockConfig(models=several) if len(several) > 1 else MockConfig()
            server = stack.enter_context(MockProcess(mock))
            flags = replace(flags, base_url=server.base_url)
        config = flags_to_config(flags, os.environ)
        if flags.mock:  # the mock's random port is not a setting: reports name it `mock`
            config = replace(config, target_name=MOCK_ENDPOINT)
        outputs = replace(outputs, secrets=config.secrets)
        progress = not outputs.quiet and is_terminal(sys.stderr) and is_terminal(sys.stdout)
        # the live feed's port is taken before any request: one in use is a usage error
        served = stack.enter_context(serving(observe, announce=not outputs.quiet))
        feed = None if served is None else served.feed
        if is_sweep(flags):
            code = _sweep(flags, config, thresholds, outputs, progress, min_achieved, observe, feed)
        else:
            code = _single(config, thresholds, outputs, progress, observe, feed)
        # the report is out: a last scrape may read the final values (not after a signal:
        # the user asked to stop)
        if served is not None and code not in (ExitCode.SIGINT, ExitCode.SIGTERM):
            served.linger(observe.prometheus_linger_s)
        return code


def _single(
    config: RunConfig,
    thresholds: Sequence[Threshold],
    outputs: Outputs,
    progress: bool,
    observe: ObserveOptions,
    feed: LiveFeed | None,
) -> int:
    result = run(
        config,
        progress=progress,
        handle_signals=True,
        observe=observe,
        keep_records=False,
        feed=feed,
        slo=thresholds,
    )
    summary, interrupted_by = result.summary, result.outcome.interrupted_by
    calibration_failure: LlmbenchError | None = None
    if config.calibrate and interrupted_by is None and not _unusable(result):
        try:
            summary, interrupted_by = _calibrated(result, outputs.quiet)
        except LlmbenchError as exc:  # the mock did not start: the run is still reported
            calibration_failure = exc
    verdicts = judge(summary, thresholds)
    if _unusable(result):
        # unusable from the start (refused, DNS, TLS, 401/403, 404): the error line is the
        # whole console output; files asked for are still written
        outputs = _files_only(outputs)
    written = _published(RunReport(summary, run_info(result), verdicts), outputs)
    code = exit_code(
        interrupted_by=interrupted_by,
        problem=result.problem,
        failure=threshold_failure(verdicts),
        secrets=config.secrets,
    )
    if calibration_failure is not None and code in (ExitCode.OK, ExitCode.THRESHOLD):
        error(f"--calibrate: {calibration_failure}", config.secrets)
        code = calibration_failure.exit_code
    return _with_output_failure(code, result.output_failure or written, config.secrets)


def _outputs(flags: Flags) -> Outputs:
    return Outputs(
        json_path=flags.json_path,
        markdown_path=flags.markdown,
        junit_path=flags.junit,
        quiet=flags.quiet,
        html_path=flags.html,
    )


def _check_calibration(flags: Flags, thresholds: Sequence[Threshold]) -> None:
    """A client_error threshold needs a calibration; a calibration takes one load level."""
    wants = [t for t in thresholds if t.ref.metric.startswith(CLIENT_ERROR_PREFIX + ".")]
    if wants and not flags.calibrate:
        raise ConfigError(
            f"--fail-if {str(wants[0])!r}: {CLIENT_ERROR_PREFIX} is measured by a calibration; "
            "add --calibrate (or use `llmbench-async calibrate`)"
        )
    if flags.calibrate and is_sweep(flags):
        raise ConfigError(
            "--calibrate replays one load level, not a sweep; calibrate each level apart"
        )


def _calibrated(result: RunResult, quiet: bool) -> tuple[Summary, str | None]:
    """--calibrate after the run: its summary with the client's error, and the signal that
    interrupted the calibration, if one did."""
    target = result.config.endpoint_url or result.config.base_url
    cpus = max(1, usable_cpus() - (1 if is_loopback(target) else 0))
    interrupted_by: str | None
    try:
        calibration = after_run(result, quiet=quiet, cpus=cpus)
    except KeyboardInterrupt:  # before the calibration's load began (its mock starting)
        calibration, interrupted_by = None, "SIGINT"
    else:
        interrupted_by = None if calibration is None else calibration.result.outcome.interrupted_by
    if calibration is None and interrupted_by is None:
        sys.stderr.write(
            "llmbench-async: warning: --calibrate: no successful request to take the "
            "target's shape from; not calibrated\n"
        )
        return result.summary, None
    if interrupted_by is not None:
        sys.stderr.write(
            f"llmbench-async: warning: --calibrate: interrupted by {interrupted_by}; "
            "the run is reported without its calibration\n"
        )
    measured = None if calibration is None else calibration.client_error
    return replace(result.summary, client_error=measured), interrupted_by


def calibrate_flags(flags: Flags, replay: Replay) -> int:
    """The whole path of `calibrate`: the load against the mock, its report with the
    client's error, the gate; returns the exit code."""
    if is_sweep(flags):
        raise ConfigError("calibrate takes one load level (one -c or --rate value), not a sweep")
    thresholds = parse_fail_if(flags.fail_if)
    outputs = _outputs(flags)
    replace(outputs, results_path=flags.output).check_dirs()
    config = flags_to_config(replace(flags, base_url=_MOCK_PLACEHOLDER), {})
    progress = not outputs.quiet and is_terminal(sys.stderr) and is_terminal(sys.stdout)
    calibration = calibrate(config, replay, progress=progress)
    result = calibration.result
    summary = replace(result.summary, client_error=calibration.client_error)
    verdicts = judge(summary, thresholds)
    written = _published(RunReport(summary, run_info(result), verdicts), outputs)
    code = exit_code(
        interrupted_by=result.outcome.interrupted_by,
        problem=result.problem,
        failure=threshold_failure(verdicts),
    )
    return _with_output_failure(code, result.output_failure or written, ())


def _sweep(
    flags: Flags,
    config: RunConfig,
    thresholds: Sequence[Threshold],
    outputs: Outputs,
    progress: bool,
    min_achieved: float,
    observe: ObserveOptions,
    feed: LiveFeed | None,
) -> int:
    concurrency, rates = sweep_values(flags)
    results: list[LevelResult] = []
    infos: list[RunInfo] = []
    output_failures: list[str | None] = []
    levels = sweep_configs(config, concurrency=concurrency, rate=rates)
    judged = is_judged(levels, thresholds)

    lost: list[str] = []  # the line of a level that lost (or never reached) the target

    def on_level(done: LevelResult, result: RunResult) -> None:
        unusable = _unusable(result)
        if result.problem is not None and (result.outcome.lost is not None or unusable):
            lost.append(result.problem)  # the sweep ends here
        first = not results
        results.append(done)
        infos.append(run_info(result))
        output_failures.append(result.output_failure)
        if not outputs.quiet and not (unusable and first):
            sys.stderr.write(_level_line(done, judged=judged))

    run_sweep(
        levels,
        thresholds,
        progress=progress,
        stop_on_fail=flags.stop_on_fail,
        min_achieved=min_achieved,
        on_level=on_level,
        observe=observe,
        feed=feed,
    )
    cap = capacity(results) if judged else None
    if _unusable_first(results):
        outputs = _files_only(outputs)  # the error line is the whole console output
    written = _published(SweepReport(results, cap, infos), outputs)
    every_level_failed = all(r.problem is not None for r in results)
    code = exit_code(
        interrupted_by=results[-1].interrupted_by,
        problem=lost[0]
        if lost
        else (results[0].problem or "every level failed")
        if every_level_failed
        else None,
        failure=_no_capacity(cap),
        secrets=config.secrets,
    )
    failure = next((f for f in output_failures if f), None) or written
    return _with_output_failure(code, failure, config.secrets)


def _published(rendered: RunReport | SweepReport, outputs: Outputs) -> str | None:
    """Publish every output; the line saying which could not be written, else None."""
    try:
        publish(rendered, outputs)
    except OutputError as exc:
        return str(exc)
    return None


def _with_output_failure(code: int, failure: str | None, secrets: tuple[str, ...]) -> int:
    """An output that could not be written (every other one has been): its one line, and
    exit 2 in place of 0 or 1 (a signal's or an unusable target's code stands)."""
    if failure is None:
        return code
    error(failure, secrets)
    return int(ExitCode.USAGE) if code in (ExitCode.OK, ExitCode.THRESHOLD) else code


def _unusable(result: RunResult) -> bool:
    """Whether the run stopped on its first failures, before anything succeeded (refused,
    DNS, connect timeout, TLS, 401/403, 404)."""
    return result.outcome.fatal is not None and not result.summary.ok


def _unusable_first(results: list[LevelResult]) -> bool:
    """A sweep whose only level stopped on a target unusable from the start."""
    return len(results) == 1 and results[0].problem is not None and results[0].summary.ok == 0


def _files_only(outputs: Outputs) -> Outputs:
    """`outputs` without the console report and without any report to stdout (`-`)."""

    def kept(path: Path | None) -> Path | None:
        return None if path == STDOUT else path

    return replace(
        outputs,
        quiet=True,
        json_path=kept(outputs.json_path),
        markdown_path=kept(outputs.markdown_path),
        junit_path=kept(outputs.junit_path),
    )


def _no_capacity(cap: Capacity | None) -> str | None:
    """The error line when no level met the SLO, naming why the lowest one failed."""
    if cap is None or cap.value is not None:
        return None
    reasons = cap.first_failing.failure_reasons() if cap.first_failing is not None else []
    return f"no level of the sweep meets the SLO: {'; '.join(reasons) or 'every level failed'}"


def _level_line(done: LevelResult, *, judged: bool) -> str:
    s = done.summary
    ttft = s.percentile("ttft_ms", 99)
    verdict = (" · SLO " + ("pass" if done.passed else "FAIL")) if judged else ""
    verdict += " · SATURATED" if done.saturated else ""
    return (
        f"{done.level.label}: {s.ok} ok, {s.failed} failed, {done.load.text()}, "
        f"TTFT p99 {'–' if ttft is None else f'{ttft:.1f} ms'}{verdict}\n"
    )
