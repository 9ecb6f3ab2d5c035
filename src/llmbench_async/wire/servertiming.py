"""What a server says of its own work on one request, read from a chunk or a whole body:
llama.cpp's `timings`, vLLM's per-request `metrics`, and the usage details' cached tokens.

Each number passes the same bounds: a finite, non-negative JSON number of at most
`MAX_SERVER_MS` (ms) or `MAX_COUNT` (tokens); anything else is "not said", never a
reading (docs/server-timing.md). Names are normalised to ours:

* llama.cpp (`timings`): `prompt_ms` → `prefill_ms`, `predicted_ms` → `decode_ms`; its
  `prompt_n`, `predicted_n`, `cache_n` kept; it reports no queue time.
* vLLM (`metrics`, `--enable-per-request-metrics` and `include_metrics`):
  `queue_time_ms` → `queue_ms`; `time_to_first_token_ms` − `queue_time_ms` → `prefill_ms`
  (its TTFT counts from the request's arrival, queue included); `generation_time_ms` →
  `decode_ms`; `time_to_first_token_ms`, `mean_itl_ms`, `tokens_per_second` kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_SERVER_MS = 1e9  # 11.6 days: a server time beyond this is not a reading
MAX_COUNT = 1_000_000_000  # tokens, as `protocol.token_count`

_LLAMA = (("prompt_ms", "prefill_ms"), ("predicted_ms", "decode_ms"))
_LLAMA_COUNTS = ("prompt_n", "predicted_n", "cache_n")
_VLLM_KEPT = ("time_to_first_token_ms", "mean_itl_ms", "tokens_per_second")


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """The server's own account of one request; each part None when it said nothing."""

    cached_tokens: int | None
    timing: dict[str, Any] | None  # `source` and normalised numbers (see the module doc)


def server_facts(obj: dict[str, Any], usage: Any, details_key: str) -> ServerFacts | None:
    """The facts in one decoded chunk or body `obj` whose usage object is `usage` (its
    cached tokens under `details_key`.cached_tokens, or Anthropic's
    `cache_read_input_tokens`); None when it holds none."""
    timing = _llama(obj.get("timings")) or _vllm(obj.get("metrics"))
    cached = cached_tokens(usage, details_key)
    if cached is None and timing is not None and timing.get("source") == "llama.cpp":
        cached = timing.get("cache_n")
    if timing is None and cached is None:
        return None
    return ServerFacts(cached, timing)


def cached_tokens(usage: Any, details_key: str) -> int | None:
    """Prompt tokens served from the prefix cache, as the usage object says."""
    if type(usage) is not dict:
        return None
    details = usage.get(details_key)
    if type(details) is dict and "cached_tokens" in details:
        return _count(details["cached_tokens"])
    return _count(usage.get("cache_read_input_tokens"))


def _llama(timings: Any) -> dict[str, Any] | None:
    if type(timings) is not dict:
        return None
    out: dict[str, Any] = {}
    for theirs, ours in _LLAMA:
        value = _ms(timings.get(theirs))
        if value is not None:
            out[ours] = value
    for name in _LLAMA_COUNTS:
        count = _count(timings.get(name))
        if count is not None:
            out[name] = count
    return {"source": "llama.cpp", **out} if out else None


def _vllm(metrics: Any) -> dict[str, Any] | None:
    if type(metrics) is not dict:
        return None
    out: dict[str, Any] = {}
    queue = _ms(metrics.get("queue_time_ms"))
    ttft = _ms(metrics.get("time_to_first_token_ms"))
    decode = _ms(metrics.get("generation_time_ms"))
    if queue is not None:
        out["queue_ms"] = queue
    if ttft is not None and queue is not None and ttft >= queue:
        out["prefill_ms"] = ttft - queue
    if decode is not None:
        out["decode_ms"] = decode
    for name in _VLLM_KEPT:
        value = _ms(metrics.get(name))
        if value is not None:
            out[name] = value
    return {"source": "vllm", **out} if out else None


def _ms(value: Any) -> float | None:
    """A finite, non-negative JSON number within bounds, as a float; None otherwise."""
    if type(value) not in (int, float):
        return None
    if type(value) is int and not 0 <= value <= MAX_SERVER_MS:  # float() of 10**400 raises
        return None
    number = float(value)
    return number if math.isfinite(number) and 0 <= number <= MAX_SERVER_MS else None


def _count(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= MAX_COUNT else None
