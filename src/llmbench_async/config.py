"""`RunConfig`: everything one benchmark run needs, validated, with defaults in code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from . import shapes
from .errors import ConfigError
from .inbound import (
    FRAMING_HEADERS,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    check_file,
    check_headers,
    check_host,
    check_identity_headers,
    check_key,
    is_secret_header,
    parse_header,
)
from .limits import (
    MAX_CA_BUNDLE_BYTES,
    MAX_PROMPT_FILE_BYTES,
    MAX_SCRAPE_URLS,
    check_numbers,
    check_observe_numbers,
)
from .pacing import (
    Arrival,
    LoadPlan,
    LoadShape,
    Ramp,
    TraceReplay,
    check_replay,
    make_shape,
    new_run_id,
)
from .redact import mask_url, mask_userinfo, redact_secret, secret_forms, url_secrets
from .units import check_url, shown_url

__all__ = [
    "FRAMING_HEADERS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "ConfigError",
    "RunConfig",
    "check_headers",
    "is_secret_header",
    "parse_header",
]

DEFAULT_BASE_URL = "https://litellm.ai-sandbox.azure.to2cz.cz"
DEFAULT_API_KEY = "sk-xxx"
DEFAULT_PROMPT = "Write a short poem about the sea."

Api = Literal["chat", "completions", "responses", "messages", "embeddings"]
# each API's path under the base URL (wire/apis.py's API objects take theirs from here)
API_PATHS: dict[str, str] = {
    "chat": "chat/completions",
    "completions": "completions",
    "responses": "responses",
    "messages": "messages",
    "embeddings": "embeddings",
}
DATASET_FORMATS = ("sharegpt", "openai-jsonl", "conversations")
LatencyFrom = Literal["send", "schedule"]
MaxTokensField = Literal["max_tokens", "max_completion_tokens"]  # the body field for --max-tokens


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-request time limits, in seconds (None = no limit)."""

    total: float | None = 300.0  # whole attempt: send → stream end
    connect: float | None = 10.0  # TCP + TLS set-up
    read: float | None = 60.0  # longest silence between two received byte chunks


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying a request again."""

    retries: int = 3  # extra attempts after the first; 0 disables retrying
    base_backoff: float = 0.5  # seconds; full jitter over base * 2**(attempt-1)
    max_backoff: float = 30.0  # seconds; caps both the backoff and any Retry-After
    retry_statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class ObserveOptions:
    """What a run watches besides its requests (--window, --server-metrics, --scrape-interval,
    --server-metric) and the live feed (--prometheus-*). Every rule checked here, once."""

    window_s: float = 1.0  # time-series window (coarsened for long runs)
    # Prometheus URLs to scrape, each a URL or "auto" (<origin>/metrics): the engine's,
    # then any exporter beside it (DCGM, node); one URL as a plain string is accepted too
    server_metrics: tuple[str, ...] | str | None = None
    scrape_interval_s: float = 1.0
    server_metric_names: tuple[str, ...] = ()  # extra metric names to keep
    prometheus_port: int | None = None  # serve our own metrics here while the run goes
    prometheus_host: str = "127.0.0.1"
    prometheus_linger_s: float = 15.0  # after the run: until one scrape, at most this long

    def __post_init__(self) -> None:
        check_observe_numbers(self)
        urls = self.metrics_specs
        if len(urls) > MAX_SCRAPE_URLS:
            raise ConfigError(f"--server-metrics: at most {MAX_SCRAPE_URLS} URLs")
        for spec in urls:
            metrics_url(spec, "http://localhost/v1")
        if self.server_metric_names and not urls:
            raise ConfigError("--server-metric needs --server-metrics URL|auto")
        if self.prometheus_port is not None:
            check_host(self.prometheus_host, "--prometheus-host")

    @property
    def metrics_specs(self) -> tuple[str, ...]:
        """The --server-metrics values, in order, each once."""
        specs = self.server_metrics
        if specs is None:
            return ()
        return tuple(dict.fromkeys((specs,) if isinstance(specs, str) else specs))


def metrics_url(spec: str, base_url: str) -> str:
    """`auto` → `<origin of base_url>/metrics`; anything else must be an http(s) URL."""
    if spec.strip().lower() == "auto":
        parts = urlsplit(base_url)
        return urlunsplit((parts.scheme, parts.netloc, "/metrics", "", ""))
    shown = shown_url(spec.strip())[:200]
    try:
        parts = urlsplit(spec.strip())
    except ValueError:  # an unclosed IPv6 bracket, ...
        raise ConfigError(f"--server-metrics is not a valid URL (got {shown!r})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--server-metrics must be auto or an http(s) URL (got {shown!r})")
    return check_url(spec, "--server-metrics")


@dataclass(frozen=True, slots=True)
class RunConfig:
    """One benchmark run: target, workload, load shape, limits and outputs."""

    base_url: str = DEFAULT_BASE_URL  # normalised: scheme://host[:port]/.../v1, no trailing /
    api_key: str = field(default=DEFAULT_API_KEY, repr=False)
    model: str | None = None  # None = the first id from GET /models
    # several models (--model a,b,c; `model` is the first): requests spread by `model_mix`
    models: tuple[str, ...] = ()
    model_mix: str | None = None  # round-robin (None), random, or weights a=3,b=1
    # served model names accepted besides `model` (`any`: every name); docs/outcomes.md
    accept_models: tuple[str, ...] = ()
    api: Api = "chat"
    n: int | None = 10  # measured requests to send (None: until `duration_s`)
    concurrency: int = 1  # closed loop: requests in flight at once
    rate: float | None = None  # open loop: arrivals per second (None: closed loop)
    arrival: Arrival = "poisson"  # open-loop arrival process
    # open loop: a rate over time (--load-shape grammar; `rate`: its peak, scaling it)
    load_shape: str | None = None
    seed: int | None = None  # for Poisson arrivals and prompt sampling
    max_concurrency: int | None = None  # open loop: cap on in-flight requests (None: no cap)
    duration_s: float | None = None  # measured time to keep sending (None: until n)
    # --until-stable: end early once each (grammar ref `ttft.p99`, relative half-width 0..1)
    # holds; checked by results/steady.py. Single-process runs only.
    until_stable: tuple[tuple[str, float], ...] = ()
    warmup_requests: int = 0  # extra requests first, marked warm-up, not in the statistics
    warmup_s: float = 0.0  # or: seconds of warm-up first
    ramp_up_s: float = 0.0  # linear ramp-up first (concurrency or rate); 0: none
    phase_s: float = 0.0  # open loop: shift every arrival by this (used to interleave workers)
    prompt_file: Path | None = None  # .txt (one prompt a line) or .jsonl prompts
    sample_prompts: bool = False  # draw prompts at random (seeded) instead of cycling
    input_tokens: tuple[int, int] | None = None  # synthetic prompts: (mean, stdev) tokens
    ignore_eos: bool = False  # send vLLM's ignore_eos so outputs run to max_tokens
    extra_body: Mapping[str, Any] = field(default_factory=dict)  # merged into every body
    headers: Mapping[str, str] = field(default_factory=dict)  # extra HTTP headers
    prompt: str = DEFAULT_PROMPT
    max_tokens: int = 128
    stream: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify: bool | str = True  # TLS: True, False (insecure) or a CA bundle path
    output: Path | None = None  # per-request JSONL
    grace_s: float = 2.0  # on Ctrl-C, how long in-flight requests may finish
    workers: int = 1  # processes sharing the load (each with its own event loop)
    latency_from: LatencyFrom = "send"  # where TTFT and E2E start
    # APIs, datasets, multi-turn, prefixes, gamma arrivals, goodput
    burstiness: float = 1.0  # gamma arrivals: shape B (1 = Poisson, < 1 burstier); > 0
    batch: int = 1  # embeddings: inputs per request
    turns: int | None = None  # multi-turn: turns per session (None: 1, or a dataset's own)
    think_time_s: float = 0.0  # multi-turn: pause between a reply and the next turn
    replay_history: bool = False  # multi-turn: carry the dataset's replies, not the server's
    dataset: Path | None = None  # sharegpt / openai-jsonl / conversations file
    dataset_format: str | None = None  # None: detected from the file
    input_token_range: tuple[int | None, int | None] = (None, None)  # dataset filter (est.)
    output_token_range: tuple[int | None, int | None] = (None, None)  # dataset filter (est.)
    prefix_tokens: int = 0  # shared prefixes: about this many tokens each (0: none)
    prefix_groups: int = 1  # shared prefixes: how many distinct ones
    goodput: tuple[str, ...] = ()  # per-request SLO conditions, e.g. ("ttft<200ms",)
    # tools and structured output (wire/structured.py), images (loadgen/images.py)
    tools: tuple[Mapping[str, Any], ...] = ()  # --tools: OpenAI function tool definitions
    tool_choice: str = "auto"  # auto, required, none or a tool's name
    response_format: Any = None  # "json" or a JSON schema (a dict); None: not asked
    images: int = 0  # images attached to each request
    image_size: tuple[int, int] = (256, 256)  # synthetic images: width, height in pixels
    image_dir: Path | None = None  # images from this folder instead of synthetic ones
    # where requests go and how: URL, key header, max-tokens field, proxy, HTTP/2
    endpoint_url: str | None = None  # full request URL (path and query kept); None: base_url
    # what reports name as the target instead of the URL: "mock" for the built-in mock (its
    # random port is not a setting, so two mock runs compare alike); None: the endpoint URL
    target_name: str | None = None
    # the header that carries the key: None: the API's own (Authorization: Bearer; messages:
    # x-api-key); "Authorization" sends Bearer, another name the key as is; "none": no key
    api_key_header: str | None = None
    max_tokens_field: MaxTokensField | None = None  # None: the API's own field
    proxy: str | None = field(default=None, repr=False)  # proxy URL for every request
    proxy_env: bool = True  # honour HTTP(S)_PROXY / ALL_PROXY / NO_PROXY (httpx's trust_env)
    http2: bool = False  # HTTP/2 through httpx's standard transport (needs the h2 extra)
    # the header of each request's unique id ("none": no id sent; wire/tracing.py)
    request_id_header: str = "X-Request-Id"
    traceparent: bool = False  # a W3C traceparent per request (one trace a request)
    preconnect: bool = True  # open the run's connections before the clock starts
    # --calibrate: after the run, the same load against the built-in mock measures the
    # client's own error on each clock (session/calibrate.py)
    calibrate: bool = False
    # stop when this many target-gone failed attempts come in a row, no success between
    # (--lost-after; 0: never); see loadgen/lost.py
    lost_after: int = 10
    ready_timeout_s: float | None = None  # --ready-timeout: wait this long for the target
    # Ray: auto, local, ray://host:10001 or host:port (None: no Ray)
    ray_address: str | None = None
    ray_actors: int | None = None  # actors in all (None: per node)
    ray_per_node: int | None = None  # actors on each node (None with no ray_actors: 1)
    # trace replay (loadgen/traces.py): with a trace, `n` caps the requests (None: all rows)
    trace: Path | None = None
    trace_format: str | None = None  # mooncake, burstgpt or azure (None: detected)
    trace_speed: float = 1.0  # 2: the trace's gaps halved
    trace_window: tuple[float, float | None] = (0.0, None)  # seconds of the trace to replay
    trace_block_tokens: int = 512  # Mooncake: prompt tokens per hash id
    # session affinity: this header carries `<run_id>-<session>` on each session's requests
    session_header: str | None = None
    run_id: str = field(default_factory=new_run_id, compare=False)

    def __post_init__(self) -> None:
        self._check_choices()
        if self.load_shape is not None and self.rate is None:
            object.__setattr__(self, "rate", shapes.parse_load_shape(self.load_shape).peak)
        check_numbers(self)  # every range: the checks below assume the numbers are in range
        self._check_load()
        if self.load_shape is not None:
            shapes.check_shape_run(
                self.load_shape, ramp_s=self.ramp_up_s, warmup=self.warmup_requests or self.warmup_s
            )
        self._check_request()
        self._check_workload()
        check_headers(self.headers)
        check_extra_body(self.extra_body)
        self._check_transport()
        self._check_ray()
        check_replay(self)

    def _check_choices(self) -> None:
        for flag, value, choices in (
            ("--api", self.api, Api),
            ("--arrival", self.arrival, Arrival),
            ("--latency-from", self.latency_from, LatencyFrom),
        ):
            allowed = get_args(choices)
            if value not in allowed:
                shown = " or ".join(allowed) if len(allowed) < 3 else "one of " + ", ".join(allowed)
                raise ConfigError(f"{flag} must be {shown} (got {value!r})")

    def _check_load(self) -> None:
        if self.n is None and self.duration_s is None and self.trace is None:
            raise ConfigError("give --n or --duration")
        if self.ramp_up_s and (self.warmup_requests or self.warmup_s):
            raise ConfigError(
                "--ramp-up and --warmup exclude each other (ramp requests are already left "
                "out of the statistics)"
            )
        if self.until_stable and (self.workers > 1 or self.ray_address is not None):
            raise ConfigError("--until-stable needs a single-process run (no --workers, --ray)")
        if self.max_concurrency is not None and self.rate is None and self.trace is None:
            raise ConfigError(
                "--max-concurrency caps an open loop (--rate); for a closed loop of N "
                "requests in flight (what vLLM's --max-concurrency does without a rate) use -c N"
            )
        if self.seed is not None and not (
            (self.rate is not None and self.arrival in ("poisson", "gamma"))
            or self.sample_prompts
            or self.input_tokens is not None
            or self.dataset is not None  # the dataset's sample
            or self.prefix_tokens > 0  # the shared prefixes' words
            or self.model_mix == "random"  # which model each request asks for
            or self.trace is not None  # the trace's prompt words
            or self.images > 0  # the synthetic images' pixels
        ):
            raise ConfigError(
                "--seed affects nothing here: it seeds Poisson and gamma arrivals (--rate), "
                "--sample-prompts, --input-tokens, --dataset sampling, --prefix-tokens, "
                "--model-mix random and --images"
            )
        if self.warmup_s > 0 and self.duration_s is None:
            raise ConfigError(
                "--warmup as a time needs --duration (with -n alone it could take every "
                "request); give the warm-up as a request count, e.g. --warmup 20"
            )

    def _check_request(self) -> None:
        if self.prompt_file is not None:
            check_file(self.prompt_file, "--prompt-file", MAX_PROMPT_FILE_BYTES)
        if isinstance(self.verify, str):
            check_file(Path(self.verify), "--ca-bundle", MAX_CA_BUNDLE_BYTES)
        if self.prompt_file is not None and self.input_tokens is not None:
            raise ConfigError("--prompt-file and --input-tokens exclude each other")
        if self.model is not None and not self.model.strip():
            raise ConfigError("--model must not be empty")
        for name in self.accept_models:
            if not name.strip() or len(name) > 200 or not name.isprintable():
                raise ConfigError(
                    "--accept-model takes a model name (1 to 200 printable characters) or any"
                )

    def _check_workload(self) -> None:
        """The checks of the workload fields (one-line ConfigErrors)."""
        if self.burstiness != 1.0 and self.arrival != "gamma":
            raise ConfigError("--burstiness needs --arrival gamma")
        if self.batch > 1 and self.api != "embeddings":
            raise ConfigError("--batch applies to --api embeddings only")
        if self.api == "embeddings" and (self.turns or 1) > 1:
            raise ConfigError("--turns does not apply to --api embeddings")
        if self.dataset_format is not None and self.dataset_format not in DATASET_FORMATS:
            raise ConfigError(
                f"--dataset-format must be one of {', '.join(DATASET_FORMATS)} "
                f"(got {self.dataset_format!r})"
            )
        if self.dataset is not None and (self.prompt_file or self.input_tokens):
            raise ConfigError("--dataset excludes --prompt-file and --input-tokens")
        for flag, (low, high) in (
            ("input", self.input_token_range),
            ("output", self.output_token_range),
        ):
            if (low is not None or high is not None) and self.dataset is None:
                raise ConfigError(f"--min/--max-{flag}-tokens filter a --dataset; give one")
            if low is not None and high is not None and low > high:
                raise ConfigError(
                    f"--min-{flag}-tokens ({low}) exceeds --max-{flag}-tokens ({high})"
                )
        self._check_prefix()
        if (self.images or self.image_dir) and (
            self.api in ("completions", "embeddings") or (self.turns or 1) > 1
        ):
            raise ConfigError(
                "--images and --image-dir work with single-turn chat, responses and messages"
            )

    def _check_prefix(self) -> None:
        if self.prefix_groups > 1 and not self.prefix_tokens:
            raise ConfigError("--prefix-groups needs --prefix-tokens")
        if self.prefix_tokens and self.input_tokens is not None:
            mean = self.input_tokens[0]
            if self.prefix_tokens >= mean:
                raise ConfigError(
                    f"--prefix-tokens ({self.prefix_tokens}) must be less than --input-tokens "
                    f"({mean}): the prefix is part of the prompt, the rest is the unique suffix"
                )

    def _check_transport(self) -> None:
        """--endpoint and --proxy are well-formed URLs (only the proxy may carry credentials),
        the key header a valid header name, the max-tokens field one of the two known."""
        if self.endpoint_url is not None:
            check_url(self.endpoint_url, "--endpoint")
        if self.proxy is not None:
            check_url(self.proxy, "--proxy", credentials=True)
        check_key(self.api_key, self.api_key_header)
        check_identity_headers(
            self.request_id_header, self.traceparent, self.headers, self.api_key_header
        )
        if self.max_tokens_field not in (None, "max_tokens", "max_completion_tokens"):
            raise ConfigError(
                "--max-tokens-field must be max_tokens or max_completion_tokens "
                f"(got {self.max_tokens_field!r})"
            )

    def _check_ray(self) -> None:
        address = self.ray_address
        if address is not None and (not address.strip() or any(c.isspace() for c in address)):
            raise ConfigError(
                f"--ray must be auto, local, ray://HOST:PORT or HOST:PORT (got {address!r})"
            )
        for flag, value in (
            ("--ray-actors", self.ray_actors),
            ("--ray-per-node", self.ray_per_node),
        ):
            if value is not None and address is None:
                raise ConfigError(f"{flag} needs --ray")
            if value is not None and value < 1:
                raise ConfigError(f"{flag} must be at least 1 (got {value})")
        if self.ray_actors is not None and self.ray_per_node is not None:
            raise ConfigError("--ray-actors and --ray-per-node exclude each other")
        if self.calibrate and address is not None:
            raise ConfigError(
                "--calibrate replays the load on this machine and cannot calibrate --ray's "
                "nodes; calibrate with --workers instead"
            )

    def url_for(self, suffix: str) -> str:
        """`base_url` + `/suffix`, keeping the base URL's query string (e.g. api-version)."""
        base, sep, query = self.base_url.partition("?")
        return f"{base}/{suffix}" + (sep + query if sep else "")

    @property
    def models_url(self) -> str:
        """Where the model list is asked for (GET)."""
        return self.url_for("models")

    @property
    def shape(self) -> LoadShape:
        """The load shape: the closed loop, an open-loop arrival schedule, or a trace."""
        if self.trace is not None:
            start, end = self.trace_window
            fmt = self.trace_format
            return TraceReplay(self.trace.name, fmt, self.trace_speed, start, end)
        return make_shape(
            concurrency=self.concurrency,
            rate=self.rate,
            arrival=self.arrival,
            seed=self.seed,
            phase=self.phase_s,
            burstiness=self.burstiness,
            load_shape=self.load_shape,
        )

    @property
    def plan(self) -> LoadPlan:
        """When to send: the shape, the limits, the warm-up and the in-flight cap."""
        if self.trace is not None:  # the rows say when; `n` caps them as they are read
            return LoadPlan(self.shape, None, None, max_in_flight=self.max_concurrency)
        return LoadPlan(
            shape=self.shape,
            count=self.n,
            duration_s=self.duration_s,
            warmup_requests=self.warmup_requests,
            warmup_s=self.warmup_s,
            max_in_flight=None if self.rate is None else self.max_concurrency,
            ramp=Ramp(self.ramp_up_s) if self.ramp_up_s else None,
        )

    def is_secret_header(self, name: str) -> bool:
        """Whether a header's value is a secret: a secret-looking name, or the header that
        carries the key (`--api-key-header`, whatever its case)."""
        key_header = (self.api_key_header or "").lower()
        return is_secret_header(name) or name.lower() == key_header

    @property
    def secrets(self) -> tuple[str, ...]:
        """The one secret set: every value never to be printed or saved, with its encoded
        forms (`redact.secret_forms`): the key, secret-looking headers, credentials and
        credential-like query values of the base URL and the endpoint, and the proxy's
        credentials (--proxy, or the environment's proxies when they are honoured)."""
        found = [self.api_key]
        found += [v for k, v in self.headers.items() if self.is_secret_header(k)]
        for url in (self.base_url, self.endpoint_url or "", self.proxy or ""):
            found += url_secrets(url)
        if self.proxy_env and self.proxy is None:
            found += env_proxy_secrets()
        return secret_forms(found)

    def load_description(self) -> str:
        """One line saying the load shape, e.g. `closed loop, concurrency 5 · 10 requests`."""
        shape = str(self.shape)
        if (self.rate is not None or self.trace is not None) and self.max_concurrency:
            shape += f", at most {self.max_concurrency} in flight"
        limits = []
        if self.n is not None:
            limits.append(f"{'at most ' if self.trace else ''}{self.n} requests")
        if self.duration_s is not None:
            limits.append(f"{self.duration_s:g} s")
        if self.warmup_requests:
            limits.append(f"warm-up {self.warmup_requests} requests")
        if self.warmup_s:
            limits.append(f"warm-up {self.warmup_s:g} s")
        if self.ramp_up_s:
            limits.append(f"ramp-up {self.ramp_up_s:g} s")
        return " · ".join([shape, *limits])

    @property
    def endpoint(self) -> str:
        """The URL requests are sent to: --endpoint as given, else base URL + the API's path."""
        if self.endpoint_url is not None:
            return self.endpoint_url
        return self.url_for(API_PATHS[self.api])

    def to_public_dict(self) -> dict[str, Any]:
        """The config as JSON-ready data, with the API key redacted."""
        data = _json_ready(self)
        data["api_key"] = redact_secret(self.api_key)
        data["base_url"] = mask_url(self.base_url)
        if self.endpoint_url is not None:
            data["endpoint_url"] = mask_url(self.endpoint_url)
        data["proxy"] = None if self.proxy is None else mask_userinfo(self.proxy)
        data["headers"] = {
            k: redact_secret(v) if self.is_secret_header(k) else v for k, v in self.headers.items()
        }
        return data


def env_proxy_secrets() -> list[str]:
    """The credentials of the environment's proxy URLs (HTTP(S)_PROXY, ALL_PROXY)."""
    import os

    found: list[str] = []
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        for key in (name, name.lower()):
            found += url_secrets(os.environ.get(key, ""))
    return found


# the fields holding a file's path (a string in JSON)
_PATH_FIELDS = tuple(f.name for f in dataclass_fields(RunConfig) if "Path" in str(f.type))


def _json_ready(config: RunConfig) -> dict[str, Any]:
    """`asdict` with paths as strings and the status set as a sorted list."""
    data = asdict(config)
    for name in _PATH_FIELDS:
        path = getattr(config, name)
        data[name] = str(path) if path else None
    data["retry"]["retry_statuses"] = sorted(config.retry.retry_statuses)
    return data


def config_to_wire(config: RunConfig) -> dict[str, Any]:
    """The full config (key included) as JSON-ready data, for handing to worker processes
    (the parent alone writes the output files)."""
    data = _json_ready(config)
    data["output"] = None
    return data


def config_from_wire(data: Mapping[str, Any]) -> RunConfig:
    """Inverse of `config_to_wire`: JSON's lists become the fields' tuples again (nested
    ones too), its strings the path fields' paths."""
    fields = dict(data)
    fields["timeouts"] = Timeouts(**fields["timeouts"])
    retry = dict(fields["retry"])
    retry["retry_statuses"] = frozenset(retry["retry_statuses"])
    fields["retry"] = RetryPolicy(**retry)
    for name in _PATH_FIELDS:
        if fields.get(name):
            fields[name] = Path(fields[name])
    for name, value in fields.items():
        if isinstance(value, list):
            fields[name] = _tuples(value)
    return RunConfig(**fields)


def _tuples(value: Any) -> Any:
    """Lists, at any depth, as tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def env_or(env: Mapping[str, str], name: str, default: str) -> str:
    """The environment variable's value when set and non-empty, else the default."""
    value = env.get(name, "").strip()
    return value or default


# --extra-body keys the tool sets itself, and the flag that sets each
OWNED_BODY_KEYS: dict[str, str] = {
    "model": "--model",
    "stream": "--stream/--no-stream",
    "stream_options": "--stream/--no-stream (the tool asks for usage itself)",
    "messages": "--prompt or --prompt-file",
    "prompt": "--prompt or --prompt-file",
    "input": "--prompt or --prompt-file",
    "max_tokens": "--max-tokens (and --max-tokens-field for the field's name)",
    "max_completion_tokens": "--max-tokens --max-tokens-field max_completion_tokens",
    "max_output_tokens": "--max-tokens",
}


def check_extra_body(body: Mapping[str, Any]) -> None:
    """--extra-body must not set a field the tool owns (the report would lie)."""
    for key in body:
        flag = OWNED_BODY_KEYS.get(key)
        if flag is not None:
            raise ConfigError(f"--extra-body must not set {key!r}; use {flag}")
