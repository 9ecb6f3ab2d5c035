"""Secrets out of every text a server or an exception hands us: `safe_excerpt` redacts
first, then flattens to one printable line, then cuts. Every excerpt of a server-provided
or exception string goes through it, and every output sink scrubs again with `scrub`.

A secret is caught in its plain form, in its JSON (`\\u002d`) and URL (`%2D`) escaped
forms, and as any run of `MIN_PIECE` or more consecutive characters of it (a prefix left
by a cut made elsewhere, a suffix, a middle piece).
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "MIN_PIECE",
    "cut",
    "is_secret_name",
    "mask_url",
    "mask_userinfo",
    "needs_scrub",
    "one_line",
    "redact_secret",
    "safe_excerpt",
    "scrub",
    "secret_forms",
    "secret_pieces",
    "url_secrets",
]

MIN_PIECE = 8  # a run of this many characters of a secret is treated as the secret
MASK = "***"
ELLIPSIS = "..."

# one decoded character: a JSON \uXXXX escape, a JSON \/ or \\ escape, a %XX escape, or a char
_UNIT = re.compile(r"\\u([0-9a-fA-F]{4})|\\([\\/\"])|%([0-9a-fA-F]{2})|.", re.S)
# control and bidi characters, and lone surrogates (a JSON `\\udfff` no UTF-8 sink can write)
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")  # to the last `@`


def redact_secret(value: str) -> str:
    """Show at most the first 3 and last 4 characters of a secret (`sk-...abcd`)."""
    if len(value) <= MIN_PIECE:
        return MASK
    return f"{value[:3]}...{value[-4:]}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, escaped secret and `MIN_PIECE`-long piece of one masked."""
    for secret in secrets:
        if len(secret) < MIN_PIECE:
            if len(secret) >= 4 and secret in text:
                text = text.replace(secret, MASK)
            continue
        pieces = _pieces(secret)
        escaped = "\\u" in text or "\\U" in text or "%" in text or "\\/" in text
        if not escaped and not any(piece in text for piece in pieces):
            continue  # the fast path: no piece, and no escape that could hide one
        text = _mask_pieces(text, pieces, decode=False)  # plain first: `%00000000` is 8 zeros
        if escaped:
            text = _mask_pieces(text, pieces, decode=True)
    return mask_userinfo(text)


def needs_scrub(text: str, secrets: tuple[str, ...]) -> bool:
    """False only when `scrub(text, secrets)` is `text` unchanged: no escape that could hide
    a piece, no `@` of URL credentials, no short secret, and no window of `MIN_PIECE`
    characters that is a piece of any secret. One pass over `text` whatever the number of
    secrets: cheaper than `scrub` on the short texts of a record (True: call `scrub`)."""
    if "\\" in text or "%" in text or "@" in text:
        return True
    pieces, short = secret_pieces(secrets)
    if any(secret in text for secret in short):
        return True
    return any(text[i : i + MIN_PIECE] in pieces for i in range(len(text) - MIN_PIECE + 1))


@functools.lru_cache(maxsize=16)
def secret_pieces(secrets: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The pieces of every secret at least `MIN_PIECE` long, and the secrets of 4 to 7
    characters (shorter ones are never masked)."""
    pieces = frozenset().union(*(_pieces(s) for s in secrets if len(s) >= MIN_PIECE))
    return pieces, tuple(s for s in secrets if 4 <= len(s) < MIN_PIECE)


@functools.lru_cache(maxsize=64)
def _pieces(secret: str) -> frozenset[str]:
    """Every `MIN_PIECE`-long piece of `secret`: made once per secret, not per line scrubbed."""
    return frozenset(secret[i : i + MIN_PIECE] for i in range(len(secret) - MIN_PIECE + 1))


def _mask_pieces(text: str, pieces: frozenset[str], *, decode: bool) -> str:
    """Mask every window of `MIN_PIECE` characters (escapes decoded, with `decode`) that is
    a piece of the secret."""
    if not decode:
        return _mask_units(text, [(i, i + 1, c) for i, c in enumerate(text)], pieces)
    units: list[tuple[int, int, str]] = []  # (start, end) in `text`, decoded character
    for m in _UNIT.finditer(text):
        hex4, json_char, hex2 = m.group(1), m.group(2), m.group(3)
        if hex4 is not None:
            char = chr(int(hex4, 16))
        elif json_char is not None:
            char = json_char
        elif hex2 is not None:
            char = chr(int(hex2, 16))
        else:
            char = m.group(0)
        units.append((m.start(), m.end(), char))
    return _mask_units(text, units, pieces)


def _mask_units(text: str, units: list[tuple[int, int, str]], pieces: frozenset[str]) -> str:
    decoded = "".join(u[2] for u in units)
    covered = [False] * len(units)
    for i in range(len(units) - MIN_PIECE + 1):
        if decoded[i : i + MIN_PIECE] in pieces:
            for j in range(i, i + MIN_PIECE):
                covered[j] = True
    if not any(covered):
        return text
    out: list[str] = []
    pos = 0
    i = 0
    while i < len(units):
        if not covered[i]:
            i += 1
            continue
        j = i
        while j < len(units) and covered[j]:
            j += 1
        out.append(text[pos : units[i][0]])
        out.append(MASK)
        pos = units[j - 1][1]
        i = j
    out.append(text[pos:])
    return "".join(out)


def mask_userinfo(text: str) -> str:
    """`http://user:pass@host` → `http://***@host`, anywhere in `text`."""
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)


def one_line(text: str) -> str:
    """Whitespace squeezed to single spaces; control and bidi characters (and lone
    surrogates) shown as `?`, so a server cannot move the cursor, colour the terminal,
    reorder the line or make a UTF-8 write fail."""
    return _CONTROL.sub("?", " ".join(text.split()))


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending in `...` when something was cut."""
    limit = max(limit, 0)
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS


def safe_excerpt(text: str, secrets: Iterable[str] = (), limit: int = 300) -> str:
    """The one way to show a server-provided or exception string: redact the secrets first,
    then flatten it to one printable line, then cut it to `limit` characters."""
    return cut(one_line(scrub(text, tuple(secrets))), limit)


# a header or query parameter whose value is a credential: these words in its name, or
# one of the short names that carry one (Azure SAS `sig`, OAuth `code`, ...)
_SECRET_WORDS = ("auth", "key", "token", "secret", "passw", "cookie", "signature", "credential")
_SECRET_NAMES = frozenset({"sig", "code", "pass", "pwd", "session", "sid", "jwt", "access"})


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter named `name` carries a credential."""
    lower = name.strip().lower()
    return lower in _SECRET_NAMES or any(word in lower for word in _SECRET_WORDS)


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries: its user name and password, the `Basic` form of
    both, and the values of credential-like query parameters (as written and decoded)."""
    try:
        parts = urlsplit(url.strip())
        user, password = parts.username, parts.password
    except ValueError:
        return []
    found = [v for v in (user, password) if v]
    found += [unquote(v) for v in found]
    if user or password:
        found.append(basic_form(unquote(user or ""), unquote(password or "")))
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if is_secret_name(name):
            found.append(value)
    for piece in parts.query.split("&"):
        name, _, raw = piece.partition("=")
        if raw and is_secret_name(unquote(name)):
            found.append(raw)
    return [s for s in dict.fromkeys(found) if s]


def basic_form(user: str, password: str) -> str:
    """The `Authorization: Basic` token of a user name and password."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Every secret with its encoded forms: percent-encoded, JSON-escaped, and for a
    `Basic` credential its decoded user:password (and the password alone)."""
    found: list[str] = []
    for secret in secrets:
        if not secret:
            continue
        found += [secret, quote(secret, safe=""), json.dumps(secret)[1:-1]]
        found += [secret.upper(), secret.lower(), *base64_cores(secret)]
        scheme, _, token = secret.partition(" ")
        if scheme.lower() == "basic" and token:
            found += _basic_parts(token.strip())
        elif scheme.lower() == "bearer" and token:
            found.append(token.strip())
    return tuple(s for s in dict.fromkeys(found) if s)


def base64_cores(secret: str) -> list[str]:
    """The part of the secret's base64 that does not depend on what it is encoded with,
    for each of its 3 alignments (`user:KEY`, `KEY` alone, ...), standard and URL-safe: a
    server that echoes the key base64-encoded in any frame shows one of them."""
    raw = secret.encode()
    cores: list[str] = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        start = 4 if shift else 0  # the first group mixes in the bytes before the secret
        end = (shift + len(raw)) // 3 * 4  # the last whole group holds only the secret
        core = encoded[start:end]
        if len(core) >= MIN_PIECE:
            cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


def _basic_parts(token: str) -> list[str]:
    try:
        text = base64.b64decode(token, validate=True).decode("utf-8")
    except ValueError:
        return [token]
    user, _, password = text.partition(":")
    return [token, text, password, user]


def mask_url(url: str) -> str:
    """A URL to show: its credentials (`user:pass@`) and the values of credential-like
    query parameters as `***`."""
    text = mask_userinfo(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.query:
        return text
    pieces = []
    for piece in parts.query.split("&"):
        name, sep, value = piece.partition("=")
        secret = sep and value and is_secret_name(unquote(name))
        pieces.append(f"{name}={MASK}" if secret else piece)
    return urlunsplit(parts._replace(query="&".join(pieces)))
