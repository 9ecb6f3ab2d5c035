"""The `run` command's options, each declared once, as one field of `RunOptions`: its
type, its default, its help and panel (the panels and the help layout: layout.py). The
workload options are in workload_options.py; cli/flags.py joins both into `Flags`, and the
`run` command's signature is derived from it (cli/run.py). The options `report` and
`compare` share with `run` are the aliases below, used by both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import DEFAULT_BASE_URL, DEFAULT_PROMPT
from ..metrics import NAMES, PER_REQUEST, RUN_LEVEL
from .layout import GATE, LIMITS, LOAD, OBSERVE, OUTPUTS, SCALE, TARGET, WORKLOAD

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 a --fail-if threshold failed, 2 bad usage, 3 target unusable, "
    "4 mock server failed, 130 SIGINT, 143 SIGTERM."
)
_PER_REQUEST_NAMES = [name for name in NAMES if any(m.name == name for m in PER_REQUEST)]
FAIL_IF_HELP = (
    "Exit 1 when the run breaks this threshold (repeatable): METRIC.STAT OP VALUE[UNIT], e.g. "
    "'ttft.p95<800ms', 'e2e.p99<=5s', 'error_rate<1%', 'retry_rate<5%', "
    "'retries.http_429<1', 'requests_per_s>=2'. Metrics "
    f"{', '.join(_PER_REQUEST_NAMES)}; stats mean, min, max, stdev, pNN; run-level "
    f"{', '.join(f'{m.name} ({m.unit})' for m in RUN_LEVEL)} (no stat); with --calibrate "
    "the client's own error, client_error.CLOCK.STAT (ttft, token_span, e2e, queue_delay, "
    "headers), e.g. 'client_error.ttft.p99<5ms'."
)


def _opt(*names: str, help: str, panel: str, show_default: bool = True, **kw: Any) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=show_default, **kw)


_SECONDS = " (e.g. 30s, 500ms, 2m; a bare number is seconds)"

# -- Outputs (shared by run and report) ---------------------------------------------------
Output = Annotated[
    Path | None,
    _opt("--output", "-o", help="Write one JSON line per request to this file.", panel=OUTPUTS),
]
JsonOption = Annotated[
    Path | None,
    _opt(
        "--json",
        help="Write the summary JSON to this file ('-': stdout; the console report then goes "
        "to stderr).",
        panel=OUTPUTS,
    ),
]
MarkdownOption = Annotated[
    Path | None,
    _opt(
        "--markdown",
        help="Write a Markdown summary (key metrics, thresholds) to this file ('-': stdout; "
        "the console report then goes to stderr). It is also appended to "
        "$GITHUB_STEP_SUMMARY when that is set.",
        panel=OUTPUTS,
    ),
]
Quiet = Annotated[
    bool, _opt("--quiet", "-q", help="Print no report and no progress bar.", panel=OUTPUTS)
]
HtmlOption = Annotated[
    Path | None,
    _opt(
        "--html",
        help="Write a self-contained HTML report (charts, no network needed to view it).",
        panel=OUTPUTS,
        show_default=False,
    ),
]

# -- Observe (run; --window also for report) ----------------------------------------------
WindowOption = Annotated[
    str,
    _opt(
        "--window",
        help="Time-series window (seconds, or 500ms, 2s). Long runs get coarser windows "
        "automatically (at most 600).",
        panel=OBSERVE,
    ),
]

# -- CI gate ------------------------------------------------------------------------------
FailIfOption = Annotated[
    list[str] | None,
    _opt("--fail-if", help=FAIL_IF_HELP, panel=GATE, show_default=False, metavar="EXPR"),
]
JunitOption = Annotated[
    Path | None,
    _opt(
        "--junit",
        help="Write JUnit XML: one testcase per --fail-if, plus 'no request failed' ('-': stdout).",
        panel=GATE,
    ),
]


@dataclass(frozen=True)
class RunOptions:
    """The `run` options outside the workload panel, grouped by help panel; within a panel
    in the order `--help` lists them."""

    # -- Target
    # -- Target
    base_url: Annotated[
        str | None,
        _opt(
            "--base-url",
            help="Endpoint base URL, with or without /v1. "
            f"Default: $OPENAI_BASE_URL, else {DEFAULT_BASE_URL}.",
            panel=TARGET,
            show_default=False,
        ),
    ] = None
    model: Annotated[
        str | None,
        _opt(
            "--model",
            "-m",
            help="Model id, or a comma list a,b,c to spread requests over several models "
            "(--model-mix; results per model). Default: the first id from GET /v1/models.",
            panel=TARGET,
            show_default=False,
        ),
    ] = None
    mock: Annotated[
        bool,
        _opt(
            "--mock",
            help="Benchmark the built-in mock server (started in its own process on a free "
            "loopback port; TTFT 200 ms, ITL 10 ms, 64 tokens).",
            panel=TARGET,
        ),
    ] = False
    api: Annotated[
        str,
        _opt(
            "--api",
            help="API to call: chat (/chat/completions), completions (/completions), responses "
            "(/responses), messages (Anthropic /messages) or embeddings (/embeddings).",
            panel=TARGET,
        ),
    ] = "chat"
    api_key: Annotated[
        str | None,
        _opt(
            "--api-key",
            help="API key sent as a Bearer token. Default: $OPENAI_API_KEY, else sk-xxx; "
            "$OPENAI_API_KEY goes only to an endpoint you chose (--base-url, --endpoint or "
            "$OPENAI_BASE_URL): the built-in default endpoint gets sk-xxx unless --api-key or "
            "--api-key-file is given. Never printed or saved.",
            panel=TARGET,
            show_default=False,
        ),
    ] = None
    accept_model: Annotated[
        list[str] | None,
        _opt(
            "--accept-model",
            help="Accept answers from this served model name too (repeatable; 'any': every "
            "name). Otherwise an answer from another model than --model is wrong_model.",
            panel=TARGET,
            show_default=False,
        ),
    ] = None
    api_key_file: Annotated[
        Path | None,
        _opt("--api-key-file", help="Read the API key from this file (first line).", panel=TARGET),
    ] = None
    insecure: Annotated[
        bool, _opt("--insecure", help="Do not verify TLS certificates.", panel=TARGET)
    ] = False
    ca_bundle: Annotated[
        Path | None,
        _opt("--ca-bundle", help="CA certificates file (PEM) to verify TLS.", panel=TARGET),
    ] = None
    endpoint: Annotated[
        str | None,
        _opt(
            "--endpoint",
            help="Full request URL, path and query kept as given (e.g. Azure's "
            ".../openai/deployments/D/chat/completions?api-version=...). Needs --model unless "
            "--base-url lists models.",
            panel=TARGET,
            show_default=False,
        ),
    ] = None
    api_key_header: Annotated[
        str | None,
        _opt(
            "--api-key-header",
            help="Header carrying the key: Authorization (as 'Bearer KEY'), any other name "
            "(the raw key, e.g. api-key for Azure), or none. Default: the API's own "
            "(Authorization; x-api-key for --api messages).",
            panel=TARGET,
        ),
    ] = None
    max_tokens_field: Annotated[
        str | None,
        _opt(
            "--max-tokens-field",
            help="Body field for --max-tokens: max_tokens or max_completion_tokens. Default: "
            "the API's own (max_output_tokens for --api responses, else max_tokens).",
            panel=TARGET,
        ),
    ] = None
    proxy: Annotated[
        str | None,
        _opt(
            "--proxy",
            help="Proxy URL for every request (http://[user:pass@]host:port); HTTPS goes through "
            "CONNECT. Default: $HTTPS_PROXY / $HTTP_PROXY / $ALL_PROXY, minus $NO_PROXY.",
            panel=TARGET,
            show_default=False,
        ),
    ] = None
    no_proxy_env: Annotated[
        bool, _opt("--no-proxy-env", help="Ignore the *_PROXY environment variables.", panel=TARGET)
    ] = False
    http2: Annotated[
        bool,
        _opt(
            "--http2",
            help="Offer HTTP/2 (needs the h2 package: the http2 extra).",
            panel=TARGET,
        ),
    ] = False
    ready_timeout: Annotated[
        str | None,
        _opt(
            "--ready-timeout",
            help="Wait up to this long for the target to answer (e.g. 30s; a bare number is "
            "seconds) before the run starts; exit 3 if it never does.",
            metavar="DURATION",
            panel=TARGET,
        ),
    ] = None
    request_id_header: Annotated[
        str,
        _opt(
            "--request-id-header",
            help="Header carrying each request's unique id (32 hex digits, the same on its "
            "retries; recorded as request_id), or none to send no id. Default: X-Request-Id.",
            panel=TARGET,
        ),
    ] = "X-Request-Id"
    traceparent: Annotated[
        bool,
        _opt(
            "--traceparent",
            help="Send a W3C traceparent header with each request: one trace a request, a new "
            "span an attempt (the trace id recorded as trace_id). Default: off.",
            panel=TARGET,
        ),
    ] = False
    model_mix: Annotated[
        str | None,
        _opt(
            "--model-mix",
            help="With --model a,b,c: which model each request asks for: round-robin, random "
            "(seeded by --seed) or weights like a=3,b=1 (3 of every 4 requests to a). "
            "Default round-robin.",
            panel=TARGET,
            show_default=False,
        ),
    ] = None
    # -- Load
    n: Annotated[
        int | None,
        _opt(
            "--n",
            "-n",
            help="Requests to send (per sweep level). Default 10, or no limit with --duration.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    concurrency: Annotated[
        str | None,
        _opt(
            "--concurrency",
            "-c",
            help="Closed loop: requests in flight at once. A list like 1,4,16 runs a sweep. "
            "Default 1. Not with --rate (use --max-concurrency there).",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    rate: Annotated[
        str | None,
        _opt(
            "--rate",
            help="Open loop: arrivals per second (requests/s) whatever the server does. "
            "A list like 1,2,4 runs a sweep.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    arrival: Annotated[
        str | None,
        _opt(
            "--arrival",
            help="Open-loop arrivals (with --rate or --load-shape): poisson, constant or gamma. "
            "Default poisson.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    seed: Annotated[
        int | None,
        _opt(
            "--seed",
            help="Seed for Poisson arrivals, prompt sampling and synthetic prompts.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    max_concurrency: Annotated[
        int | None,
        _opt(
            "--max-concurrency",
            help="Open loop (with --rate): cap on requests in flight; arrivals beyond it wait "
            "(and the wait shows as queue delay). Default: no cap.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    duration: Annotated[
        str | None,
        _opt(
            "--duration",
            help="Keep sending for this long (e.g. 60s, 2m; a bare number is seconds) instead of "
            "--n requests.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    warmup: Annotated[
        str | None,
        _opt(
            "--warmup",
            help="Warm-up first: a duration (10s, 1m) or a request count (a bare number: 20). "
            "Kept in -o, marked, "
            "left out of the statistics.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    ramp_up: Annotated[
        str | None,
        _opt(
            "--ramp-up",
            help="Ramp up linearly over this long (e.g. 30s; a bare number is seconds) first: "
            "closed loop, concurrency climbs from 1 to -c; open loop, the rate climbs from "
            "1 req/s to --rate. Ramp requests are extra, kept in -o marked 'ramp', left out "
            "of the statistics.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    latency_from: Annotated[
        str,
        _opt(
            "--latency-from",
            help="Where TTFT and E2E start: send (the request went out) or schedule (it was "
            "due: includes queue delay).",
            panel=LOAD,
        ),
    ] = "send"
    preconnect: Annotated[
        bool,
        _opt(
            "--preconnect/--no-preconnect",
            help="Open the run's connections before the clock starts (one per concurrency slot); "
            "--no-preconnect measures cold connections.",
            panel=LOAD,
        ),
    ] = True
    load_shape: Annotated[
        str | None,
        _opt(
            "--load-shape",
            help="Open loop: a rate (requests/s) that changes over time, times from the start "
            "(a bare number is seconds): step:10@0s,40@60s,10@120s (each rate holds to the "
            "next point), linear:… (straight lines between points), "
            "spike:base=10,peak=80,at=30s,for=10s, sine:mean=20,amp=10,period=60s, or a "
            ".csv/.json file of (time, rate) points (linear; step:FILE for steps). The last "
            "rate holds until the run ends; needs --duration or -n. --arrival picks the "
            "arrivals within it. Not with --rate. Default: none.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    until_stable: Annotated[
        list[str] | None,
        _opt(
            "--until-stable",
            help="End the run early once this percentile is known to this relative width "
            "(repeatable; every one must hold), e.g. 'ttft.p99:5%': its 95 % interval's "
            "half-width / its value <= 5 %, checked every --window (default 1s); else the run "
            "ends at --duration or --n as usual. Single-process runs only.",
            panel=LOAD,
            show_default=False,
        ),
    ] = None
    # -- Workload
    prompt: Annotated[
        str, _opt("--prompt", "-p", help="Prompt text sent in every request.", panel=WORKLOAD)
    ] = DEFAULT_PROMPT
    prompt_file: Annotated[
        Path | None,
        _opt(
            "--prompt-file",
            help='Prompts: .txt (one per line) or .jsonl ({"prompt": ...} or {"messages": '
            "[...]}, optional max_tokens), cycled.",
            panel=WORKLOAD,
        ),
    ] = None
    sample_prompts: Annotated[
        bool,
        _opt(
            "--sample-prompts",
            help="Draw prompts at random (--seed) instead of cycling through them.",
            panel=WORKLOAD,
        ),
    ] = False
    input_tokens: Annotated[
        str | None,
        _opt(
            "--input-tokens",
            help="Synthetic prompts of about N tokens, or MEAN:STDEV (e.g. 512:64), one word ≈ "
            "one token.",
            panel=WORKLOAD,
            show_default=False,
        ),
    ] = None
    max_tokens: Annotated[
        int,
        _opt(
            "--max-tokens",
            "--output-tokens",
            help="max_tokens asked of the server (tokens).",
            panel=WORKLOAD,
        ),
    ] = 128
    ignore_eos: Annotated[
        bool,
        _opt(
            "--ignore-eos",
            help="Send vLLM's ignore_eos so every output runs to max_tokens.",
            panel=WORKLOAD,
        ),
    ] = False
    header: Annotated[
        list[str] | None,
        _opt(
            "--header",
            "-H",
            help="Extra HTTP header 'Name: value' (repeatable). Values of secret-looking names "
            "are never printed.",
            panel=WORKLOAD,
            show_default=False,
        ),
    ] = None
    extra_body: Annotated[
        str | None,
        _opt(
            "--extra-body",
            help="JSON object merged into every request body (e.g. '{\"temperature\": 0}').",
            panel=WORKLOAD,
            show_default=False,
        ),
    ] = None
    stream: Annotated[
        bool, _opt("--stream/--no-stream", help="Stream responses (SSE).", panel=WORKLOAD)
    ] = True
    # -- Limits
    timeout: Annotated[
        str, _opt("--timeout", help="Total deadline per request attempt" + _SECONDS, panel=LIMITS)
    ] = "300s"
    connect_timeout: Annotated[
        str, _opt("--connect-timeout", help="TCP + TLS connect timeout" + _SECONDS, panel=LIMITS)
    ] = "10s"
    read_timeout: Annotated[
        str,
        _opt(
            "--read-timeout",
            help="Longest silence between received chunks" + _SECONDS,
            panel=LIMITS,
        ),
    ] = "60s"
    retries: Annotated[
        int, _opt("--retries", help="Extra attempts on retryable failures.", panel=LIMITS)
    ] = 3
    max_backoff: Annotated[
        str, _opt("--max-backoff", help="Cap on any wait between attempts" + _SECONDS, panel=LIMITS)
    ] = "30s"
    grace: Annotated[
        str,
        _opt(
            "--grace", help="On Ctrl-C, time in-flight requests may finish" + _SECONDS, panel=LIMITS
        ),
    ] = "2s"
    lost_after: Annotated[
        str,
        _opt(
            "--lost-after",
            help="Stop (exit 3) after K failed attempts in a row with no success between: "
            "refused or reset connections, 5xx, 401/403/404; 429s and timeouts only after 60 s "
            "with no success. "
            "'off' or 0: never.",
            metavar="K",
            panel=LIMITS,
        ),
    ] = "10"
    # -- Scale
    workers: Annotated[
        str,
        _opt(
            "--workers",
            help="OS processes sharing the load, each with its own event loop: a number or "
            "'auto' (one per CPU, less one left for the server when the target is on this "
            "host).",
            panel=SCALE,
        ),
    ] = "1"
    ray: Annotated[
        str | None,
        _opt(
            "--ray",
            help="Run the load on Ray actors: auto (an existing cluster; the default for a "
            "bare --ray), local (start one on this host) or ray://HOST:10001. "
            "Needs the ray extra.",
            panel=SCALE,
            show_default=False,
            metavar="[ADDRESS]",  # a bare --ray is `auto`: see fill_optional_values
        ),
    ] = None
    ray_actors: Annotated[
        int | None,
        _opt(
            "--ray-actors",
            help="Ray actors in all (spread over the nodes).",
            panel=SCALE,
            show_default=False,
        ),
    ] = None
    ray_per_node: Annotated[
        int | None,
        _opt(
            "--ray-per-node",
            help="Ray actors on each node (one placement bundle per node). Default: 1 on each "
            "node with a free CPU, at most the concurrency.",
            panel=SCALE,
            show_default=False,
        ),
    ] = None
