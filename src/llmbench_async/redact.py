"""Keeping secrets out of every output: the redacted form of a secret, and scrubbing secrets
out of text (server messages, URLs) before anything shows or cuts it."""

from __future__ import annotations

import json
from urllib.parse import quote

__all__ = ["redact_secret", "scrub_secrets"]

_PIECE = 8  # any run of this many characters of a secret counts as a leak of it


def redact_secret(value: str) -> str:
    """Show at most the first 3 and last 4 characters of a secret (`sk-...abcd`)."""
    if len(value) <= 8:
        return "***"
    return f"{value[:3]}...{value[-4:]}"


def scrub_secrets(text: str, secrets: tuple[str, ...]) -> str:
    """Replace each secret in `text` by its redacted form: as is, JSON-escaped or
    URL-encoded, and any piece of it at least 8 characters long (a prefix or suffix a
    server cut, or an echo split across words) by `***`."""
    for secret in secrets:
        if len(secret) < 4:
            continue
        for form in _forms(secret):
            if form in text:
                text = text.replace(form, redact_secret(secret))
        if len(secret) >= _PIECE:
            text = _scrub_pieces(text, secret)
    return text


def _forms(secret: str) -> tuple[str, ...]:
    escaped = json.dumps(secret)[1:-1]
    unicode_escaped = "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in secret)
    return (secret, escaped, unicode_escaped, quote(secret, safe=""))


def _scrub_pieces(text: str, secret: str) -> str:
    grams = {secret[i : i + _PIECE] for i in range(len(secret) - _PIECE + 1)}
    covered = bytearray(len(text))
    found = False
    for i in range(len(text) - _PIECE + 1):
        if text[i : i + _PIECE] in grams:
            covered[i : i + _PIECE] = b"\x01" * _PIECE
            found = True
    if not found:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
