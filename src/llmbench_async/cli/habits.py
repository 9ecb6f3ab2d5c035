"""Habits users bring from other load testers, met before typer parses the `run` flags.

- A URL among the arguments (oha, hey and vegeta take the target as an argument) is the
  base URL, or, when its path ends in an API's path (`/v1/chat/completions`…), the base
  URL and `--api` (or `--endpoint`, when the path is not `…/v1/<api path>`).
- A flag of vLLM `bench serve`, guidellm, k6, oha, hey or vegeta that we do not have is one
  line naming ours (`FOREIGN_FLAGS`, printed in docs/coming-from.md); a flag we share with a
  different meaning (`-q`, `-m`) is explained when its value shows the other tool's meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError


@dataclass(frozen=True, slots=True)
class Foreign:
    """One flag of another tool and what to write here instead."""

    flag: str
    tools: str
    ours: str  # the flag (with an example value) to use here
    note: str = ""  # how the meaning differs, when it does


FOREIGN_FLAGS: tuple[Foreign, ...] = (
    # vLLM `vllm bench serve` (and benchmark_serving.py)
    Foreign("--num-prompts", "vLLM", "-n N"),
    Foreign("--save-result", "vLLM", "--json FILE", "the summary JSON goes to the file given"),
    Foreign("--result-dir", "vLLM", "--json DIR/NAME.json", "give the file's full path"),
    Foreign("--result-filename", "vLLM", "--json FILE"),
    Foreign("--request-rate", "vLLM", "--rate RATE", "inf (vLLM's default) is a closed loop: -c N"),
    Foreign("--ready-check-timeout-sec", "vLLM", "--ready-timeout DURATION", "e.g. 10m"),
    Foreign(
        "--dataset-name",
        "vLLM",
        "--input-tokens N (random), --dataset FILE --dataset-format sharegpt, or --trace "
        "FILE (burstgpt, mooncake)",
    ),
    Foreign("--dataset-path", "vLLM", "--dataset FILE"),
    Foreign("--random-input-len", "vLLM", "--input-tokens N"),
    Foreign("--random-output-len", "vLLM", "--max-tokens N --ignore-eos"),
    Foreign("--backend", "vLLM", "--api chat|completions|responses|messages|embeddings"),
    Foreign("--host", "vLLM", "--base-url http://HOST:PORT/v1"),
    Foreign("--port", "vLLM", "--base-url http://HOST:PORT/v1"),
    Foreign("--percentile-metrics", "vLLM", "--json FILE", "every percentile is reported"),
    Foreign("--metric-percentiles", "vLLM", "--fail-if METRIC.pNN<VALUE", "any pNN is exact"),
    Foreign("--num-warmups", "vLLM", "--warmup N", "kept in -o, left out of the statistics"),
    Foreign("--save-detailed", "vLLM", "-o FILE", "one JSON line per request"),
    Foreign("--sharegpt-output-len", "vLLM", "--max-tokens N"),
    Foreign("--tokenizer", "vLLM", "nothing", "no tokenizer: tokens come from the server's usage"),
    # guidellm
    Foreign("--target", "guidellm", "--base-url URL (or the URL as the first argument)"),
    Foreign(
        "--rate-type",
        "guidellm",
        "-c N (synchronous: -c 1; concurrent) or --rate RATE (poisson; constant: "
        "--arrival constant; sweep: --rate 1,2,4)",
    ),
    Foreign("--max-seconds", "guidellm", "--duration DURATION"),
    Foreign(
        "--data",
        "guidellm",
        "--input-tokens N --max-tokens N (prompt_tokens/output_tokens) or --dataset FILE",
    ),
    Foreign("--output-path", "guidellm", "--json FILE"),
    Foreign(
        "--processor", "guidellm", "nothing", "no tokenizer: tokens come from the server's usage"
    ),
    # k6
    Foreign("--vus", "k6", "-c N"),
    Foreign("-u", "k6", "-c N"),
    Foreign("--iterations", "k6", "-n N"),
    Foreign("-i", "k6", "-n N"),
    Foreign("--summary-export", "k6", "--json FILE"),
    Foreign("--out", "k6", "--json FILE (summary) or -o FILE (one line per request)"),
    Foreign("--rps", "k6", "--rate RATE"),
    Foreign(
        "--stage",
        "k6",
        "--load-shape linear:RATE@TIME,…",
        "k6's stages ramp virtual users; a load shape ramps the arrival rate (open loop)",
    ),
    # oha, hey
    Foreign("-z", "oha/hey", "--duration DURATION"),
    Foreign("-t", "oha/hey", "--timeout DURATION"),
    Foreign(
        "-d",
        "oha/hey (body), k6 (duration)",
        "--prompt TEXT or --extra-body JSON (a body); --duration DURATION (k6)",
    ),
    Foreign("-D", "hey", "--prompt-file FILE"),
    Foreign("-x", "hey", "--proxy URL"),
    Foreign("-T", "hey", "nothing", "the content type is the API's own JSON"),
    Foreign("-A", "hey", "nothing", "the accept header is the API's own"),
    Foreign("-h2", "hey", "--http2"),
    Foreign("--no-tui", "oha", "-q", "no live screen: -q prints no progress bar"),
    Foreign("-disable-keepalive", "hey", "--no-preconnect", "connections are always kept alive"),
    Foreign("--disable-keepalive", "oha", "--no-preconnect", "connections are always kept alive"),
    Foreign("--latency-correction", "oha", "--latency-from schedule", "with --rate"),
    # vegeta (single-dash long flags)
    Foreign("-rate", "vegeta", "--rate RATE", "per second: vegeta's 50/1s is --rate 50"),
    Foreign("-duration", "vegeta", "--duration DURATION"),
    Foreign(
        "-workers",
        "vegeta",
        "--max-concurrency N (with --rate)",
        "our --workers is OS processes",
    ),
    Foreign("-max-workers", "vegeta", "--max-concurrency N (with --rate)"),
    Foreign("-timeout", "vegeta", "--timeout DURATION"),
    Foreign("-targets", "vegeta", "the URL as the first argument, or --base-url URL"),
    Foreign("-output", "vegeta", "-o FILE"),
    Foreign("-header", "vegeta", "-H 'Name: value'"),
    Foreign("-insecure", "vegeta", "--insecure"),
    Foreign("-http2", "vegeta", "--http2"),
)
_BY_FLAG = {f.flag: f for f in FOREIGN_FLAGS}
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_NUMBER = re.compile(r"\d+(\.\d*)?")
# API name → its path; chat/completions before completions, as the longer match
_API_PATHS = (
    ("chat", "/chat/completions"),
    ("completions", "/completions"),
    ("responses", "/responses"),
    ("messages", "/messages"),
    ("embeddings", "/embeddings"),
)


def foreign_hint(flag: str) -> str | None:
    """The one-line error for another tool's flag, or None when it is not in the table."""
    entry = _BY_FLAG.get(flag)
    if entry is None:
        return None
    note = f" ({entry.note})" if entry.note else ""
    return f"{flag} is {entry.tools}'s flag; here use {entry.ours}{note}"


def apply_habits(args: list[str], params: Iterable[Any]) -> list[str]:
    """The `run` arguments with a target URL turned into flags; a ConfigError (exit 2) for a
    flag from another tool's habits. Values of our options are passed over."""
    option_params = [p for p in params if p.param_type_name == "option"]
    ours = {name for p in option_params for name in (*p.opts, *p.secondary_opts)}
    takes_value = {name for p in option_params if not p.is_flag and not p.count for name in p.opts}
    out: list[str] = []
    urls: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else None
        i += 1
        if arg == "--":
            out.extend(args[i - 1 :])
            break
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            _check_flag(name, following, ours)
            out.append(arg)
            if name == arg and arg in takes_value and following is not None:
                out.append(following)
                i += 1
        elif _is_url(arg):
            urls.append(arg)
        elif re.fullmatch(r"[\w.-]+:\d+(/\S*)?", arg):
            raise ConfigError(f"a target URL needs its scheme: http://{arg} or https://{arg}")
        else:
            out.append(arg)
    if len(urls) > 1:
        raise ConfigError(f"one target URL, please (got {len(urls)}: give the others a run each)")
    return [*url_flags(urls[0], out), *out] if urls else out


def _check_flag(name: str, following: str | None, ours: set[str]) -> None:
    if name not in ours:
        hint = foreign_hint(name)
        if hint is not None:
            raise ConfigError(hint)
        return
    value = following or ""
    if name == "-q" and _NUMBER.fullmatch(value):
        raise ConfigError(
            "-q is --quiet here; for oha/hey's -q (requests per second) use --rate RATE "
            "(the total, not per worker)"
        )
    if name == "-m" and value.upper() in _HTTP_METHODS:
        raise ConfigError(
            f"-m is --model here; oha/hey's -m is the HTTP method ({value}): the API "
            "decides it (POST)"
        )


def _is_url(text: str) -> bool:
    return re.match(r"https?://", text, re.IGNORECASE) is not None


def url_flags(url: str, args: list[str]) -> list[str]:
    """The flags a target URL stands for: `--base-url URL`, or with an API's path
    `--base-url …/v1 --api NAME` (`--endpoint URL --api NAME` for a path not under /v1)."""
    given = {a.split("=", 1)[0] for a in args}
    for flag in ("--base-url", "--endpoint", "--mock"):
        if flag in given:
            raise ConfigError(f"the target URL {_shown(url)} and {flag} both name the target")
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/models") and not parts.query:  # the model list's URL (curl's habit)
        return ["--base-url", f"{parts.scheme}://{parts.netloc}{path.removesuffix('/models')}"]
    for api, api_path in _API_PATHS:
        if not path.endswith(api_path):
            continue
        if "--api" in given:
            raise ConfigError(
                f"the target URL's path names --api {api}: leave out --api, or give the "
                "base URL (…/v1)"
            )
        prefix = path[: -len(api_path)]
        if prefix.endswith("/v1") and not parts.query:
            return ["--base-url", f"{parts.scheme}://{parts.netloc}{prefix}", "--api", api]
        return ["--endpoint", url, "--api", api]
    return ["--base-url", url]


def _shown(url: str) -> str:
    """The URL's scheme, host and path, never its user info or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if _has_port(parts) else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _has_port(parts: Any) -> bool:
    try:
        return parts.port is not None
    except ValueError:
        return False
