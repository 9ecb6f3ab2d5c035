"""The `run` command's flags as plain data, and the one pure step from them to a `RunConfig`.

`flags_to_config` knows no typer: it parses the flag strings (durations, lists, headers,
JSON) and fills in defaults from the environment; every rule about the values themselves
is checked once, by `RunConfig`. Tests call it directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from ..config import (
    DEFAULT_API_KEY,
    DEFAULT_BASE_URL,
    Api,
    LatencyFrom,
    MaxTokensField,
    ObserveOptions,
    RetryPolicy,
    RunConfig,
    Timeouts,
    env_or,
    parse_header,
)
from ..errors import ConfigError
from ..inbound import check_env_proxies, check_file
from ..limits import (
    MAX_CA_BUNDLE_BYTES,
    MAX_DATASET_FILE_BYTES,
    MAX_PROMPT_FILE_BYTES,
)
from ..loadgen.models import parse_model_mix, split_models
from ..loadgen.shape_file import load_shape_spec
from ..pacing import Arrival
from ..results.goodput import parse_goodput
from ..results.steady import parse_until_stable
from ..units import normalize_base_url, parse_duration, parse_time
from .options import RunOptions
from .output_options import OutputOptions
from .parse import (
    is_loopback,
    parse_extra_body,
    parse_input_range,
    parse_levels,
    parse_lost_after,
    parse_warmup,
    parse_workers,
    read_key_file,
)
from .workload_options import WorkloadOptions


@dataclass(frozen=True)
class Flags(WorkloadOptions, OutputOptions, RunOptions):
    """Every `run` flag as given on the command line (strings where the CLI takes text).
    Each is declared once, with its type, default and help: `RunOptions` (options.py),
    `OutputOptions` (output_options.py) and `WorkloadOptions` (workload_options.py); the
    `run` command's signature is this class's fields (run.py)."""


def flags_to_config(flags: Flags, env: Mapping[str, str] | None = None) -> RunConfig:
    """The run the flags describe (for a sweep: its first level; see `sweep_values`)."""
    env = os.environ if env is None else env
    if flags.insecure and flags.ca_bundle is not None:
        raise ConfigError("--insecure and --ca-bundle exclude each other")
    concurrency, rates = sweep_values(flags)
    _check_open_loop_flags(flags)
    duration_s = None if flags.duration is None else parse_duration(flags.duration, "--duration")
    warm_n, warm_s = (0, 0.0) if flags.warmup is None else parse_warmup(flags.warmup)
    ramp_s = 0.0 if flags.ramp_up is None else parse_time(flags.ramp_up, "--ramp-up")
    _check_transport_flags(flags, env)
    base_url = _base_url(flags, env)
    key = _api_key(flags, env)
    target = base_url if flags.endpoint is None else flags.endpoint.strip()
    if flags.goodput:
        parse_goodput(flags.goodput)  # a usage error before anything starts
    return _trace_checked(
        RunConfig(
            base_url=base_url,
            api_key=key,
            **_model_fields(flags),
            accept_models=tuple(m.strip() for m in flags.accept_model or ()),
            api=cast(Api, flags.api),  # RunConfig checks every choice
            n=_count(flags, duration_s),
            concurrency=concurrency[0],
            rate=rates[0] if rates else None,
            arrival=cast(Arrival, flags.arrival or "poisson"),
            load_shape=None if flags.load_shape is None else load_shape_spec(flags.load_shape),
            seed=flags.seed,
            max_concurrency=flags.max_concurrency,
            duration_s=duration_s,
            until_stable=parse_until_stable(flags.until_stable or (), flags.api),
            warmup_requests=warm_n,
            warmup_s=warm_s,
            ramp_up_s=ramp_s,
            workers=parse_workers(flags.workers, max(concurrency), loopback=is_loopback(target)),
            latency_from=cast(LatencyFrom, flags.latency_from),
            ray_address=flags.ray,
            ray_actors=flags.ray_actors,
            ray_per_node=flags.ray_per_node,
            prompt=flags.prompt,
            prompt_file=flags.prompt_file,
            sample_prompts=flags.sample_prompts,
            input_tokens=parse_input_range(flags.input_tokens),
            ignore_eos=flags.ignore_eos,
            extra_body=parse_extra_body(flags.extra_body),
            headers=dict(parse_header(h) for h in flags.header or ()),
            max_tokens=flags.max_tokens,
            stream=flags.stream,
            output=flags.output,
            calibrate=flags.calibrate,
            **_transport_fields(flags),
            **_limits_fields(flags),
            **_workload_fields(flags),
        )
    )


def _transport_fields(flags: Flags) -> dict[str, Any]:
    """The RunConfig fields of how requests go: TLS, the endpoint, the key header, the
    max-tokens field, proxies, HTTP/2, request ids and preconnect (RunConfig checks them)."""
    return {
        "verify": False if flags.insecure else (str(flags.ca_bundle) if flags.ca_bundle else True),
        "endpoint_url": None if flags.endpoint is None else flags.endpoint.strip(),
        "api_key_header": _key_header(flags.api_key_header),
        "max_tokens_field": cast(MaxTokensField | None, flags.max_tokens_field),
        "proxy": flags.proxy,
        "proxy_env": not flags.no_proxy_env,
        "http2": flags.http2,
        "request_id_header": _id_header(flags.request_id_header),
        "traceparent": flags.traceparent,
        "preconnect": flags.preconnect,
    }


def model_names(model: str | None) -> tuple[str, ...]:
    """--model's names: none, the one name as given, or a comma list's (checked)."""
    if model is None:
        return ()
    return split_models(model) if "," in model else (model,)


def _model_fields(flags: Flags) -> dict[str, Any]:
    """--model (one name or a comma list) and --model-mix, checked here."""
    if flags.model is None:
        if flags.model_mix is not None:
            raise ConfigError("--model-mix spreads requests over several models: give --model a,b")
        return {"model": None}
    names = model_names(flags.model)
    if len(names) == 1 and flags.model_mix is None:
        return {"model": flags.model}  # one name: as given (RunConfig checks it)
    parse_model_mix(flags.model_mix or "round-robin", names, flags.seed)
    return {"model": names[0], "models": names, "model_mix": flags.model_mix}


def _trace_checked(config: RunConfig) -> RunConfig:
    """`config`, its trace (if any) read once to the end of its slice: a malformed row is a
    usage error before anything is sent."""
    if config.trace is not None:
        from ..loadgen.traces import check_trace, trace_spec

        spec = trace_spec(config)
        if spec is not None and not check_trace(spec):
            raise ConfigError(f"--trace: {config.trace} holds no row to replay in that window")
    return config


def _limits_fields(flags: Flags) -> dict[str, Any]:
    """The RunConfig fields of the Limits & retries panel: timeouts, retries, the grace
    period, the lost-target count and the ready check."""
    return {
        "timeouts": Timeouts(
            total=parse_time(flags.timeout, "--timeout"),
            connect=parse_time(flags.connect_timeout, "--connect-timeout"),
            read=parse_time(flags.read_timeout, "--read-timeout"),
        ),
        "retry": RetryPolicy(
            retries=flags.retries, max_backoff=parse_time(flags.max_backoff, "--max-backoff")
        ),
        "grace_s": parse_time(flags.grace, "--grace"),
        "lost_after": parse_lost_after(flags.lost_after),
        "ready_timeout_s": None
        if flags.ready_timeout is None
        else parse_duration(flags.ready_timeout, "--ready-timeout"),
    }


def chose_endpoint(flags: Flags, env: Mapping[str, str]) -> bool:
    """Whether the user chose where requests go (--base-url, --endpoint, OPENAI_BASE_URL)
    rather than leaving the built-in default endpoint."""
    return (
        bool(flags.base_url)
        or flags.endpoint is not None
        or bool(env.get("OPENAI_BASE_URL", "").strip())
    )


def _api_key(flags: Flags, env: Mapping[str, str]) -> str:
    """--api-key-file, else --api-key, else OPENAI_API_KEY, but the environment's key only
    for an endpoint the user chose: the built-in default endpoint gets the built-in key
    unless a key is given on the command line."""
    if flags.api_key_file is not None:
        return read_key_file(flags.api_key_file)
    if flags.api_key:
        return flags.api_key
    if not chose_endpoint(flags, env):
        return DEFAULT_API_KEY
    return env_or(env, "OPENAI_API_KEY", DEFAULT_API_KEY)


def _key_header(name: str | None) -> str | None:
    """--api-key-header: None (not given) leaves the API's own; `none` in any case: no key."""
    return "none" if name is not None and name.lower() == "none" else name


def _id_header(name: str) -> str:
    """--request-id-header: `none` in any case sends no id; RunConfig checks any other."""
    return "none" if name.lower() == "none" else name


def _workload_fields(flags: Flags) -> dict[str, Any]:
    """The RunConfig fields of the workload flags (batch, turns, dataset, prefixes, goodput);
    RunConfig checks them."""
    from ..loadgen.datasets import resolve_dataset  # `sample:NAME` or a path

    if flags.dataset is not None:
        check_file(resolve_dataset(flags.dataset), "--dataset", MAX_DATASET_FILE_BYTES)
    think = flags.think_time
    return {
        "burstiness": flags.burstiness,
        "batch": flags.batch,
        "turns": flags.turns,
        "think_time_s": 0.0 if think is None else parse_time(think, "--think-time"),
        "replay_history": flags.replay_history,
        "dataset": flags.dataset,
        "dataset_format": flags.dataset_format,
        "input_token_range": (flags.min_input_tokens, flags.max_input_tokens),
        "output_token_range": (flags.min_output_tokens, flags.max_output_tokens),
        "prefix_tokens": flags.prefix_tokens,
        "prefix_groups": flags.prefix_groups,
        "goodput": tuple(flags.goodput or ()),
        **_replay_fields(flags),
        **_content_fields(flags),
    }


def _count(flags: Flags, duration_s: float | None) -> int | None:
    """-n; with --trace, the cap on rows (--max-requests or -n; None: all of them)."""
    if flags.max_requests is not None and flags.trace is None:
        raise ConfigError(
            "--max-requests caps a --trace replay; for guidellm's --max-requests (the "
            "request count) use -n N"
        )
    if flags.trace is not None:
        if flags.n is not None and flags.max_requests is not None:
            raise ConfigError("-n and --max-requests both cap a --trace replay: give one")
        return flags.max_requests if flags.max_requests is not None else flags.n
    return flags.n if flags.n is not None or duration_s is not None else 10


def _replay_fields(flags: Flags) -> dict[str, Any]:
    """The RunConfig fields of --trace and --session-header (the trace's format detected
    here, from its first line, when not named)."""
    from ..loadgen.traces import detect_trace_format, has_sessions, parse_window

    window = (0.0, None) if flags.trace_window is None else parse_window(flags.trace_window)
    fmt = flags.trace_format
    if flags.trace is not None:
        outputs = (flags.output, flags.json_path, flags.junit, flags.markdown, flags.html)
        if any(p is not None and p.resolve() == flags.trace.resolve() for p in outputs):
            raise ConfigError(
                f"--trace {flags.trace} is also an output file; it would be overwritten"
            )
        fmt = detect_trace_format(flags.trace, fmt)
        if flags.session_header is not None and not has_sessions(flags.trace, fmt):
            raise ConfigError(
                f"--session-header: the {fmt} trace {flags.trace} names no sessions (Azure "
                "traces have none; BurstGPT only with a SessionID column, Mooncake rows only "
                "with a session_id)"
            )
    return {
        "trace": flags.trace,
        "trace_format": fmt,
        "trace_speed": flags.trace_speed,
        "trace_window": window,
        "trace_block_tokens": flags.trace_block_tokens,
        "session_header": flags.session_header,
    }


def _content_fields(flags: Flags) -> dict[str, Any]:
    """The RunConfig fields of --tools, --tool-choice, --response-format and the image
    flags: the files read and checked now, so a bad one stops the run before it starts."""
    from ..loadgen.images import check_image_budget, load_image_dir, parse_image_size
    from ..wire.structured import check_structured, load_response_format, load_tools

    tools = () if flags.tools is None else load_tools(flags.tools)
    response_format = (
        None if flags.response_format is None else load_response_format(flags.response_format)
    )
    choice = flags.tool_choice.strip()
    check_structured(flags.api, tools, choice, response_format)
    size = parse_image_size(flags.image_size)
    if flags.image_dir is not None:
        load_image_dir(flags.image_dir)  # every file checked before the run
    check_image_budget(flags.images, size)
    return {
        "tools": tools,
        "tool_choice": choice,
        "response_format": response_format,
        "images": flags.images,
        "image_size": size,
        "image_dir": flags.image_dir,
    }


def flags_to_observe(flags: Flags) -> ObserveOptions:
    """What the run watches besides its requests (checked by `ObserveOptions`)."""
    return ObserveOptions(
        window_s=parse_duration(flags.window, "--window"),
        server_metrics=tuple(flags.server_metrics or ()),
        scrape_interval_s=parse_duration(flags.scrape_interval, "--scrape-interval"),
        server_metric_names=tuple(n.strip() for n in flags.server_metric or () if n.strip()),
        prometheus_port=flags.prometheus_port,
        prometheus_host=flags.prometheus_host,
        prometheus_linger_s=parse_time(flags.prometheus_linger, "--prometheus-linger"),
    )


def _check_transport_flags(flags: Flags, env: Mapping[str, str]) -> None:
    """--endpoint needs a model (or a base URL to list models from); --http2 needs h2."""
    has_base = flags.base_url is not None or bool(env.get("OPENAI_BASE_URL", "").strip())
    if flags.proxy is None and not flags.no_proxy_env:
        check_env_proxies(env)
    if flags.ca_bundle is not None:
        check_file(flags.ca_bundle, "--ca-bundle", MAX_CA_BUNDLE_BYTES)
    if flags.prompt_file is not None:
        check_file(flags.prompt_file, "--prompt-file", MAX_PROMPT_FILE_BYTES)
    if flags.endpoint is not None and flags.model is None and not has_base:
        raise ConfigError("--endpoint needs --model (or a --base-url that lists models)")
    if flags.http2:
        from ..wire.transport import http2_available

        if not http2_available():
            from ..wire.extras import missing_extra

            raise ConfigError(missing_extra("--http2", "h2", "http2"))


# flags whose value --mock replaces: with --mock they would be silently ignored
MOCK_OVERRIDES = (("base_url", "--base-url"), ("endpoint", "--endpoint"))


def check_mock_flags(flags: Flags) -> None:
    """--mock names the target itself: a flag naming another one is an error, not ignored."""
    for field, flag in MOCK_OVERRIDES:
        if flags.mock and getattr(flags, field) is not None:
            raise ConfigError(
                f"--mock benchmarks the built-in mock server, so {flag} would be ignored: "
                f"give one of them"
            )


def sweep_values(flags: Flags) -> tuple[list[int], list[float] | None]:
    """The --concurrency levels and the --rate levels (None: closed loop)."""
    given = flags.concurrency or "1"
    concurrency = [int(c) for c in parse_levels(given, "--concurrency", int)]
    rates = None if flags.rate is None else parse_levels(flags.rate, "--rate", float)
    if rates is not None and len(concurrency) > 1:
        raise ConfigError("sweep either --concurrency or --rate, not both")
    return concurrency, rates


def _check_open_loop_flags(flags: Flags) -> None:
    """Flags from other tools' habits that would be ignored are errors, with a hint."""
    if flags.rate is not None and flags.concurrency is not None:
        raise ConfigError(
            "-c/--concurrency sets a closed loop and --rate an open one; with --rate, cap "
            "requests in flight with --max-concurrency"
        )
    if flags.load_shape is not None:
        if flags.rate is not None or flags.concurrency is not None:
            raise ConfigError(
                "--load-shape sets the open loop's rate over time: not with --rate or "
                "-c/--concurrency (cap requests in flight with --max-concurrency)"
            )
        if flags.n is None and flags.duration is None:
            raise ConfigError(
                "--load-shape needs --duration (or -n): its last rate holds until the run ends"
            )
    if flags.arrival is not None and flags.rate is None and flags.load_shape is None:
        raise ConfigError("--arrival shapes an open loop: give --rate or --load-shape too")


def _base_url(flags: Flags, env: Mapping[str, str]) -> str:
    if flags.base_url is not None and not flags.base_url.strip():
        raise ConfigError("--base-url is empty; give an http(s) URL")
    if flags.base_url:
        return normalize_base_url(flags.base_url, "--base-url")
    return normalize_base_url(env_or(env, "OPENAI_BASE_URL", DEFAULT_BASE_URL), "OPENAI_BASE_URL")


def is_sweep(flags: Flags) -> bool:
    """Whether the flags ask for several load levels."""
    concurrency, rates = sweep_values(flags)
    return len(concurrency) > 1 or (rates is not None and len(rates) > 1)
