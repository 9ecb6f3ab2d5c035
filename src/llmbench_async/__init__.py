"""llmbench-async: a fast, honest load tester for OpenAI-compatible LLM endpoints.

The public Python API; everything else may change.
"""

from .benchmark import RunResult, TargetError, run, run_async
from .compare import Comparison, compare, load_run, parse_tolerances
from .config import RetryPolicy, RunConfig, Timeouts, normalize_base_url
from .gate import Threshold, ThresholdError, Verdict, check, parse_threshold
from .mock import MockConfig, MockProcess
from .records import RequestRecord, read_results
from .stats import MetricStats, Summary, summarize

__all__ = [
    "Comparison",
    "MetricStats",
    "MockConfig",
    "MockProcess",
    "RequestRecord",
    "RetryPolicy",
    "RunConfig",
    "RunResult",
    "Summary",
    "TargetError",
    "Threshold",
    "ThresholdError",
    "Timeouts",
    "Verdict",
    "check",
    "compare",
    "load_run",
    "normalize_base_url",
    "parse_threshold",
    "parse_tolerances",
    "read_results",
    "run",
    "run_async",
    "summarize",
]
