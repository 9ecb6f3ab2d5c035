"""When to try a request again, and how long to wait first: the retry rules (which failures,
how many times), full-jitter exponential backoff, and the server's own hints (Retry-After in
seconds or as a date, `retry-after-ms`, LiteLLM's and OpenAI's rate-limit reset headers)."""

from __future__ import annotations

import email.utils
import random
import re
import time

from ..config import RetryPolicy
from ..errors import ErrorKind, RequestError
from .head import HeaderLookup

_NO_RETRY_KINDS = frozenset(
    {
        ErrorKind.AUTH,
        ErrorKind.NOT_FOUND,
        ErrorKind.HTTP_4XX,
        ErrorKind.INCOMPLETE,
        ErrorKind.WRONG_MODEL,
        ErrorKind.INVALID_OUTPUT,
    }
)
_RETRY_KINDS = frozenset({ErrorKind.CONNECT, ErrorKind.CONNECT_TIMEOUT})
_CAUSE_OF_KIND = {
    ErrorKind.TIMEOUT: "timeout",
    ErrorKind.READ_TIMEOUT: "timeout",
    ErrorKind.CONNECT_TIMEOUT: "timeout",
    ErrorKind.CONNECT: "connect",
    ErrorKind.TLS: "connect",
    ErrorKind.READ: "read",
    ErrorKind.PROTOCOL: "read",
}


def retry_cause(error: RequestError) -> str:
    """Why an attempt was retried, one of `metrics.RETRY_CAUSES`: the HTTP status class (429 apart),
    else timeout, connect or read."""
    if error.status is not None and error.status >= 400:
        if error.status == 429:
            return "http_429"
        return "http_5xx" if error.status >= 500 else "http_4xx"
    return _CAUSE_OF_KIND.get(error.kind, "other")


def should_retry(
    error: RequestError, output_started: bool, attempt: int, policy: RetryPolicy
) -> bool:
    """Whether to send attempt `attempt + 1`: never once output began, never for an answer
    that another try would not change (auth, 4xx, a wrong or unfinished answer)."""
    if attempt > policy.retries or output_started:
        return False
    if error.kind in _NO_RETRY_KINDS:
        return False
    if error.status is not None:
        return error.status in policy.retry_statuses
    return error.kind in _RETRY_KINDS


def backoff(
    retry_after: float | None, attempt: int, policy: RetryPolicy, rng: random.Random
) -> float:
    """Honour the server's Retry-After (capped); otherwise exponential backoff, full jitter."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), policy.max_backoff)
    ceiling = min(policy.max_backoff, policy.base_backoff * 2 ** (attempt - 1))
    return rng.uniform(0.0, ceiling)


_RESET_HEADERS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_retry_after(headers: HeaderLookup, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from the first hint present of:
    `retry-after-ms`; `Retry-After` (seconds or HTTP date); LiteLLM's
    `llm_provider-retry-after`; OpenAI's `x-ratelimit-reset-requests/-tokens` (`6m0s`)."""
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    for name in ("retry-after", "llm_provider-retry-after"):
        value = headers.get(name)
        if value is not None:
            seconds = _number(value)
            if seconds is None:
                seconds = _http_date_delay(value, now)
            if seconds is not None:
                return seconds
    resets = [d for d in (_duration(headers.get(h)) for h in _RESET_HEADERS) if d is not None]
    return max(resets) if resets else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number >= 0 and number == number else None


def _http_date_delay(value: str, now: float | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _duration(value: str | None) -> float | None:
    """OpenAI's reset durations: `1s`, `6m0s`, `20ms`, `1h2m3.5s`, or a bare number."""
    if value is None:
        return None
    text = value.strip().lower()
    plain = _number(text)
    if plain is not None:
        return plain
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)
