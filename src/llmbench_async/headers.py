"""Request headers, validated once whatever their source (-H, --api-key, --api-key-file,
OPENAI_API_KEY, --api-key-header, the Python API): names are HTTP tokens, values hold no
CR, LF, NUL or other control character, and nobody but the transport sets a header that
frames the message or governs the hop. A refused value is never echoed (it may be a key)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import ConfigError
from .redact import is_secret_name

__all__ = [
    "FRAMING_HEADERS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "check_header_name",
    "check_headers",
    "check_key",
    "is_secret_header",
    "parse_header",
]

# the headers that frame the HTTP message or govern the hop: the transport sets them
FRAMING_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 * 1024
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # tab is allowed


def is_secret_header(name: str) -> bool:
    """Whether a header's value must be treated like the API key (Authorization, api-key,
    x-api-key, cookies, anything with key, token, secret or auth in its name)."""
    return is_secret_name(name)


def check_header_name(name: str, flag: str) -> None:
    """A ConfigError unless `name` is an HTTP token that frames nothing and is no proxy
    header (`Proxy-*` belongs to the route, `--proxy`)."""
    if not _TOKEN.fullmatch(name):
        lead = _TOKEN.match(name)
        shown = f"starting {lead.group(0)[:60]!r} " if lead else ""
        raise ConfigError(f"{flag}: bad header name {shown}(must be an HTTP token; not shown)")
    lower = name.lower()
    if lower in FRAMING_HEADERS or lower.startswith("proxy-"):
        raise ConfigError(f"{flag} {name}: this header frames the request; it cannot be set")


def check_value(name: str, value: str, flag: str) -> None:
    """No CR, LF, NUL or other control character, Latin-1 only; the value is not shown."""
    if _BAD_VALUE.search(value):
        raise ConfigError(f"{flag} {name}: the value holds a control character (CR, LF, NUL...)")
    if any(ord(c) > 255 for c in value):
        raise ConfigError(f"{flag} {name}: the value must be Latin-1 text")


def check_key(key: str, key_header: str | None) -> None:
    """The API key, wherever it came from (--api-key, --api-key-file, OPENAI_API_KEY), and
    the header that carries it (--api-key-header)."""
    if _BAD_VALUE.search(key) or any(ord(c) > 255 for c in key):
        raise ConfigError(
            "the API key (--api-key, --api-key-file or OPENAI_API_KEY) holds a control "
            "character (CR, LF, NUL...) or a non-Latin-1 character; it is not shown"
        )
    if key_header is not None and key_header != "none":
        check_header_name(key_header, "--api-key-header")


def parse_header(text: str) -> tuple[str, str]:
    """`'Name: value'` → (name, value), or a ConfigError naming the expected form."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or not _TOKEN.fullmatch(name):
        # only the leading name is shown: the rest may be a credential or a control character
        lead = _TOKEN.match(text.strip()) if sep else None  # no `:`: maybe a bare token
        shown = f", starting {lead.group(0)[:60]!r}" if lead else ""
        raise ConfigError(
            f"--header must look like 'Name: value' (got one that does not{shown}; "
            "the rest is not shown)"
        )
    check_value(name, value, "--header")
    return name, value.strip()


def check_headers(headers: Mapping[str, str]) -> None:
    """-H rules: at most 100 headers and 64 KiB, valid names, each name once (case does
    not matter), no framing header, no control character in a value."""
    if len(headers) > MAX_HEADERS:
        raise ConfigError(f"--header given {len(headers)} times; at most {MAX_HEADERS}")
    size = sum(len(k) + len(v) + 4 for k, v in headers.items())
    if size > MAX_HEADER_BYTES:
        raise ConfigError(f"--header: {size} bytes of headers; at most 64 KiB")
    seen: set[str] = set()
    for name, value in headers.items():
        check_header_name(name, "--header")
        check_value(name, value, "--header")
        lower = name.lower()
        if lower in seen:
            raise ConfigError(f"--header {name} given twice (header names ignore case)")
        seen.add(lower)
