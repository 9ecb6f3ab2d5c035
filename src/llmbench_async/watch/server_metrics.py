"""The server's own Prometheus metrics, scraped beside our measurements during a run.

A task polls the endpoint every `interval_s` on its own HTTP client, parses the text with
`prometheus_client`'s parser (in a worker thread, so the event loop driving requests is
never held up), and keeps a bounded series per metric: gauges as they are, counters as
per-second rates between scrapes. A failing, slow or malformed scrape is reported once on
stderr and never fails the run.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread
import httpx

from .. import outbound
from ..config import metrics_url
from ..inbound import BodyError, get_bounded
from ..limits import MAX_METRICS_BYTES
from ..redact import safe_excerpt
from ..wire.transport import make_client  # the run's routing rules, proxies included

__all__ = [
    "KNOWN_METRICS",
    "KnownMetric",
    "Route",
    "Scraper",
    "merged_json",
    "metrics_url",
    "parse_metrics",
]

Kind = Literal["gauge", "rate"]
MAX_POINTS = 1200  # per metric; beyond it every other point is dropped (bounded memory)
MAX_VALUE = 1e300  # a sample beyond this is dropped (sums and rates stay finite)


@dataclass(frozen=True, slots=True)
class KnownMetric:
    """One server metric we know under several servers' names (first name found wins)."""

    key: str
    label: str
    kind: Kind  # gauge: the value; rate: a counter turned into per-second rate
    names: tuple[str, ...]
    combine: Literal["sum", "mean"] = "sum"  # over label sets (engines, models)


KNOWN_METRICS: tuple[KnownMetric, ...] = (
    KnownMetric(
        "running",
        "requests running",
        "gauge",
        (
            "vllm:num_requests_running",
            "sglang:num_running_reqs",
            "tgi_batch_current_size",
            "llamacpp:requests_processing",
        ),
    ),
    KnownMetric(
        "waiting",
        "requests waiting",
        "gauge",
        (
            "vllm:num_requests_waiting",
            "sglang:num_queue_reqs",
            "tgi_queue_size",
            "llamacpp:requests_deferred",
        ),
    ),
    KnownMetric(
        "kv_cache_usage",
        "KV-cache use (0-1)",
        "gauge",
        (
            "vllm:kv_cache_usage_perc",
            "vllm:gpu_cache_usage_perc",
            "sglang:token_usage",
            "llamacpp:kv_cache_usage_ratio",  # older llama-server builds only
        ),
        combine="mean",
    ),
    KnownMetric(
        "prompt_tokens_per_s",
        "prompt tokens/s",
        "rate",
        (
            "vllm:prompt_tokens_total",
            "sglang:prompt_tokens_total",
            "tgi_request_input_length_sum",
            "llamacpp:prompt_tokens_total",  # llama.cpp: cached prompt tokens excluded
        ),
    ),
    KnownMetric(
        "generation_tokens_per_s",
        "generation tokens/s",
        "rate",
        (
            "vllm:generation_tokens_total",
            "sglang:generation_tokens_total",
            "tgi_request_generated_tokens_sum",
            "llamacpp:tokens_predicted_total",
        ),
    ),
    KnownMetric(
        "cached_prompt_tokens_per_s",
        "prompt tokens from cache/s",
        "rate",
        ("vllm:prefix_cache_hits_total", "llamacpp:prompt_tokens_cached_total"),
    ),
    KnownMetric("preemptions_per_s", "preemptions/s", "rate", ("vllm:num_preemptions_total",)),
    KnownMetric(
        "busy_slots_per_decode",
        "busy slots per decode",
        "gauge",
        ("llamacpp:n_busy_slots_per_decode",),
    ),
    KnownMetric("decodes_per_s", "decode calls/s", "rate", ("llamacpp:n_decode_total",)),
    # an exporter beside the engine: NVIDIA DCGM (one sample per GPU)
    KnownMetric("gpu_power_w", "GPU power (W, all GPUs)", "gauge", ("DCGM_FI_DEV_POWER_USAGE",)),
    KnownMetric(
        "gpu_util",
        "GPU utilisation (%, mean)",
        "gauge",
        ("DCGM_FI_DEV_GPU_UTIL",),
        combine="mean",
    ),
    KnownMetric(
        "gpu_memory_used_mib",
        "GPU memory used (MiB, all GPUs)",
        "gauge",
        ("DCGM_FI_DEV_FB_USED",),
    ),
)


def shown_url(url: str) -> str:
    """The URL without any user:password part or query (never printed)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class Route:
    """How the scrape travels: the run's own rules (--proxy, --no-proxy-env, TLS), and the
    headers it may carry (the target's credentials only on the target's own origin)."""

    verify: bool | str = True
    proxy: str | None = None
    trust_env: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sample:
    """One scrape reduced to the values we keep: sample name → (sum, count) over label sets,
    and the family type of each sample name."""

    values: Mapping[str, tuple[float, int]]
    types: Mapping[str, str]


_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\\n]|\\.)*"'
_VALUE = r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[Ii]nf|NaN|nan)"
# one sample line of the text exposition format: name, labels, value, optional timestamp
_SAMPLE = re.compile(
    rf"({_NAME})"
    rf"(?:\{{[ \t]*(?:{_LABEL}[ \t]*(?:,[ \t]*{_LABEL}[ \t]*)*,?[ \t]*)?\}})?"
    rf"[ \t]+{_VALUE}(?:[ \t]+-?\d+)?[ \t]*"
)


def _select(text: str, wanted: frozenset[str]) -> str:
    """The comment lines and the sample lines of `wanted` metrics: a real server's page is
    mostly histograms we do not keep, and the parser then reads a fraction of it. Every
    sample line is checked against the format (name, labels, value, timestamp), wanted or
    not: a page with one line that is not Prometheus text is malformed (ValueError)."""
    kept = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            kept.append(line)
            continue
        sample = _SAMPLE.fullmatch(line.strip())
        if sample is None:
            raise ValueError(f"not a metric line: {line[:80]!r}")
        if sample.group(1) in wanted:
            kept.append(line)
    return "\n".join(kept) + "\n"


def parse_metrics(text: str, wanted: frozenset[str] | None = None) -> Sample:
    """Parse Prometheus text exposition format, only the samples named in `wanted` when it is
    given; raises ValueError when the text is malformed."""
    # imported here: only a run with --server-metrics pays for loading it
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, tuple[float, int]] = {}
    types: dict[str, str] = {}
    if wanted is not None:
        text = _select(text, wanted)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            value = float(s.value)
            if not math.isfinite(value) or abs(value) > MAX_VALUE:
                continue  # NaN, ±Inf or an absurd figure: not a reading we can plot
            total, count = values.get(s.name, (0.0, 0))
            values[s.name] = (total + value, count + 1)
            types[s.name] = family.type
    return Sample(values, types)


@dataclass(slots=True)
class _Series:
    key: str
    label: str
    kind: Kind
    source: str  # the server's name for it
    t_s: list[float] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    last: tuple[float, float] | None = None  # counter: (t, raw value) of the previous scrape

    def add(self, t: float, raw: float) -> None:
        if self.kind == "gauge":
            self._append(t, raw)
            return
        previous, self.last = self.last, (t, raw)
        if previous is not None and t > previous[0] and raw >= previous[1]:
            self._append(t, (raw - previous[1]) / (t - previous[0]))

    def _append(self, t: float, v: float) -> None:
        self.t_s.append(round(t, 3))
        self.value.append(round(v, 6))
        if len(self.t_s) > MAX_POINTS:
            del self.t_s[1::2], self.value[1::2]

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "source": self.source,
            "t_s": self.t_s,
            "value": self.value,
        }


class Scraper:
    """Polls one Prometheus endpoint during a run; `run()` is meant to be cancelled."""

    def __init__(
        self,
        url: str,
        *,
        t0_ns: int,
        interval_s: float = 1.0,
        extra: Sequence[str] = (),
        route: Route | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"--scrape-interval must be more than 0 seconds (got {interval_s})")
        self.url = url
        self.t0_ns = t0_ns
        self.interval_s = interval_s
        self.extra = tuple(dict.fromkeys(extra))
        self.wanted = frozenset(
            [*known_names(), *self.extra, *(f"{name}_total" for name in self.extra)]
        )
        self.route = route or Route()
        self._warn = warn or _stderr_warning
        self.series: dict[str, _Series] = {}
        self.scrapes = 0
        self.failures = 0
        self.first_error: str | None = None
        self._missing_warned = False

    async def run(self) -> None:
        """Scrape now and every `interval_s` until cancelled (a late scrape is skipped)."""
        timeout = httpx.Timeout(min(self.interval_s, 5.0) + 1.0)
        route = self.route
        # plain http needs no CA bundle (loading one takes a noticeable fraction of a second)
        verify = route.verify if urlsplit(self.url).scheme == "https" else False
        http = make_client(
            verify=verify, proxy=route.proxy, trust_env=route.trust_env, timeout=timeout
        )
        async with http:
            next_at = time.perf_counter()
            while True:
                await self.scrape_once(http)
                next_at += self.interval_s
                now = time.perf_counter()
                while next_at < now:
                    next_at += self.interval_s
                await anyio.sleep(next_at - now)

    async def scrape_once(self, http: httpx.AsyncClient) -> None:
        """One scrape: fetch, parse off the loop, keep the values; report a failure once."""
        t = (time.perf_counter_ns() - self.t0_ns) / 1e9
        try:
            with anyio.fail_after(min(self.interval_s, 5.0) + 1.0):
                resp = await get_bounded(
                    http, self.url, MAX_METRICS_BYTES, "/metrics", self.route.headers
                )
            if resp.status != 200:
                raise _ScrapeError(f"HTTP {resp.status}")
            text = resp.body.decode("utf-8", "replace")
            sample = await anyio.to_thread.run_sync(parse_metrics, text, self.wanted)
        except Exception as exc:
            self._failed(safe_excerpt(_reason(exc), self.route.secrets, 200))
            return
        self.scrapes += 1
        self.keep(t, sample)

    def keep(self, t: float, sample: Sample) -> None:
        """Add one parsed scrape taken `t` seconds after the run start."""
        found = 0
        for known in KNOWN_METRICS:
            name = next((n for n in known.names if n in sample.values), None)
            if name is not None:
                found += 1
                total, count = sample.values[name]
                value = total / count if known.combine == "mean" else total
                self._series(known.key, known.label, known.kind, name).add(t, value)
        for name in self.extra:
            match = _user_sample(name, sample)
            if match is not None:
                found += 1
                kind: Kind = "rate" if sample.types.get(match) == "counter" else "gauge"
                label = name + ("/s" if kind == "rate" else "")
                self._series(name, label, kind, match).add(t, sample.values[match][0])
        if not found and not self._missing_warned:
            self._missing_warned = True
            self._warn(
                f"server metrics: {shown_url(self.url)} has none of the known metrics "
                "(vLLM, SGLang, TGI, llama.cpp, DCGM) nor any --server-metric asked for"
            )

    def _series(self, key: str, label: str, kind: Kind, source: str) -> _Series:
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = _Series(key, label, kind, source)
        return found

    def _failed(self, reason: str) -> None:
        self.failures += 1
        if self.first_error is None:
            self.first_error = reason
            self._warn(
                f"server metrics: cannot scrape {shown_url(self.url)}: {reason} "
                "(the run goes on; further failures are counted, not shown)"
            )

    def to_json(self) -> dict[str, Any]:
        """The `timeseries.server` document."""
        return {
            "url": shown_url(self.url),
            "interval_s": self.interval_s,
            "scrapes": self.scrapes,
            "failures": self.failures,
            "first_error": self.first_error,
            "metrics": {key: s.to_json() for key, s in self.series.items()},
        }


def merged_json(scrapers: Sequence[Scraper]) -> dict[str, Any]:
    """One `timeseries.server` document for every scraped URL: the first URL's fields where
    the shape has one value (`url`, `interval_s`), scrape and failure counts summed, the
    first failure, `sources` (each URL's own counts), and every series; a key found on two
    URLs is kept for each, the later one as `KEY@N` (N: the URL's 1-based place)."""
    docs = [scraper.to_json() for scraper in scrapers]
    first = docs[0]
    metrics: dict[str, Any] = {}
    sources = []
    for place, doc in enumerate(docs, start=1):
        sources.append({k: doc[k] for k in ("url", "scrapes", "failures", "first_error")})
        for key, series in doc["metrics"].items():
            metrics[key if key not in metrics else f"{key}@{place}"] = dict(series, url=doc["url"])
    errors = [f"{d['url']}: {d['first_error']}" for d in docs if d["first_error"] is not None]
    return {
        "url": first["url"],
        "interval_s": first["interval_s"],
        "scrapes": sum(d["scrapes"] for d in docs),
        "failures": sum(d["failures"] for d in docs),
        "first_error": first["first_error"] if len(docs) == 1 else next(iter(errors), None),
        "sources": sources,
        "metrics": metrics,
    }


def _user_sample(name: str, sample: Sample) -> str | None:
    for candidate in (name, f"{name}_total"):
        if candidate in sample.values:
            return candidate
    return None


class _ScrapeError(Exception):
    """The endpoint answered, but not with metrics we can read."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = " ".join(str(exc).split())[:200]
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if isinstance(exc, _ScrapeError | BodyError):
        return text
    return f"malformed metrics ({text or type(exc).__name__})"


def _stderr_warning(message: str) -> None:
    # the message may quote the server: escaped for the terminal
    sys.stderr.write(f"llmbench-async: warning: {outbound.terminal(message, 1000)}\n")
    sys.stderr.flush()


def known_names() -> Iterable[str]:
    """Every server metric name we recognise (for the docs and tests)."""
    for known in KNOWN_METRICS:
        yield from known.names
