"""What a run watches besides its requests: the time series fed by each record, and the
server's own metrics scraped beside it. One `Observer` per run, built by `session`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from .config import ObserveOptions, metrics_url
from .timeseries import SeriesBuilder

if TYPE_CHECKING:
    from .config import RunConfig
    from .records import RequestRecord
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
            from .server_metrics import Scraper  # prometheus-client: only when scraping

            auto = options.server_metrics.strip().lower() == "auto"
            self.scraper = Scraper(
                metrics_url(options.server_metrics, config.base_url),
                t0_ns=t0_ns,
                interval_s=options.scrape_interval_s,
                extra=options.server_metric_names,
                # the target's own credentials go only to the target's own origin
                headers=auth if auto else None,
                verify=config.verify if auto else True,
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
