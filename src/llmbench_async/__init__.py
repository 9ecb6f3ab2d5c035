"""llmbench-async: a fast, honest load tester for OpenAI-compatible LLM endpoints.

The public Python API; everything else may change.
"""

from .benchmark import RunResult, TargetError, run, run_async
from .config import RetryPolicy, RunConfig, Timeouts, normalize_base_url
from .mock_server import MockConfig, MockProcess
from .records import RequestRecord, read_results
from .stats import MetricStats, Summary, summarize

__all__ = [
    "MetricStats",
    "MockConfig",
    "MockProcess",
    "RequestRecord",
    "RetryPolicy",
    "RunConfig",
    "RunResult",
    "Summary",
    "TargetError",
    "Timeouts",
    "normalize_base_url",
    "read_results",
    "run",
    "run_async",
    "summarize",
]
