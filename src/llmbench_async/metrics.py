"""The metric table: every metric defined once. Its summary key, its name (and aliases) in
the threshold grammar, its console label, unit and kind, and which way is better.

stats (which keys to collect), report (rows and labels), gate (the `--fail-if` grammar,
units and directions), compare (directions, units) and the sweep, Markdown and JUnit
output derive from this table. Adding a metric is one entry here plus its computation in
stats.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Kind = Literal["latency", "rate", "ratio", "count"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric. Per-request metrics have a distribution (thresholds need a STAT, e.g.
    `ttft.p95`); run-level metrics are one number per run (`error_rate`)."""

    key: str  # Summary.metrics / summary-JSON key, e.g. "ttft_ms"
    name: str  # threshold grammar name, e.g. "ttft"
    label: str  # console label, e.g. "TTFT (ms)"
    unit: str  # ms, tok/s, req/s, %
    kind: Kind
    higher_is_better: bool
    per_request: bool  # True: a distribution over requests; False: one value per run
    aliases: tuple[str, ...] = ()
    description: str = ""


def _latency(key: str, name: str, label: str, aliases: tuple[str, ...], text: str) -> Metric:
    return Metric(key, name, f"{label} (ms)", "ms", "latency", False, True, aliases, text)


PER_REQUEST: tuple[Metric, ...] = (
    _latency(
        "ttft_ms",
        "ttft",
        "TTFT",
        ("time_to_first_token",),
        "time to first token: start → first output token (content or reasoning)",
    ),
    _latency(
        "ttfc_ms",
        "ttfc",
        "TTFC",
        ("time_to_first_content",),
        "time to first content token (reasoning models: after the reasoning)",
    ),
    _latency("e2e_ms", "e2e", "E2E", ("e2e_latency",), "end to end: start → last byte"),
    _latency("itl_ms", "itl", "ITL", ("inter_token_latency",), "gap between two output tokens"),
    _latency(
        "tpot_ms",
        "tpot",
        "TPOT",
        ("time_per_output_token",),
        "(E2E − TTFT) / (output tokens − 1), per request",
    ),
    Metric(
        "output_tokens_per_s",
        "output_tokens_per_s",
        "Out tok/s per req",
        "tok/s",
        "rate",
        True,
        True,
        ("tokens_per_s",),
        "one request's output tokens / its E2E",
    ),
    _latency(
        "queue_delay_ms",
        "queue_delay",
        "Queue delay",
        ("queue",),
        "due → sent: time a request waited for a free slot (open loop)",
    ),
    _latency(
        "connect_ms",
        "connect",
        "Connect",
        ("connect_time",),
        "new connections only: asking the pool → connection ready (TCP + TLS)",
    ),
)

RUN_LEVEL: tuple[Metric, ...] = (
    Metric(
        "error_rate",
        "error_rate",
        "Error rate (%)",
        "%",
        "ratio",
        False,
        False,
        ("errors",),
        "requests that failed after all their retries / all measured requests",
    ),
    Metric(
        "incomplete_rate",
        "incomplete_rate",
        "Incomplete (%)",
        "%",
        "ratio",
        False,
        False,
        (),
        "requests whose answer ended without a finish reason / all measured requests",
    ),
    Metric(
        "wrong_model_rate",
        "wrong_model_rate",
        "Wrong model (%)",
        "%",
        "ratio",
        False,
        False,
        (),
        "requests answered by another model than asked / all measured requests",
    ),
    Metric(
        "retry_rate",
        "retry_rate",
        "Retry rate (%)",
        "%",
        "ratio",
        False,
        False,
        (),
        "retried attempts / all measured requests (can pass 100 %)",
    ),
    Metric(
        "requests_per_s",
        "requests_per_s",
        "Requests/s",
        "req/s",
        "rate",
        True,
        False,
        ("rps", "throughput"),
        "finished requests / run duration",
    ),
    Metric(
        "output_tokens_per_s",
        "output_tokens_per_s",
        "Output tok/s",
        "tok/s",
        "rate",
        True,
        False,
        ("tokens_per_s",),
        "all output tokens / run duration",
    ),
    # goodput (--goodput) and embeddings throughput
    Metric(
        "goodput",
        "goodput",
        "Goodput (req/s)",
        "req/s",
        "rate",
        True,
        False,
        ("good_requests_per_s",),
        "requests meeting every --goodput condition / run duration",
    ),
    Metric(
        "good_fraction",
        "good_fraction",
        "Good (%)",
        "%",
        "ratio",
        True,
        False,
        (),
        "requests meeting every --goodput condition / all measured requests",
    ),
    Metric(
        "inputs_per_s",
        "inputs_per_s",
        "Inputs/s",
        "inputs/s",
        "rate",
        True,
        False,
        (),
        "embeddings: inputs embedded by successful requests / run duration",
    ),
    Metric(
        "input_tokens_per_s",
        "input_tokens_per_s",
        "Input tok/s",
        "tok/s",
        "rate",
        True,
        False,
        (),
        "input tokens of successful requests / run duration",
    ),
)

METRICS: tuple[Metric, ...] = PER_REQUEST + RUN_LEVEL
# a count in the gate grammar only (`retries<10`, `retries.http_429<1`): the summary JSON
# has it as `retries` and `retry_causes`; the rate is the table's `retry_rate`
RETRIES = Metric(
    "retries",
    "retries",
    "Retries",
    "",
    "count",
    False,
    False,
    (),
    "retried attempts; retries.CAUSE counts one cause (see RETRY_CAUSES)",
)
SUMMARY_KEYS: tuple[str, ...] = tuple(m.key for m in PER_REQUEST)  # in report order
# the grammar's names as listed in its messages: the times first
NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [m.name for m in METRICS if m.kind == "latency"] + [m.name for m in METRICS] + ["retries"]
    )
)
_CANONICAL: dict[str, str] = {
    **{alias: m.name for m in METRICS for alias in m.aliases},
    **{m.name: m.name for m in METRICS},
}

# why an attempt was retried: the summary's `retry_causes` keys and `retries.CAUSE` names
RETRY_CAUSES: tuple[str, ...] = (
    "http_429",
    "http_5xx",
    "http_4xx",
    "timeout",
    "connect",
    "read",
    "other",
)

# run-level rates of one error kind: grammar name → ErrorKind value (docs/outcomes.md)
KIND_RATES: dict[str, str] = {"incomplete_rate": "incomplete", "wrong_model_rate": "wrong_model"}

# fewer requests than this on either side of a comparison: differences may be noise
MIN_REQUESTS = 30


def canonical_name(name: str) -> str | None:
    """The grammar name for a name or an alias (`e2e_latency` → `e2e`); None if unknown."""
    return _CANONICAL.get(name)


def lookup(name: str, *, per_request: bool) -> Metric | None:
    """The metric a grammar name stands for: with a STAT, the per-request one."""
    if name == RETRIES.name and not per_request:
        return RETRIES
    for metric in PER_REQUEST if per_request else RUN_LEVEL:
        if metric.name == name:
            return metric
    return None


def by_key(key: str) -> Metric:
    """The per-request metric with this summary key."""
    for metric in PER_REQUEST:
        if metric.key == key:
            return metric
    raise KeyError(key)


def plain_number(value: float) -> str:
    """A number as typed: `800`, `0.5`, `99.9` (no trailing `.0`, no exponent)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def format_number(value: float) -> str:
    """At least 3 significant digits, fixed point."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
