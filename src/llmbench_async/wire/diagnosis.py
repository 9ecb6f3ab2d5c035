"""Honest diagnosis of responses that are not what a streamed request expects.

A 2xx that is not an event stream (a JSON error, a captive portal's HTML page, a whole
completion from a server that ignored `stream`) and a 3xx redirect each become one clear
message, with the server's words redacted before they are cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..errors import BadStreamError, ErrorKind, RequestError
from ..redact import safe_excerpt
from .apis import BodyResult, api_spec
from .protocol import error_message_from_body

EXCERPT_CHARS = 200
_SUFFIXES = (
    "/chat/completions",
    "/completions",
    "/responses",
    "/messages",
    "/embeddings",
    "/models",
)


@dataclass(frozen=True, slots=True)
class NonSSE:
    """What a non-event-stream 2xx to a streamed request was: a failure, or a completion."""

    error: RequestError | None
    completion: BodyResult | None = None
    note: str | None = None


def non_sse_failure(
    content_type: str,
    body: bytes,
    status: int | None,
    secrets: Sequence[str],
    parse: Callable[[bytes], BodyResult] | None = None,
) -> NonSSE:
    """Classify a 2xx body that came without `text/event-stream`; `parse` reads a whole body
    of the API asked (None: chat completions)."""
    shown = safe_excerpt(content_type, secrets, 80)
    head = f"expected text/event-stream, got Content-Type {shown!r}"
    text = body.decode("utf-8", "replace")
    lowered = text.lstrip()[:200].lower()
    if "html" in content_type.lower() or lowered.startswith(("<!doctype html", "<html")):
        excerpt = safe_excerpt(text, secrets, EXCERPT_CHARS)
        message = f"{head}: got an HTML page (a login or captive portal?): {excerpt}"
        return NonSSE(RequestError(ErrorKind.NOT_SSE, message, status))
    try:
        parsed = (parse or api_spec("chat").parse_body)(body)
    except BadStreamError:
        parsed = None
    if (
        parsed is not None
        and parsed.error is None
        and (parsed.has_output or parsed.completion_tokens)
    ):
        note = (
            "the server returned a whole completion although stream=true was asked: "
            "counted with non-streamed timing (no TTFT)"
        )
        return NonSSE(None, parsed, note)
    if parsed is not None and parsed.error is not None:
        detail = error_message_from_body(body, secrets=secrets)
        message = f"{head}: server error: {detail}"
    else:
        message = f"{head}: {safe_excerpt(text, secrets, EXCERPT_CHARS) or 'empty body'}"
    return NonSSE(RequestError(ErrorKind.NOT_SSE, message, status))


def redirect_failure(
    status: int, location: str | None, request_url: str, secrets: Sequence[str]
) -> RequestError:
    """A 3xx is not followed: say where it points and which --base-url would go there."""
    if not location:
        return RequestError(
            ErrorKind.REDIRECT, f"HTTP {status} redirect without a Location (not followed)", status
        )
    shown = safe_excerpt(location, secrets, EXCERPT_CHARS)
    message = f"HTTP {status} redirect to {shown} (not followed)"
    suggestion = _suggest_base_url(location, request_url)
    if suggestion is not None:
        message += f"; try --base-url {safe_excerpt(suggestion, secrets, 200)}"
    return RequestError(ErrorKind.REDIRECT, message, status)


def _suggest_base_url(location: str, request_url: str) -> str | None:
    """The base URL the redirect implies: its target minus the endpoint path we asked for."""
    target = urlsplit(location)
    asked = urlsplit(request_url)
    scheme = target.scheme or asked.scheme
    netloc = target.netloc or asked.netloc
    if scheme not in ("http", "https") or not netloc:
        return None
    path = target.path
    for suffix in _SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((scheme, netloc, path.rstrip("/"), target.query, ""))
