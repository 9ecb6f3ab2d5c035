"""llmbench-async: a fast, honest load tester for OpenAI-compatible LLM endpoints.

The public Python API; everything else may change. Names load on first use (PEP 562), so
that the command line's `--help` does not pay for httpx, anyio or the mock server.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import VERSION as __version__

if TYPE_CHECKING:
    from .config import RetryPolicy, RunConfig, Timeouts
    from .errors import ConfigError, ExitCode, LlmbenchError, TargetError, ThresholdError
    from .mock import MockConfig, MockProcess
    from .records import RequestRecord, read_results
    from .results.compare import (
        Comparison,
        SweepComparison,
        compare,
        compare_sweeps,
        load,
        load_run,
        parse_tolerances,
    )
    from .results.gate import Threshold, Verdict, check, parse_threshold
    from .results.stats import MetricStats, Summary, summarize
    from .session.run import RunResult, run, run_async
    from .units import normalize_base_url

_WHERE = {
    "Comparison": "results.compare",
    "SweepComparison": "results.compare",
    "compare": "results.compare",
    "compare_sweeps": "results.compare",
    "load": "results.compare",
    "load_run": "results.compare",
    "parse_tolerances": "results.compare",
    "RetryPolicy": "config",
    "RunConfig": "config",
    "Timeouts": "config",
    "normalize_base_url": "units",
    "ConfigError": "errors",
    "ExitCode": "errors",
    "LlmbenchError": "errors",
    "TargetError": "errors",
    "ThresholdError": "errors",
    "Threshold": "results.gate",
    "Verdict": "results.gate",
    "check": "results.gate",
    "parse_threshold": "results.gate",
    "MockConfig": "mock",
    "MockProcess": "mock",
    "RequestRecord": "records",
    "read_results": "records",
    "RunResult": "session.run",
    "run": "session.run",
    "run_async": "session.run",
    "MetricStats": "results.stats",
    "Summary": "results.stats",
    "summarize": "results.stats",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'llmbench_async' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Comparison",
    "ConfigError",
    "ExitCode",
    "LlmbenchError",
    "MetricStats",
    "MockConfig",
    "MockProcess",
    "RequestRecord",
    "RetryPolicy",
    "RunConfig",
    "RunResult",
    "Summary",
    "SweepComparison",
    "TargetError",
    "Threshold",
    "ThresholdError",
    "Timeouts",
    "Verdict",
    "__version__",
    "check",
    "compare",
    "compare_sweeps",
    "load",
    "load_run",
    "normalize_base_url",
    "parse_threshold",
    "parse_tolerances",
    "read_results",
    "run",
    "run_async",
    "summarize",
]
