"""What the server said and what the network took, summed over a run: which requests the
server timed (and which server said so), the prefix-cache hit rate from `cached_tokens`,
and the connection set-up phases apart for connections opened by a request, opened before
the clock (`--preconnect`) and reused (docs/server-timing.md, docs/clocks.md).

The per-request distributions (server_prefill_ms, dns_ms, headers_new_ms, …) are metric
table entries collected by `stats.SummaryBuilder`; this module adds the counts and the
per-kind phase distributions those entries cannot hold.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..records import RequestRecord

PHASES = ("dns_ms", "tcp_ms", "tls_ms")
_FIELDS = {"dns_ms": "dns_ns", "tcp_ms": "tcp_ns", "tls_ms": "tls_ns"}
NOT_REPORTED = "server timings: not reported"


@dataclass(frozen=True, slots=True)
class ServerSummary:
    """A run's server-reported facts and connection phases, beside its own metrics."""

    timed: int = 0  # successful requests with a server-reported latency split
    sources: Mapping[str, int] = field(default_factory=dict)  # who said it: llama.cpp, vllm
    cache_reports: int = 0  # successful requests whose usage said cached_tokens
    cached_tokens: int = 0  # their cached prompt tokens …
    cache_prompt_tokens: int = 0  # … of their prompt tokens
    # requests by connection: opened by the request, preconnected (first use), reused
    connections: Mapping[str, int] = field(default_factory=dict)
    # DNS / TCP / TLS (ms stats) of connections opened by requests, and of preconnected ones
    new_phases: Mapping[str, Any] = field(default_factory=dict)
    preconnect_phases: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cache_hit_rate(self) -> float | None:
        """Cached / prompt tokens in %, over the requests that said; None when none did."""
        if not self.cache_reports or not self.cache_prompt_tokens:
            return None
        return 100.0 * self.cached_tokens / self.cache_prompt_tokens


class ServerAcc:
    """Accumulates `ServerSummary` one record at a time (8 bytes a phase sample)."""

    def __init__(self) -> None:
        self.timed = self.cache_reports = self.cached = self.prompt = 0
        self.sources: dict[str, int] = {}
        self.connections: dict[str, int] = {}
        self._phases: dict[tuple[bool, str], array[float]] = {}

    def add_connection(self, r: RequestRecord) -> None:
        """Any measured request (failed ones too): how its connection came, its phases."""
        if r.new_connection is None:
            return
        kind = "new" if r.new_connection else "preconnected" if r.preconnected else "reused"
        self.connections[kind] = self.connections.get(kind, 0) + 1
        if kind == "reused":
            return
        for key, name in _FIELDS.items():
            value = getattr(r, name)
            if value is not None:
                slot = (kind == "new", key)
                self._phases.setdefault(slot, array("d")).append(value / 1e6)

    def add_ok(self, r: RequestRecord) -> None:
        """A successful request: its server timing and cache counts."""
        if r.latency_split is not None and r.server_timing is not None:
            self.timed += 1
            source = str(r.server_timing.get("source", "unknown"))
            self.sources[source] = self.sources.get(source, 0) + 1
        if r.cached_tokens is not None and r.input_tokens:
            self.cache_reports += 1
            self.cached += min(r.cached_tokens, r.input_tokens)
            self.prompt += r.input_tokens

    def summary(self, describe: Callable[[Iterable[float]], Any]) -> ServerSummary:
        def phases(new: bool) -> dict[str, Any]:
            found = {k: describe(self._phases.get((new, k), ())) for k in PHASES}
            return {k: v for k, v in found.items() if v is not None}

        return ServerSummary(
            timed=self.timed,
            sources=dict(sorted(self.sources.items())),
            cache_reports=self.cache_reports,
            cached_tokens=self.cached,
            cache_prompt_tokens=self.prompt,
            connections=dict(sorted(self.connections.items())),
            new_phases=phases(True),
            preconnect_phases=phases(False),
        )
