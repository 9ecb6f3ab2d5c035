"""Keeping secrets out of every output: the redacted form of a secret, and scrubbing secrets
out of text (server messages, URLs) before anything shows or cuts it."""

from __future__ import annotations

__all__ = ["redact_secret", "scrub_secrets"]


def redact_secret(value: str) -> str:
    """Show at most the first 3 and last 4 characters of a secret (`sk-...abcd`)."""
    if len(value) <= 8:
        return "***"
    return f"{value[:3]}...{value[-4:]}"


def scrub_secrets(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every occurrence of each secret in `text` by its redacted form."""
    for secret in secrets:
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, redact_secret(secret))
    return text
