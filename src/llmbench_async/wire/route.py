"""How a run reaches its target: its HTTP client (the lean pool, with proxy and HTTP/2 mounts),
the words the report uses for that route, and opening the run's connections up front."""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import httpx

from ..config import RunConfig
from ..errors import TargetError
from ..inbound import check_env_proxies
from .transport import make_client, preconnect, proxy_in_use


def client_for(config: RunConfig, **kwargs: Any) -> httpx.AsyncClient:
    """The run's HTTP client: the lean pool, with proxy and HTTP/2 mounts as configured
    (the environment's proxy URLs checked first: the Python API skips the flags' check)."""
    if config.proxy is None and config.proxy_env:
        check_env_proxies(os.environ)
    try:
        return make_client(
            verify=config.verify,
            proxy=config.proxy,
            trust_env=config.proxy_env,
            http2=config.http2,
            **kwargs,
        )
    except RuntimeError as exc:  # --http2 without the h2 package
        raise TargetError(str(exc)) from None


def describe_route(config: RunConfig, protocols: set[bytes]) -> str | None:
    """`via proxy URL` (redacted) and the HTTP versions negotiated when not just HTTP/1.1;
    None for a plain direct HTTP/1.1 run."""
    parts = []
    proxy = proxy_in_use(config.endpoint, config.proxy, config.proxy_env)
    if proxy is not None:
        parts.append(f"via proxy {proxy}")
    versions = sorted(v.decode("ascii", "replace") for v in protocols)
    if config.http2 or versions not in ([], ["HTTP/1.1"]):
        parts.append(", ".join(versions) or "HTTP/2 asked, no response")
    return " · ".join(parts) or None


def route_of(config: RunConfig) -> dict[str, Any]:
    """How requests travel, for the results file header: the proxy (redacted) or None, and
    whether HTTP/2 was asked for."""
    return {
        "proxy": proxy_in_use(config.endpoint, config.proxy, config.proxy_env),
        "http2": config.http2,
    }


async def preconnect_run(http: httpx.AsyncClient, config: RunConfig) -> None:
    """Open the run's connections before its clock starts (`--preconnect`, the default), so
    the first wave measures the server, not our own connect storm: one per closed-loop slot,
    or `--max-concurrency` in an open loop, never more than can be in flight at once
    (`preconnect_count`). A failure here is left to the requests, which record it like any
    connect failure."""
    count = preconnect_count(config)
    if not config.preconnect or count < 1:
        return
    with contextlib.suppress(Exception):
        await preconnect(http, config.endpoint, count, config.timeouts.connect)


_TRACE_PRECONNECT = 64


def preconnect_count(config: RunConfig) -> int:
    """Connections worth opening up front: the closed loop's concurrency, or the open
    loop's cap, bounded by the requests to send and by what the rate can start within one
    request's time limit (so `--max-concurrency 1000000000` opens a handful); a trace
    replay: its cap (at most 64), else 1."""
    if config.trace is not None:  # no rate to bound it: the cap, at most a trace's first 64
        count = min(config.max_concurrency or 1, config.n or _TRACE_PRECONNECT, _TRACE_PRECONNECT)
    elif config.rate is None:
        count = config.concurrency
    else:
        count = config.max_concurrency or 0
        spans = [s for s in (config.duration_s, config.timeouts.total) if s is not None]
        if spans:
            count = min(count, math.ceil(config.rate * min(spans)) + 1)
    total = config.plan.total
    return count if total is None else min(count, total)
