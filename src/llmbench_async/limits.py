"""The stated limits of every numeric setting, checked in one place (`check_numbers`, run
by `RunConfig`): NaN, infinities, values below the minimum or beyond the maximum are one
ConfigError naming the flag. The README's "Limits" table lists the same figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
MIB = 1024 * 1024
MAX_PROMPT_FILE_BYTES = 256 * MIB  # a prompt file, read line by line
MAX_PROMPT_BYTES = 8 * MIB  # one prompt (one line of a prompt file, or --prompt)
MAX_BODY_BYTES = 16 * MIB  # one request body, as sent
MAX_TOKENS_HIGH = 10_000_000  # --max-tokens, and a prompt file's or dataset's max_tokens

# The inbound caps, one per surface (docs/security.md lists them). Sizes of HTTP bodies
# count DECODED bytes: decompression stops at the cap, whatever the compressed size.
KIB = 1024
GIB = 1024 * MIB
DECODE_PIECE = 64 * KIB  # most bytes one decompression step may produce
MAX_STREAM_BYTES = 256 * MIB  # one streamed (SSE) response, decoded; events: 4 MiB each
MAX_RESPONSE_BYTES = 16 * MIB  # one whole (non-streamed) response body, decoded
MAX_ERROR_BODY_BYTES = 64 * KIB  # what is read of an error body (the rest is not read)
MAX_MODELS_BYTES = 8 * MIB  # GET /models
MAX_METRICS_BYTES = 8 * MIB  # one /metrics scrape
MAX_JSON_DEPTH = 64  # nesting of any JSON read: files, flags, bodies
MAX_RESULTS_FILE_BYTES = GIB  # a results file (-o) read by report / compare
MAX_RESULTS_LINE_BYTES = 4 * MIB  # one line of it
MAX_SUMMARY_FILE_BYTES = 64 * MIB  # a summary or sweep JSON (--json) read by compare
MAX_DATASET_FILE_BYTES = 8 * GIB  # --dataset (streamed and sampled, never held whole)
MAX_KEY_FILE_BYTES = 64 * KIB  # --api-key-file
MAX_CA_BUNDLE_BYTES = 16 * MIB  # --ca-bundle
MAX_SHAPE_FILE_BYTES = 4 * MIB  # --load-shape's file of (time, rate) points
MAX_FIELD_CHARS = 4096  # a text field of a saved record (error messages) kept on reading


@dataclass(frozen=True, slots=True)
class Limit:
    """One numeric setting: its flag, where it lives in RunConfig, and its range."""

    flag: str
    path: str  # attribute path in RunConfig, e.g. "timeouts.total"
    low: float
    high: float
    low_open: bool = False  # True: the value must be more than `low`
    unit: str = ""

    def describe(self) -> str:
        low = f"more than {self.low:g}" if self.low_open else f"at least {self.low:g}"
        if low == "at least 0":
            low = "0 or more"
        unit = f" {self.unit}" if self.unit else ""
        return f"{low} and at most {self.high:,.0f}{unit}"


LIMITS: tuple[Limit, ...] = (
    Limit("-n/--n", "n", 1, 1e9),
    Limit("-c/--concurrency", "concurrency", 1, 100_000),
    # at least one request in 11.6 days: a smaller rate overflows the arrival clock
    Limit("--rate", "rate", 1e-6, 1e6, unit="requests/s"),
    Limit("--max-concurrency", "max_concurrency", 1, 1e9),
    Limit("--duration", "duration_s", 0, WEEK_S, low_open=True, unit="seconds"),
    Limit("--ramp-up", "ramp_up_s", 0, DAY_S, unit="seconds"),
    Limit("--warmup", "warmup_requests", 0, 1e9, unit="requests"),
    Limit("--warmup", "warmup_s", 0, DAY_S, unit="seconds"),
    Limit("--workers", "workers", 1, 1024),
    Limit("--seed", "seed", 0, 2**63 - 1),
    Limit("--max-tokens", "max_tokens", 1, MAX_TOKENS_HIGH, unit="tokens"),
    Limit("--timeout", "timeouts.total", 0, DAY_S, low_open=True, unit="seconds"),
    Limit("--connect-timeout", "timeouts.connect", 0, DAY_S, low_open=True, unit="seconds"),
    Limit("--read-timeout", "timeouts.read", 0, DAY_S, low_open=True, unit="seconds"),
    Limit("--retries", "retry.retries", 0, 100),
    Limit("--max-backoff", "retry.max_backoff", 0, DAY_S, unit="seconds"),
    Limit("backoff base", "retry.base_backoff", 0, DAY_S, unit="seconds"),
    Limit("--grace", "grace_s", 0, DAY_S, unit="seconds"),
    Limit("--lost-after", "lost_after", 0, 1e9, unit="attempts"),
    Limit("--ready-timeout", "ready_timeout_s", 0, DAY_S, low_open=True, unit="seconds"),
    Limit("phase", "phase_s", 0, DAY_S, unit="seconds"),
    # what is sent and when: arrival shape, batches, turns, shared prefixes
    Limit("--burstiness", "burstiness", 0, 1000, low_open=True),
    Limit("--batch", "batch", 1, 10_000, unit="inputs"),
    Limit("--turns", "turns", 1, 10_000),
    Limit("--think-time", "think_time_s", 0, DAY_S, unit="seconds"),
    Limit("--prefix-tokens", "prefix_tokens", 0, 1_000_000, unit="tokens"),
    Limit("--prefix-groups", "prefix_groups", 1, 1_000_000),
    Limit("--images", "images", 0, 64),  # images per request
)
# --image-size WxH, each side (a body holds at most 16 MiB: a 2048 x 2048 PNG of noise is 12 MiB)
MAX_IMAGE_SIDE = 4096
# --min/--max-input-tokens and --min/--max-output-tokens (dataset filters), each
MAX_FILTER_TOKENS = 10_000_000
# --window, --scrape-interval and the live feed (ObserveOptions)
OBSERVE_LIMITS: tuple[Limit, ...] = (
    Limit("--window", "window_s", 0, DAY_S, low_open=True, unit="seconds"),
    Limit("--scrape-interval", "scrape_interval_s", 0, DAY_S, low_open=True, unit="seconds"),
    Limit("--prometheus-port", "prometheus_port", 0, 65535),
    Limit("--prometheus-linger", "prometheus_linger_s", 0, DAY_S, unit="seconds"),
)
MAX_SCRAPE_URLS = 8  # --server-metrics URLs in one run
# --input-tokens MEAN:STDEV, each; 1,000,000 one-token words stay under MAX_BODY_BYTES
MAX_INPUT_TOKENS = 1_000_000
# --load-shape: points of a step or linear shape (inline or from a file), each rate
# (requests/s, as --rate; 0 is a pause), each time and a sine's period
MAX_SHAPE_POINTS = 10_000
MAX_SHAPE_RATE = 1e6
MAX_SHAPE_TIME_S = WEEK_S
# --model a,b,c: names; --model-mix a=W: each weight
MAX_MODELS = 100
MAX_MODEL_WEIGHT = 1000


def _get(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def check_number(limit: Limit, value: Any) -> None:
    """A ConfigError unless `value` is a finite number in the limit's range (None passes)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{limit.flag} must be a number (got {value!r})")
    bad = (
        (isinstance(value, float) and not math.isfinite(value))
        or value > limit.high
        or value < limit.low
        or (limit.low_open and value <= limit.low)
    )
    if bad:
        raise ConfigError(f"{limit.flag} must be {limit.describe()} (got {value!r})")


def check_numbers(config: Any) -> None:
    """Every numeric setting of a RunConfig within its stated limits."""
    _check_table(config, LIMITS)
    tokens = config.input_tokens
    if tokens is not None:
        mean, stdev = tokens
        check_number(Limit("--input-tokens", "", 1, MAX_INPUT_TOKENS, unit="tokens"), mean)
        check_number(Limit("--input-tokens STDEV", "", 0, MAX_INPUT_TOKENS), stdev)
    ranges = (
        ("--min-input-tokens", "--max-input-tokens", config.input_token_range),
        ("--min-output-tokens", "--max-output-tokens", config.output_token_range),
    )
    for low_flag, high_flag, (low, high) in ranges:
        check_number(Limit(low_flag, "", 0, MAX_FILTER_TOKENS, unit="tokens"), low)
        check_number(Limit(high_flag, "", 0, MAX_FILTER_TOKENS, unit="tokens"), high)
    for side in config.image_size:
        check_number(Limit("--image-size", "", 1, MAX_IMAGE_SIDE, unit="pixels"), side)
    if len(config.prompt.encode("utf-8", "surrogatepass")) > MAX_PROMPT_BYTES:
        raise ConfigError("--prompt is longer than 8 MiB")


def check_observe_numbers(options: Any) -> None:
    """--window and --scrape-interval within their stated limits."""
    _check_table(options, OBSERVE_LIMITS)


def _check_table(obj: Any, table: tuple[Limit, ...]) -> None:
    for limit in table:
        check_number(limit, _get(obj, limit.path))
