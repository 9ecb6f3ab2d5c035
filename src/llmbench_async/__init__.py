"""llmbench-async: a fast, honest load tester for OpenAI-compatible LLM endpoints.

The public Python API; everything else may change.
"""

from .benchmark import RunResult, TargetError, run, run_async
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
from .exitcodes import ExitCode
from .gate import Threshold, ThresholdError, Verdict, check, parse_threshold
from .mock_server import MockConfig, MockProcess
from .records import RequestRecord, read_results
from .stats import MetricStats, Summary, summarize

__all__ = [
    "Comparison",
    "ExitCode",
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
