"""The flag-string parsers of the `run`, `report` and `compare` commands: text as typed
→ a value `RunConfig` (or the gate) takes, or a one-line `ConfigError` naming the flag.
The value rules themselves are checked once, by `RunConfig`."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..inbound import check_file, loads
from ..limits import MAX_BODY_BYTES, MAX_KEY_FILE_BYTES
from ..loadgen.workload import parse_input_tokens
from ..results.gate import Threshold, ThresholdError, parse_thresholds
from ..units import parse_duration


def parse_warmup(text: str) -> tuple[int, float]:
    """`--warmup 20` (requests) or `--warmup 10s` (time) → (requests, seconds)."""
    raw = text.strip()
    if raw.isdigit():
        return int(raw), 0.0
    try:
        float(raw)
    except ValueError:
        return 0, parse_duration(raw, "--warmup")
    raise ConfigError(  # a bare number is a request count, never seconds
        f"--warmup: a bare number is a request count, a whole number (got {raw!r}); "
        "a time takes its unit, e.g. 10s"
    )


def parse_levels(text: str, flag: str, kind: type[int] | type[float]) -> list[float]:
    """`4` or `1,4,16` → the levels of a sweep (each > 0)."""
    levels: list[float] = []
    for part in text.split(","):
        try:
            value = kind(part.strip())
        except ValueError:
            # vegeta writes a rate as 50/1s; ours is per second
            hint = "; a rate is per second: vegeta's 50/1s is --rate 50" if "/" in part else ""
            raise ConfigError(
                f"{flag} must be a number or a list like 1,4,16 (got {text!r}){hint}"
            ) from None
        if not 0 < value < float("inf"):
            raise ConfigError(f"{flag} values must be finite and more than 0 (got {text!r})")
        levels.append(value)
    return levels


def parse_fail_if(texts: Sequence[str] | None) -> tuple[Threshold, ...]:
    try:
        return parse_thresholds(texts or ())
    except ThresholdError as exc:
        raise ConfigError(f"--fail-if {exc.expression!r}: {exc.reason}") from None


def parse_lost_after(text: str) -> int:
    """--lost-after K: failed attempts in a row that mean the target is gone; `off` or 0:
    never stop for that."""
    raw = text.strip().lower()
    if raw in ("off", "0", "none", "never"):
        return 0
    if not raw.isdigit():
        raise ConfigError(f"--lost-after must be a count of attempts or off (got {text!r})")
    return int(raw)


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


def read_key_file(path: Path) -> str:
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


def parse_input_range(spec: str | None) -> tuple[int, int] | None:
    if spec is None:
        return None
    synthetic = parse_input_tokens(spec)
    return synthetic.mean, synthetic.stdev


def parse_extra_body(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    if len(text) > MAX_BODY_BYTES:
        raise ConfigError("--extra-body is longer than 16 MiB")
    body = loads(text.encode("utf-8", "surrogatepass"), "--extra-body", sep=" is ")
    if not isinstance(body, dict):
        raise ConfigError("--extra-body must be a JSON object")
    return body


def parse_workers(text: str, concurrency: int, *, loopback: bool) -> int:
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
