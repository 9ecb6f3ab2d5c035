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

from ..config import ObserveOptions, RunConfig
from ..flags import (
    Flags,
    check_mock_flags,
    flags_to_config,
    flags_to_observe,
    is_sweep,
    parse_min_achieved,
    sweep_values,
)
from ..gate import Threshold, judge
from ..publish import (
    Outputs,
    exit_code,
    is_terminal,
    parse_fail_if,
    publish,
    run_info,
    threshold_failure,
)
from ..report import RunInfo, RunReport
from ..report_sweep import SweepReport
from ..session import RunResult, run, run_sweep
from ..sweep import Capacity, LevelResult, capacity, is_judged, sweep_configs


def run_flags(flags: Flags) -> int:
    """The whole path of one `run`: returns the exit code."""
    check_mock_flags(flags)
    thresholds = parse_fail_if(flags.fail_if)
    min_achieved = parse_min_achieved(flags.min_achieved)
    outputs = Outputs(
        json_path=flags.json_path,
        markdown_path=flags.markdown,
        junit_path=flags.junit,
        quiet=flags.quiet,
        html_path=flags.html,
    )
    replace(outputs, results_path=flags.output).check_dirs()
    observe = flags_to_observe(flags)
    with ExitStack() as stack:
        if flags.mock:
            from ..mock import MockConfig, MockProcess  # only --mock loads the mock

            server = stack.enter_context(MockProcess(MockConfig()))
            flags = replace(flags, base_url=server.base_url)
        config = flags_to_config(flags, os.environ)
        outputs = replace(outputs, secrets=config.secrets)
        progress = not outputs.quiet and is_terminal(sys.stderr) and is_terminal(sys.stdout)
        if is_sweep(flags):
            return _sweep(flags, config, thresholds, outputs, progress, min_achieved, observe)
        return _single(config, thresholds, outputs, progress, observe)


def _single(
    config: RunConfig,
    thresholds: Sequence[Threshold],
    outputs: Outputs,
    progress: bool,
    observe: ObserveOptions,
) -> int:
    result = run(
        config, progress=progress, handle_signals=True, observe=observe, keep_records=False
    )
    verdicts = judge(result.summary, thresholds)
    publish(RunReport(result.summary, run_info(result), verdicts), outputs)
    return exit_code(
        interrupted_by=result.outcome.interrupted_by,
        problem=result.problem,
        failure=threshold_failure(verdicts),
        secrets=config.secrets,
    )


def _sweep(
    flags: Flags,
    config: RunConfig,
    thresholds: Sequence[Threshold],
    outputs: Outputs,
    progress: bool,
    min_achieved: float,
    observe: ObserveOptions,
) -> int:
    concurrency, rates = sweep_values(flags)
    results: list[LevelResult] = []
    infos: list[RunInfo] = []
    levels = sweep_configs(config, concurrency=concurrency, rate=rates)
    judged = is_judged(levels, thresholds)

    def on_level(done: LevelResult, result: RunResult) -> None:
        results.append(done)
        infos.append(run_info(result))
        if not outputs.quiet:
            sys.stderr.write(_level_line(done, judged=judged))

    run_sweep(
        levels,
        thresholds,
        progress=progress,
        stop_on_fail=flags.stop_on_fail,
        min_achieved=min_achieved,
        on_level=on_level,
        observe=observe,
    )
    cap = capacity(results) if judged else None
    publish(SweepReport(results, cap, infos), outputs)
    every_level_failed = all(r.problem is not None for r in results)
    return exit_code(
        interrupted_by=results[-1].interrupted_by,
        problem=(results[0].problem or "every level failed") if every_level_failed else None,
        failure=_no_capacity(cap),
        secrets=config.secrets,
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
