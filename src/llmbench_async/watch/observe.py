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
    ) -> None:
        self.series = SeriesBuilder(t0_ns, window_s=options.window_s)
        self.scraper: Scraper | None = None
        if options.server_metrics is not None:
            from .server_metrics import Route, Scraper  # prometheus-client: only then

            url = metrics_url(options.server_metrics, config.endpoint)
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
            self.scraper = Scraper(
                url,
                t0_ns=t0_ns,
                interval_s=options.scrape_interval_s,
                extra=options.server_metric_names,
                route=route,
            )

    def add(self, record: RequestRecord) -> None:
        self.series.add(record)

    @asynccontextmanager
    async def scraping(self) -> AsyncIterator[None]:
        """Scrape in the background for the duration of the `async with` body."""
        if self.scraper is None:
            yield
            return
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.scraper.run)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    def server_json(self) -> dict[str, Any] | None:
        """The scraped series (`timeseries.server`), None when not scraping."""
        return None if self.scraper is None else self.scraper.to_json()

    def to_json(self) -> dict[str, Any]:
        """The summary JSON's `timeseries` document."""
        return self.series.to_json(server=self.server_json())


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port
