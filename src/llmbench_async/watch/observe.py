"""What a run watches besides its requests: the time series fed by each record, and the
server's own metrics scraped beside it. One `Observer` per run, built by `session`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio

from ..config import ObserveOptions, metrics_url
from ..redact import secret_forms, url_secrets
from .timeseries import SeriesBuilder

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..records import RequestRecord
    from .feed import LiveFeed
    from .server_metrics import Scraper

__all__ = ["ObserveOptions", "Observer"]


class Observer:
    """Feeds the time series with each record and scrapes the server while the run goes."""

    def __init__(
        self,
        options: ObserveOptions,
        config: RunConfig,
        t0_ns: int,
        auth: dict[str, str] | None = None,
        feed: LiveFeed | None = None,
    ) -> None:
        self.series = SeriesBuilder(t0_ns, window_s=options.window_s)
        self.feed = feed  # the live Prometheus feed (--prometheus-port), None when off
        if feed is not None:
            feed.begin(config.model, from_schedule=config.latency_from == "schedule")
        self.scrapers: list[Scraper] = []
        for spec in options.metrics_specs:
            self.scrapers.append(_scraper(spec, options, config, t0_ns, auth))

    def add(self, record: RequestRecord) -> None:
        self.series.add(record)
        if self.feed is not None:
            self.feed.add(record)

    @asynccontextmanager
    async def scraping(self) -> AsyncIterator[None]:
        """Scrape in the background for the duration of the `async with` body."""
        if not self.scrapers:
            yield
            return
        async with anyio.create_task_group() as tg:
            for scraper in self.scrapers:
                tg.start_soon(scraper.run)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    def server_json(self) -> dict[str, Any] | None:
        """The scraped series (`timeseries.server`), None when not scraping."""
        if not self.scrapers:
            return None
        from .server_metrics import merged_json

        return merged_json(self.scrapers)

    def to_json(self) -> dict[str, Any]:
        """The summary JSON's `timeseries` document."""
        return self.series.to_json(server=self.server_json())


def _scraper(
    spec: str,
    options: ObserveOptions,
    config: RunConfig,
    t0_ns: int,
    auth: dict[str, str] | None,
) -> Scraper:
    """A scraper of one --server-metrics URL, routed like the run's requests."""
    from .server_metrics import Route, Scraper  # prometheus-client: only then

    url = metrics_url(spec, config.endpoint)
    same = _origin(url) == _origin(config.endpoint)
    route = Route(
        # TLS as for the target on its own origin; routes as for every request
        verify=config.verify if same else True,
        proxy=config.proxy,
        trust_env=config.proxy_env,
        # the target's own credentials go only to the target's own origin
        headers=dict(auth or {}) if same else {},
        secrets=(*config.secrets, *secret_forms(url_secrets(url))),
    )
    return Scraper(
        url,
        t0_ns=t0_ns,
        interval_s=options.scrape_interval_s,
        extra=options.server_metric_names,
        route=route,
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port
