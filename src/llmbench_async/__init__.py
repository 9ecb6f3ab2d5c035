"""llmbench-async: a fast, honest load tester for OpenAI-compatible LLM endpoints.

The public Python API; everything else may change. Names load on first use (PEP 562), so
that the command line's `--help` does not pay for httpx, anyio or the mock server.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import VERSION as __version__

if TYPE_CHECKING:
    from .compare import (
        Comparison,
        SweepComparison,
        compare,
        compare_sweeps,
        load,
        load_run,
        parse_tolerances,
    )
    from .config import RetryPolicy, RunConfig, Timeouts, normalize_base_url
    from .errors import ConfigError, ExitCode, LlmbenchError, TargetError, ThresholdError
    from .gate import Threshold, Verdict, check, parse_threshold
    from .mock import MockConfig, MockProcess
    from .records import RequestRecord, read_results
    from .session import RunResult, run, run_async
    from .stats import MetricStats, Summary, summarize

_WHERE = {
    "Comparison": "compare",
    "SweepComparison": "compare",
    "compare": "compare",
    "compare_sweeps": "compare",
    "load": "compare",
    "load_run": "compare",
    "parse_tolerances": "compare",
    "RetryPolicy": "config",
    "RunConfig": "config",
    "Timeouts": "config",
    "normalize_base_url": "config",
    "ConfigError": "errors",
    "ExitCode": "errors",
    "LlmbenchError": "errors",
    "TargetError": "errors",
    "ThresholdError": "errors",
    "Threshold": "gate",
    "Verdict": "gate",
    "check": "gate",
    "parse_threshold": "gate",
    "MockConfig": "mock",
    "MockProcess": "mock",
    "RequestRecord": "records",
    "read_results": "records",
    "RunResult": "session",
    "run": "session",
    "run_async": "session",
    "MetricStats": "stats",
    "Summary": "stats",
    "summarize": "stats",
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
