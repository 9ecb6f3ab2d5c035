"""One grammar for every duration, size and URL a flag takes.

Durations: a number with `ms`, `s`, `m` or `h` (`500ms`, `30s`, `1.5m`, `2h`); a bare number
is in the flag's documented unit (seconds for `--timeout`, milliseconds for the mock's
`--ttft-ms`). Sizes: a number with `B`, `KB`/`MB`/`GB` (powers of 1000) or `KiB`/`MiB`/`GiB`
(powers of 1024; `K`, `M`, `G` alone too); a bare number is bytes.

URLs: http(s) with a host and a valid port, no credentials unless the flag allows them (a
proxy), never shown with them; a base URL ends in `/v1`.

The parsers only read the text: the range of each value (finite, not negative, not huge) is
checked by the flag's own limit (`limits.py` for the `run` flags, `MockConfig` for the mock's).
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from .errors import ConfigError
from .redact import MASK, mask_url

SECONDS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
BYTES: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "k": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gib": 1024**3,
}
_UNIT_NAMES = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours"}
# a number (sign, decimals, exponent; inf and nan pass, for the limit to refuse by name)
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?|[+-]?(?:inf(?:inity)?|nan)"
_QUANTITY = re.compile(rf"\s*({_NUMBER})\s*([a-z]*)\s*")


def _split(text: str) -> tuple[float, str] | None:
    match = _QUANTITY.fullmatch(text.lower())
    if match is None:
        return None
    return float(match.group(1)), match.group(2)


# Go's compound form (k6, vegeta: `1m30s`) is refused with its value in seconds
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_time(value: str | float, flag: str, unit: str = "s") -> float:
    """A duration in `unit` (`s` or `ms`): `30s`, `500ms`, `2m`, `1h`, or a bare number
    already in `unit`. Numbers given as numbers (the Python API) pass as they are."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    parsed = _split(str(value))
    if parsed is None or (parsed[1] and parsed[1] not in SECONDS):
        parts = _PART.findall(str(value).lower())
        total = sum(float(n) * SECONDS[u] for n, u in parts)
        hint = f"; k6's {str(value).strip()} is {total:g}s" if len(parts) > 1 else ""
        raise ConfigError(
            f"{flag} must be a duration like 30s, 500ms or 2m; a bare number is "
            f"{_UNIT_NAMES[unit]} (got {str(value)!r}){hint}"
        )
    number, written = parsed
    if not written:
        return number
    return number * SECONDS[written] / SECONDS[unit]


def parse_duration(text: str, flag: str) -> float:
    """`90`, `90s`, `1.5m`, `2h`, `500ms` → seconds, finite and more than 0."""
    seconds = parse_time(text, flag)
    if not 0 < seconds < math.inf:
        raise ConfigError(f"{flag} must be finite and more than 0 (got {text!r})")
    return seconds


def parse_size(value: str | int, flag: str) -> int:
    """A size in bytes: `4096`, `64KiB`, `1MiB`, `2MB`. Whole bytes only."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    parsed = _split(str(value))
    if parsed is None or (parsed[1] and parsed[1] not in BYTES):
        raise ConfigError(
            f"{flag} must be a size like 4096, 64KiB or 1MiB; a bare number is bytes "
            f"(got {str(value)!r})"
        )
    number, written = parsed
    size = number * BYTES[written or "b"]
    if not math.isfinite(size) or size != int(size) or abs(size) > 2**62:
        raise ConfigError(f"{flag} must be a whole number of bytes (got {str(value)!r})")
    return int(size)


def check_url(url: str, flag: str, *, credentials: bool = False) -> str:
    """An http(s) URL with a host, a valid port and (unless `credentials`) no user name or
    password, stripped; else a ConfigError naming `flag`. Credentials are never shown
    (`http://***@host`): a proxy URL may carry them, no other URL may."""
    text = url.strip()
    try:
        netloc = urlsplit(text).netloc
    except ValueError:  # an unclosed IPv6 bracket, ...
        raise ConfigError(f"{flag} is not a valid URL (got {shown_url(text)!r})") from None
    if "@" in netloc and not credentials:
        raise ConfigError(
            f"{flag} must not hold credentials (got {shown_url(text)!r}); "
            "pass the key with --api-key or a header with -H 'Authorization: ...'"
        )
    if any(ord(c) < 33 or ord(c) == 127 for c in text):
        raise ConfigError(f"{flag} must not hold spaces or control characters")
    parts = urlsplit(text)
    shown = shown_url(text)
    if parts.scheme not in ("http", "https"):
        hint = ""
        if flag == "--endpoint" and text.startswith("/"):  # vLLM's --endpoint is a path
            hint = "; for a path like vLLM's --endpoint /v1/completions, use --api completions"
        raise ConfigError(f"{flag} must start with http:// or https:// (got {shown!r}){hint}")
    if not parts.hostname:
        raise ConfigError(f"{flag} has no host (got {shown!r})")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(f"{flag} has a bad port (got {shown!r})") from exc
    return text


def shown_url(text: str) -> str:
    """A URL for an error message: everything before its last `@` (credentials, even in a
    malformed URL such as `user:pass@host`) shown as `***`, the scheme kept."""
    if "@" in text:
        scheme = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", text)
        text = (scheme.group(0) if scheme else "") + MASK + "@" + text.rsplit("@", 1)[1]
    return mask_url(text)  # and credential-like query values


def normalize_base_url(url: str, flag: str = "--base-url") -> str:
    """Accept `http(s)://host[:port][/prefix][/v1][/][?query]` and return it with its path
    ending in `/v1` (the query, e.g. Azure's api-version, is kept)."""
    text = check_url(url, flag)
    parts = urlsplit(text)
    path = parts.path.rstrip("/").removesuffix("/models")  # the model list's URL: its base
    api_path = re.search(
        r"/v1(/chat/completions|/completions|/responses|/messages|/embeddings)$", path
    )
    if api_path is not None:  # an API's path would become …/chat/completions/v1
        base = shown_url(f"{parts.scheme}://{parts.netloc}{path[: api_path.start(1)]}")
        raise ConfigError(
            f"{flag} is the base URL, not an API's path (got {shown_url(text)!r}): give "
            f"{base} and --api, or the whole URL as the first argument"
        )
    if not path.endswith("/v1"):
        path += "/v1"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{path}{query}"
