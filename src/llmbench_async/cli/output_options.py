"""The `run` options of what a run writes, watches and is judged by (the Outputs, CI gate
and Observe panels), each declared once as a field of `OutputOptions`: type, default, help
and panel. The aliases `report` and `compare` share are in options.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from .layout import GATE, OBSERVE
from .options import (
    FailIfOption,
    HtmlOption,
    JsonOption,
    JunitOption,
    MarkdownOption,
    Output,
    Quiet,
    WindowOption,
    _opt,
)


@dataclass(frozen=True)
class OutputOptions:
    """The Outputs, CI gate and Observe panels' options; within a panel in `--help` order."""

    # -- Outputs
    output: Output = None
    json_path: JsonOption = None
    quiet: Quiet = False
    markdown: MarkdownOption = None
    html: HtmlOption = None
    # -- Gate
    fail_if: FailIfOption = None
    junit: JunitOption = None
    stop_on_fail: Annotated[
        bool,
        _opt(
            "--stop-on-fail",
            help="Sweeps: stop at the first level that fails its SLO (a --fail-if threshold, "
            "or a saturated rate level).",
            panel=GATE,
        ),
    ] = False
    min_achieved: Annotated[
        str,
        _opt(
            "--min-achieved",
            help="Rate sweeps: a level whose successful completions keep up with less than this "
            "share of its arrivals is 'saturated' and fails the SLO.",
            panel=GATE,
        ),
    ] = "90%"
    calibrate: Annotated[
        bool,
        _opt(
            "--calibrate",
            help="After the run, replay the same load (at most 4 waves, or about 10 s of "
            "arrivals) against the built-in mock on this machine, answering with the target's "
            "median TTFT, ITL and token count, and report the error the client adds to each "
            "clock (the JSON's client_error; docs/calibrate.md). Default: off.",
            panel=GATE,
        ),
    ] = False
    # -- Observe
    window: WindowOption = "1s"
    server_metrics: Annotated[
        list[str] | None,
        _opt(
            "--server-metrics",
            metavar="URL|auto",
            help="Scrape Prometheus metrics during the run: a URL, or auto (<origin of the "
            "target>/metrics). Repeatable: the engine's, then an exporter beside it (DCGM for "
            "GPU power and utilisation, node exporter), at most 8. vLLM, SGLang, TGI, llama.cpp "
            "and DCGM names are known. Each scrape takes the run's route (--proxy, "
            "--no-proxy-env) and carries the key only to the target's own origin. Default: off.",
            panel=OBSERVE,
            show_default=False,
        ),
    ] = None
    scrape_interval: Annotated[
        str,
        _opt(
            "--scrape-interval",
            help="Time between scrapes of --server-metrics (e.g. 2s, 500ms; a bare number "
            "is seconds).",
            panel=OBSERVE,
        ),
    ] = "1s"
    server_metric: Annotated[
        list[str] | None,
        _opt(
            "--server-metric",
            metavar="NAME",
            help="Also keep this server metric (repeatable); counters become per-second rates.",
            panel=OBSERVE,
            show_default=False,
        ),
    ] = None
    prometheus_port: Annotated[
        int | None,
        _opt(
            "--prometheus-port",
            help="Serve this run's own metrics for Prometheus at http://HOST:PORT/metrics while "
            "it runs: requests by outcome, in flight, TTFT, ITL and E2E histograms, labelled "
            "by run id and model (docs/observability.md). 0: a free port, printed. A port in "
            "use is an error (exit 2). Default: off.",
            panel=OBSERVE,
            show_default=False,
        ),
    ] = None
    prometheus_host: Annotated[
        str,
        _opt(
            "--prometheus-host",
            help="Address the --prometheus-port feed listens on (0.0.0.0: every interface).",
            panel=OBSERVE,
        ),
    ] = "127.0.0.1"
    prometheus_linger: Annotated[
        str,
        _opt(
            "--prometheus-linger",
            help="After the run, keep the --prometheus-port feed up until one scrape has read "
            "the final values, at most this long (e.g. 15s; 0: stop at once; Ctrl-C ends it).",
            panel=OBSERVE,
        ),
    ] = "15s"
