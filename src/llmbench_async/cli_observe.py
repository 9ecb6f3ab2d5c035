"""Options for what a run watches and where its HTML goes: --html, --window,
--server-metrics, --scrape-interval, --server-metric (declared once, shared by commands)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .config import ConfigError, parse_duration

if TYPE_CHECKING:
    from .observe import ObserveOptions

__all__ = [
    "HtmlOption",
    "ScrapeIntervalOption",
    "ServerMetricOption",
    "ServerMetricsOption",
    "WindowOption",
    "observe_options",
    "parse_window",
]

HtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        help="Write a self-contained HTML report (charts, no network needed to view it).",
        show_default=False,
    ),
]
WindowOption = Annotated[
    str,
    typer.Option(
        "--window",
        help="Time-series window (seconds, or 500ms, 2s). Long runs get coarser windows "
        "automatically (at most 600).",
    ),
]
ServerMetricsOption = Annotated[
    str | None,
    typer.Option(
        "--server-metrics",
        metavar="URL|auto",
        help="Scrape the server's Prometheus metrics during the run: a URL, or auto "
        "(<origin of --base-url>/metrics). Default: off.",
        show_default=False,
    ),
]
ScrapeIntervalOption = Annotated[
    str,
    typer.Option("--scrape-interval", help="Time between scrapes of --server-metrics (seconds)."),
]
ServerMetricOption = Annotated[
    list[str] | None,
    typer.Option(
        "--server-metric",
        metavar="NAME",
        help="Also keep this server metric (repeatable); counters become per-second rates.",
        show_default=False,
    ),
]


def parse_window(text: str, flag: str = "--window") -> float:
    """`1`, `1s`, `500ms`, `2m` → seconds (> 0); ConfigError otherwise."""
    value = parse_duration(text, flag)
    if not value > 0:
        raise ConfigError(f"{flag} must be more than 0 seconds (got {text!r})")
    return value


def observe_options(
    window: str, server_metrics: str | None, scrape_interval: str, names: list[str] | None
) -> ObserveOptions:
    """The flags as `ObserveOptions`, checked (ConfigError: one line, exit 2)."""
    from .observe import ObserveOptions

    options = ObserveOptions(
        window_s=parse_window(window),
        server_metrics=server_metrics,
        scrape_interval_s=parse_window(scrape_interval, "--scrape-interval"),
        server_metric_names=tuple(n.strip() for n in names or () if n.strip()),
    )
    try:
        options.check()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return options
