"""Request assembly: what every request of a run carries, built once from the RunConfig.

The headers (the API's key header or --api-key-header's, content negotiation, then the
user's --header, each replacing ours of the same name in any case), the key headers alone
(for a scrape of the target's own origin), and the `Target`: where and how every request is
sent. The bodies are the workload's (loadgen/workload.py)."""

from __future__ import annotations

import random

from .._version import VERSION
from ..config import RunConfig
from ..outcomes import names_deployment
from .apis import api_spec
from .client import Target
from .structured import output_check


def auth_headers(config: RunConfig) -> dict[str, str]:
    """The headers of every request: auth (the API's own key header unless
    --api-key-header names another), content negotiation, then the user's --header, each
    of which replaces ours of the same name whatever its case."""
    ours = {
        **_key_header(config),
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if _streams(config) else "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": f"llmbench-async/{VERSION}",
    }
    return _with_user_headers(ours, config)


def key_headers(config: RunConfig) -> dict[str, str]:
    """The key and the user's --header, without content negotiation: what a scrape of the
    target's own origin (--server-metrics auto) sends."""
    return _with_user_headers(_key_header(config), config)


def _with_user_headers(ours: dict[str, str], config: RunConfig) -> dict[str, str]:
    """`ours`, then the user's --header, each replacing ours of the same name in any case."""
    given = {header.lower() for header in config.headers}
    return {**{k: v for k, v in ours.items() if k.lower() not in given}, **config.headers}


def _key_header(config: RunConfig) -> dict[str, str]:
    """The API's key header(s), or --api-key-header's (wire/apis.py)."""
    return api_spec(config.api).auth_headers(config.api_key, config.api_key_header)


def _streams(config: RunConfig) -> bool:
    """Whether responses are streamed: asked for, and the API can (embeddings cannot)."""
    return config.stream and api_spec(config.api).streams


def build_target(config: RunConfig) -> Target:
    """Where and how every request of the run is sent."""
    return Target(
        url=config.endpoint,
        headers=auth_headers(config),
        stream=_streams(config),
        timeouts=config.timeouts,
        retry=config.retry,
        rng=random.Random(),
        secrets=config.secrets,
        api=api_spec(config.api),
        batch=config.batch,
        # an Azure deployment URL picks the model itself: nothing to compare the answer with
        model=None if names_deployment(config.endpoint) else config.model,
        accept_models=config.accept_models,
        request_id_header=None if config.request_id_header == "none" else config.request_id_header,
        traceparent=config.traceparent,
        output_check=output_check(config.tools, config.tool_choice, config.response_format),
    )
