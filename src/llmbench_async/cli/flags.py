"""The `run` command's flags as plain data, and the one pure step from them to a `RunConfig`.

`flags_to_config` knows no typer: it parses the flag strings (durations, lists, headers,
JSON) and fills in defaults from the environment; every rule about the values themselves
is checked once, by `RunConfig`. Tests call it directly.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from ..config import (
    DEFAULT_API_KEY,
    DEFAULT_BASE_URL,
    DEFAULT_PROMPT,
    Api,
    LatencyFrom,
    MaxTokensField,
    ObserveOptions,
    RetryPolicy,
    RunConfig,
    Timeouts,
    env_or,
    normalize_base_url,
    parse_header,
    parse_levels,
    parse_warmup,
)
from ..errors import ConfigError
from ..inbound import check_env_proxies, check_file, loads
from ..limits import (
    MAX_BODY_BYTES,
    MAX_CA_BUNDLE_BYTES,
    MAX_DATASET_FILE_BYTES,
    MAX_KEY_FILE_BYTES,
    MAX_PROMPT_FILE_BYTES,
)
from ..loadgen.workload import parse_input_tokens
from ..pacing import Arrival
from ..results.goodput import parse_goodput
from ..units import parse_duration, parse_time


@dataclass(frozen=True, slots=True)
class Flags:
    """Every `run` flag as given on the command line (strings where the CLI takes text)."""

    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    accept_model: list[str] | None = None
    api_key_file: Path | None = None
    n: int | None = None
    concurrency: str | None = None  # None: 1 (closed loop); not allowed with --rate
    rate: str | None = None
    arrival: str | None = None  # None: poisson; only with --rate
    seed: int | None = None
    max_concurrency: int | None = None
    duration: str | None = None
    warmup: str | None = None
    ramp_up: str | None = None
    latency_from: str = "send"
    workers: str = "1"
    ray: str | None = None
    ray_actors: int | None = None
    ray_per_node: int | None = None
    prompt: str = DEFAULT_PROMPT
    prompt_file: Path | None = None
    sample_prompts: bool = False
    input_tokens: str | None = None
    max_tokens: int = 128
    ignore_eos: bool = False
    header: list[str] | None = None
    extra_body: str | None = None
    stream: bool = True
    api: str = "chat"
    timeout: str | float = 300.0  # a duration: 30s, 500ms; bare = seconds
    connect_timeout: str | float = 10.0  # a duration: 30s, 500ms; bare = seconds
    read_timeout: str | float = 60.0  # a duration: 30s, 500ms; bare = seconds
    retries: int = 3
    max_backoff: str | float = 30.0  # a duration: 30s, 500ms; bare = seconds
    insecure: bool = False
    ca_bundle: Path | None = None
    output: Path | None = None
    json_path: Path | None = None
    quiet: bool = False
    grace: str | float = 2.0  # a duration: 30s, 500ms; bare = seconds
    mock: bool = False
    fail_if: list[str] | None = None
    junit: Path | None = None
    markdown: Path | None = None
    stop_on_fail: bool = False
    html: Path | None = None
    window: str = "1s"
    server_metrics: str | None = None
    scrape_interval: str = "1s"
    server_metric: list[str] | None = None
    # what is sent and when: arrival shape, batches, turns, datasets, prefixes, goodput
    burstiness: float = 1.0
    batch: int = 1
    turns: int | None = None
    think_time: str | None = None
    replay_history: bool = False
    dataset: Path | None = None
    dataset_format: str | None = None
    min_input_tokens: int | None = None
    max_input_tokens: int | None = None
    min_output_tokens: int | None = None
    max_output_tokens: int | None = None
    prefix_tokens: int = 0
    prefix_groups: int = 1
    goodput: list[str] | None = None
    tools: Path | None = None
    tool_choice: str = "auto"
    response_format: str | None = None
    images: int = 0
    image_size: str = "256x256"
    image_dir: Path | None = None
    # where requests go and how they are framed (None: the API's own key header and
    # max-tokens field)
    endpoint: str | None = None
    api_key_header: str | None = None
    max_tokens_field: str | None = None
    proxy: str | None = None
    no_proxy_env: bool = False
    http2: bool = False
    preconnect: bool = True
    lost_after: str = "10"
    ready_timeout: str | None = None
    min_achieved: str = "90%"


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
    return RunConfig(
        base_url=base_url,
        api_key=key,
        model=flags.model,
        accept_models=tuple(m.strip() for m in flags.accept_model or ()),
        api=cast(Api, flags.api),  # RunConfig checks every choice
        n=flags.n if flags.n is not None or duration_s is not None else 10,
        concurrency=concurrency[0],
        rate=rates[0] if rates else None,
        arrival=cast(Arrival, flags.arrival or "poisson"),
        seed=flags.seed,
        max_concurrency=flags.max_concurrency,
        duration_s=duration_s,
        warmup_requests=warm_n,
        warmup_s=warm_s,
        ramp_up_s=ramp_s,
        workers=_parse_workers(flags.workers, max(concurrency), loopback=is_loopback(target)),
        latency_from=cast(LatencyFrom, flags.latency_from),
        ray_address=flags.ray,
        ray_actors=flags.ray_actors,
        ray_per_node=flags.ray_per_node,
        prompt=flags.prompt,
        prompt_file=flags.prompt_file,
        sample_prompts=flags.sample_prompts,
        input_tokens=_input_tokens(flags.input_tokens),
        ignore_eos=flags.ignore_eos,
        extra_body=_parse_extra_body(flags.extra_body),
        headers=dict(parse_header(h) for h in flags.header or ()),
        max_tokens=flags.max_tokens,
        stream=flags.stream,
        verify=False if flags.insecure else (str(flags.ca_bundle) if flags.ca_bundle else True),
        output=flags.output,
        endpoint_url=None if flags.endpoint is None else flags.endpoint.strip(),
        api_key_header=_key_header(flags.api_key_header),
        max_tokens_field=cast(MaxTokensField | None, flags.max_tokens_field),  # RunConfig checks
        proxy=flags.proxy,
        proxy_env=not flags.no_proxy_env,
        http2=flags.http2,
        preconnect=flags.preconnect,
        **_limits_fields(flags),
        **_workload_fields(flags),
    )


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


def parse_lost_after(text: str) -> int:
    """--lost-after K: failed attempts in a row that mean the target is gone; `off` or 0:
    never stop for that."""
    raw = text.strip().lower()
    if raw in ("off", "0", "none", "never"):
        return 0
    if not raw.isdigit():
        raise ConfigError(f"--lost-after must be a count of attempts or off (got {text!r})")
    return int(raw)


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
        return _read_key_file(flags.api_key_file)
    if flags.api_key:
        return flags.api_key
    if not chose_endpoint(flags, env):
        return DEFAULT_API_KEY
    return env_or(env, "OPENAI_API_KEY", DEFAULT_API_KEY)


def _key_header(name: str | None) -> str | None:
    """--api-key-header: None (not given) leaves the API's own; `none` in any case: no key."""
    return "none" if name is not None and name.lower() == "none" else name


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
        **_content_fields(flags),
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
        server_metrics=flags.server_metrics,
        scrape_interval_s=parse_duration(flags.scrape_interval, "--scrape-interval"),
        server_metric_names=tuple(n.strip() for n in flags.server_metric or () if n.strip()),
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
            from ..extras import missing_extra

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
    if flags.arrival is not None and flags.rate is None:
        raise ConfigError("--arrival shapes an open loop: give --rate too")


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


def parse_min_achieved(text: str) -> float:
    """`--min-achieved`: `90%`, `90` or `0.9` → 0.9, the share of its offered rate a sweep's
    rate level must achieve."""
    body = text.strip().removesuffix("%").strip()
    try:
        value = float(body)
    except ValueError:
        value = math.nan
    if text.strip().endswith("%") or value > 1:
        value /= 100
    if not 0 <= value <= 1:
        raise ConfigError(f"--min-achieved must be a percentage from 0% to 100% (got {text!r})")
    return value


def _read_key_file(path: Path) -> str:
    check_file(path, "--api-key-file", MAX_KEY_FILE_BYTES)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = str(getattr(exc, "strerror", None) or exc)
        raise ConfigError(f"--api-key-file: cannot read {path}: {reason}") from None
    key = text.strip()
    if not key:
        raise ConfigError(f"--api-key-file: {path} is empty")
    if len(key.splitlines()) > 1:  # a line break inside the key is a header injection
        raise ConfigError(
            f"--api-key-file: {path} holds more than one line; the key must be alone on "
            "its line (it is not shown)"
        )
    return key


def _input_tokens(spec: str | None) -> tuple[int, int] | None:
    if spec is None:
        return None
    synthetic = parse_input_tokens(spec)
    return synthetic.mean, synthetic.stdev


def _parse_extra_body(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    if len(text) > MAX_BODY_BYTES:
        raise ConfigError("--extra-body is longer than 16 MiB")
    body = loads(text.encode("utf-8", "surrogatepass"), "--extra-body", sep=" is ")
    if not isinstance(body, dict):
        raise ConfigError("--extra-body must be a JSON object")
    return body


def _parse_workers(text: str, concurrency: int, *, loopback: bool) -> int:
    if text.strip().lower() == "auto":
        return auto_workers(concurrency, loopback=loopback)
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--workers must be a number or auto (got {text!r})") from None
    return value  # RunConfig checks its range


def auto_workers(concurrency: int, *, loopback: bool, cpus: int | None = None) -> int:
    """`--workers auto`: one process per usable CPU, no more than the concurrency. When the
    target is on this host (a loopback address), one CPU is left for the server: on 2 cores
    with the server beside it, 2 processes measured a worse TTFT than 1 (12.8 vs 2.6 ms)."""
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
    if loopback:
        cpus -= 1
    return max(1, min(cpus, concurrency))


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine: localhost, 127.0.0.0/8 or ::1."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:  # not a URL: check_url names the problem
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
