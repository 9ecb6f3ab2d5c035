"""Every error of llmbench-async, the exit codes, and the vocabulary of request failures.

Two families live here, as httpx keeps its whole hierarchy in one file:

    LlmbenchError            user-facing: one line on stderr, the process exits `exit_code`
    ├── ConfigError          bad flags, files or settings (exit 2, ExitCode.USAGE)
    │   └── ThresholdError   a --fail-if / --max-regression expression that does not parse
    ├── OutputError          an output file cannot be written (exit 2)
    ├── TargetError          the target cannot be benchmarked: unreachable, bad key (exit 3)
    └── MockServerError      the built-in mock server could not start (exit 4)

    RequestError             one request failed; `kind` is an ErrorKind (kept in the record)
    BadStreamError           the response stream broke the SSE / chunk format

Exit codes: 0 ok, 1 a threshold failed (the verdict), 2 bad usage, 3 target unusable
(from the start, not ready within --ready-timeout, or lost mid-run: --lost-after),
4 mock server failed, 130 SIGINT, 143 SIGTERM.
"""

from __future__ import annotations

import sys
from enum import IntEnum, StrEnum

from .redact import one_line, safe_excerpt, scrub


class ExitCode(IntEnum):
    """The exit codes: one table for the command line, the GitHub Action (its `exit-code`
    output) and the Python API."""

    OK = 0  # the run completed and every threshold held; compare found no regression
    THRESHOLD = 1  # a --fail-if threshold failed (a sweep: no level met the SLO), or a regression
    USAGE = 2  # bad usage or unreadable files; compare --strict with differing settings
    # the target is unusable (refused, TLS, 401/403, unknown model, all failed), not ready
    # within --ready-timeout, or lost mid-run (--lost-after K failed attempts in a row)
    TARGET = 3
    MOCK = 4  # the built-in mock server could not start
    SIGINT = 130  # interrupted by Ctrl-C
    SIGTERM = 143  # stopped by SIGTERM


EXIT_FOR_SIGNAL = {"SIGINT": ExitCode.SIGINT, "SIGTERM": ExitCode.SIGTERM}


class LlmbenchError(Exception):
    """The base of every user-facing error: its message is one line, `exit_code` the exit."""

    exit_code: int = ExitCode.USAGE


def error(message: str, secrets: tuple[str, ...] = ()) -> None:
    """Print a user-facing error: one line on stderr, secrets and URL passwords masked."""
    sys.stderr.write(f"llmbench-async: error: {one_line(scrub(message, secrets))}\n")
    sys.stderr.flush()


class ConfigError(LlmbenchError, ValueError):
    """A configuration problem: a bad flag value, an unreadable file (exit code 2)."""

    exit_code = ExitCode.USAGE


class ThresholdError(ConfigError):
    """A threshold expression that does not parse; says which one and why."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"bad threshold {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason


class OutputError(LlmbenchError):
    """An output file (JSON, Markdown, JUnit) cannot be written (exit code 2)."""

    exit_code = ExitCode.USAGE


class TargetError(LlmbenchError):
    """The target cannot be benchmarked (unreachable, bad key, unknown model): exit 3."""

    exit_code = ExitCode.TARGET


class MockServerError(LlmbenchError):
    """The built-in mock server could not start (exit code 4)."""

    exit_code = ExitCode.MOCK


class ErrorKind(StrEnum):
    """Why a request did not succeed. The report groups failures by these."""

    CONNECT = "connect"  # refused, DNS, unreachable
    TLS = "tls"  # certificate or handshake failure
    CONNECT_TIMEOUT = "connect_timeout"
    TIMEOUT = "timeout"  # the total per-request deadline passed
    READ_TIMEOUT = "read_timeout"  # no bytes for longer than the read timeout
    READ = "read"  # connection reset / closed mid-response
    PROTOCOL = "protocol"  # malformed HTTP
    BAD_STREAM = "bad_stream"  # malformed SSE / JSON, oversized event, stream error object
    AUTH = "auth"  # 401 / 403
    NOT_FOUND = "not_found"  # 404 (unknown model or path)
    RATE_LIMITED = "rate_limited"  # 429
    HTTP_4XX = "http_4xx"  # other client errors
    HTTP_5XX = "http_5xx"  # server errors (incl. 529 overloaded)
    # answers that are not a stream at all: a redirect, a 2xx in another content type, …
    REDIRECT = "redirect"  # 3xx: not followed; the message shows the (redacted) Location
    NOT_SSE = "not_sse"  # a 2xx to a streamed request that is not text/event-stream
    # a 2xx whose answer is not what was asked (docs/outcomes.md)
    INCOMPLETE = "incomplete"  # the stream or body ended without a finish reason
    WRONG_MODEL = "wrong_model"  # answered by another model than the one asked for
    # tool calls or a JSON reply (--tools, --response-format) that is not valid JSON, calls an
    # unknown tool, or does not match its schema (docs/structured-output.md)
    INVALID_OUTPUT = "invalid_output"


class RequestError(Exception):
    """A classified failure of one request; carries its kind and an optional HTTP status."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


class BadStreamError(Exception):
    """The response stream broke the SSE or OpenAI chunk format (or a size cap)."""


def kind_for_status(status: int) -> ErrorKind:
    """Map a non-2xx HTTP status onto an ErrorKind."""
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status >= 500:
        return ErrorKind.HTTP_5XX
    return ErrorKind.HTTP_4XX


def classify_exception(exc: BaseException) -> RequestError:
    """Translate an httpx / ssl / OS / parser exception into a RequestError."""
    # imported on a failure only: `--help` loads this module, and must not pay for these
    import ssl

    import httpx

    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, BadStreamError):
        return RequestError(ErrorKind.BAD_STREAM, str(exc))
    text = _one_line(exc)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return RequestError(ErrorKind.TLS, text)
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectTimeout):
        return RequestError(ErrorKind.CONNECT_TIMEOUT, text)
    if isinstance(exc, httpx.ReadTimeout):
        return RequestError(ErrorKind.READ_TIMEOUT, text)
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return RequestError(ErrorKind.TIMEOUT, text)
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError):
        return RequestError(ErrorKind.CONNECT, text)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return RequestError(ErrorKind.PROTOCOL, text)
    if isinstance(exc, httpx.ReadError | httpx.WriteError | OSError | httpx.TransportError):
        return RequestError(ErrorKind.READ, text)
    if isinstance(exc, UnicodeDecodeError | ValueError):
        return RequestError(ErrorKind.BAD_STREAM, text)
    return RequestError(ErrorKind.PROTOCOL, text)


def _one_line(exc: BaseException) -> str:
    # the client redacts the run's secrets from the whole message again (`safe_excerpt`)
    return safe_excerpt(str(exc).strip() or type(exc).__name__, (), 300)
