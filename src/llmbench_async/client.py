"""One request → one `RequestRecord`: streaming, timeouts, retries, error classification."""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import anyio
import httpx

from .apis import ApiSpec, BodyResult, api_spec
from .config import RetryPolicy, Timeouts
from .errors import BadStreamError, ErrorKind, RequestError, classify_exception, kind_for_status
from .inbound import BodyError, decoded, decoders_for, read_body, read_prefix
from .limits import MAX_ERROR_BODY_BYTES, MAX_RESPONSE_BYTES, MAX_STREAM_BYTES
from .odd import non_sse_failure, redirect_failure
from .outcomes import answer_problem, model_matches
from .protocol import (
    error_message_from_body,
    finish_text,
    malformed_event_message,
    response_id_text,
    served_model,
)
from .records import RequestRecord, TokenSource
from .redact import safe_excerpt
from .sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder
from .transport import EXCHANGE_KEY, Exchange, body_pump, transport_for

MESSAGE_LIMIT = 500  # characters of an error message kept on a record
_NO_RETRY_KINDS = frozenset(
    {
        ErrorKind.AUTH,
        ErrorKind.NOT_FOUND,
        ErrorKind.HTTP_4XX,
        ErrorKind.INCOMPLETE,
        ErrorKind.WRONG_MODEL,
    }
)
_RETRY_KINDS = frozenset({ErrorKind.CONNECT, ErrorKind.CONNECT_TIMEOUT})


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to send: the endpoint, headers and limits shared by all requests."""

    url: str
    headers: Mapping[str, str]
    stream: bool = True
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rng: random.Random = field(default_factory=random.Random, compare=False)
    secrets: tuple[str, ...] = ()  # scrubbed from every error message a server sends back
    # the API object interprets events and bodies; embeddings are checked
    # to return one vector per input of the batch
    api: ApiSpec = field(default_factory=lambda: api_spec("chat"), compare=False)
    batch: int = 1
    # the model asked for, and other names accepted as its answer (`outcomes.model_matches`)
    model: str | None = None
    accept_models: tuple[str, ...] = ()
    # HTTP versions the responses came in (b"HTTP/1.1", b"HTTP/2"): the report says which
    protocols: set[bytes] = field(default_factory=set, compare=False, repr=False)
    _parsed: httpx.URL = field(init=False, repr=False, compare=False)
    _head: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = httpx.URL(self.url)
        head = [(b"Host", parsed.netloc)]
        head += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "_head", tuple(head))

    def request(self, body: bytes, exchange: Exchange) -> httpx.Request:
        """The `httpx.Request` for one body, built from parts parsed once per run."""
        headers = [*self._head, (b"Content-Length", str(len(body)).encode())]
        timeout = {"connect": self.timeouts.connect, "read": None, "write": None, "pool": None}
        return httpx.Request(
            "POST",
            self._parsed,
            headers=headers,
            content=body,
            extensions={"timeout": timeout, EXCHANGE_KEY: exchange},
        )


@asynccontextmanager
async def _open(
    http: httpx.AsyncClient, target: Target, body: bytes, exchange: Exchange
) -> AsyncIterator[tuple[httpx.Response, AsyncIterable[bytes]]]:
    """Send the request and yield the response with its body stream, decoded when the server
    compressed it anyway (gzip, deflate, br, zstd: httpx's own decoders).

    The request goes straight to the transport that serves the URL (the lean one, or a proxy
    or HTTP/2 mount): `AsyncClient.send`'s request building, URL merging and cookie extraction
    cost 0.14-0.19 ms a request (16-23% of the client's CPU, benchmarks/cpu_per_request.py)
    and do nothing for a load test.
    """
    request = target.request(body, exchange)
    resp = await transport_for(http, target._parsed).handle_async_request(request)
    resp.request = request
    target.protocols.add(resp.extensions.get("http_version", b"HTTP/1.1"))
    try:
        stream = resp.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        coding = resp.headers.get("content-encoding")
        if coding is not None and coding.strip().lower() not in ("", "identity"):
            _check_codings(coding)
            # decoded through the inbound boundary: bounded pieces, capped decoded size
            yield resp, _request_errors(decoded(stream, coding, MAX_STREAM_BYTES, "response"))
        else:
            yield resp, stream
    finally:
        await resp.aclose()


def _check_codings(header: str) -> None:
    """A Content-Encoding we cannot decode with a bounded output is a named error, not
    garbled SSE."""
    try:
        decoders_for(header)
    except BodyError as exc:
        raise RequestError(ErrorKind.PROTOCOL, str(exc)) from None


async def _request_errors(pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A body over its cap, or one that does not decompress, fails the request."""
    try:
        async for piece in pieces:
            yield piece
    except BodyError as exc:
        raise RequestError(ErrorKind.BAD_STREAM, str(exc)) from None


async def execute(
    http: httpx.AsyncClient,
    target: Target,
    index: int,
    body: bytes,
    scheduled_ns: int,
    capture: list[str] | None = None,
    on_attempt: Callable[[RequestError | None], bool] | None = None,
) -> RequestRecord:
    """Send one request (with retries) and measure it; never raises for request failures.

    With `capture`, the reply's text pieces are appended to it (multi-turn sessions carry
    the reply into the next turn); it holds the last attempt's reply only. `on_attempt` is
    told of each attempt's outcome (None: success) before any backoff; True from it means
    do not retry (the run is stopping, or the target is unusable)."""
    first_send_ns: int | None = None
    causes: list[str] = []
    attempt = 0
    while True:
        attempt += 1
        if capture is not None:
            capture.clear()
        outcome = await _attempt(http, target, index, body, scheduled_ns, attempt, capture)
        if first_send_ns is None:
            first_send_ns = outcome.record.send_ns
        error = outcome.error
        halt = on_attempt is not None and on_attempt(error)
        if error is None or halt or not _should_retry(error, outcome, attempt, target.retry):
            record = outcome.record
            if attempt > 1:  # the record already counts its attempts
                record = replace(record, first_send_ns=first_send_ns, retry_causes=tuple(causes))
            return record
        causes.append(retry_cause(error))
        await anyio.sleep(_backoff(outcome.retry_after, attempt, target.retry, target.rng))


@dataclass(slots=True)
class _Outcome:
    record: RequestRecord
    error: RequestError | None
    output_started: bool
    retry_after: float | None = None


_CAUSE_OF_KIND = {
    ErrorKind.TIMEOUT: "timeout",
    ErrorKind.READ_TIMEOUT: "timeout",
    ErrorKind.CONNECT_TIMEOUT: "timeout",
    ErrorKind.CONNECT: "connect",
    ErrorKind.TLS: "connect",
    ErrorKind.READ: "read",
    ErrorKind.PROTOCOL: "read",
}


def retry_cause(error: RequestError) -> str:
    """Why an attempt was retried, one of `metrics.RETRY_CAUSES`: the HTTP status class (429 apart),
    else timeout, connect or read."""
    if error.status is not None and error.status >= 400:
        if error.status == 429:
            return "http_429"
        return "http_5xx" if error.status >= 500 else "http_4xx"
    return _CAUSE_OF_KIND.get(error.kind, "other")


def _should_retry(
    error: RequestError, outcome: _Outcome, attempt: int, policy: RetryPolicy
) -> bool:
    if attempt > policy.retries or outcome.output_started:
        return False
    if error.kind in _NO_RETRY_KINDS:
        return False
    if error.status is not None:
        return error.status in policy.retry_statuses
    return error.kind in _RETRY_KINDS


def _backoff(
    retry_after: float | None, attempt: int, policy: RetryPolicy, rng: random.Random
) -> float:
    """Honour the server's Retry-After (capped); otherwise exponential backoff, full jitter."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), policy.max_backoff)
    ceiling = min(policy.max_backoff, policy.base_backoff * 2 ** (attempt - 1))
    return rng.uniform(0.0, ceiling)


_RESET_HEADERS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from the first hint present of:
    `retry-after-ms`; `Retry-After` (seconds or HTTP date); LiteLLM's
    `llm_provider-retry-after`; OpenAI's `x-ratelimit-reset-requests/-tokens` (`6m0s`)."""
    ms = _number(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    for name in ("retry-after", "llm_provider-retry-after"):
        value = headers.get(name)
        if value is not None:
            seconds = _number(value)
            if seconds is None:
                seconds = _http_date_delay(value, now)
            if seconds is not None:
                return seconds
    resets = [d for d in (_duration(headers.get(h)) for h in _RESET_HEADERS) if d is not None]
    return max(resets) if resets else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number >= 0 and number == number else None


def _http_date_delay(value: str, now: float | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _duration(value: str | None) -> float | None:
    """OpenAI's reset durations: `1s`, `6m0s`, `20ms`, `1h2m3.5s`, or a bare number."""
    if value is None:
        return None
    text = value.strip().lower()
    plain = _number(text)
    if plain is not None:
        return plain
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


class _Watchdog:
    """Cancels an attempt when the total deadline passes or the stream goes silent too long.

    A single timer per attempt that re-arms itself lazily: receiving data only stores an
    instant, so the per-chunk cost is one assignment.
    """

    __slots__ = ("_handle", "_read_ns", "_scope", "deadline_ns", "fired", "last_ns")

    def __init__(self, scope: anyio.CancelScope, start_ns: int, timeouts: Timeouts) -> None:
        self._scope = scope
        self.last_ns = start_ns
        self.deadline_ns = None if timeouts.total is None else start_ns + int(timeouts.total * 1e9)
        self._read_ns = None if timeouts.read is None else int(timeouts.read * 1e9)
        self.fired: ErrorKind | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._arm(start_ns)

    def _next_ns(self) -> int | None:
        candidates = []
        if self.deadline_ns is not None:
            candidates.append(self.deadline_ns)
        if self._read_ns is not None:
            candidates.append(self.last_ns + self._read_ns)
        return min(candidates) if candidates else None

    def _arm(self, now_ns: int) -> None:
        due = self._next_ns()
        if due is None:
            return
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(max(0.0, (due - now_ns) / 1e9), self._check)

    def _check(self) -> None:
        now = time.perf_counter_ns()
        if self.deadline_ns is not None and now >= self.deadline_ns:
            self.fired = ErrorKind.TIMEOUT
        elif self._read_ns is not None and now - self.last_ns >= self._read_ns:
            self.fired = ErrorKind.READ_TIMEOUT
        if self.fired is not None:
            self._scope.cancel()
        else:
            self._arm(now)

    def touch(self) -> None:
        """Bytes came now (for bodies read as an async iterator)."""
        self.last_ns = time.perf_counter_ns()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _Measure:
    """Mutable per-attempt measurements, frozen into a RequestRecord at the end."""

    __slots__ = (
        "completion_tokens",
        "done",
        "finish_reason",
        "first_content_ns",
        "first_ns",
        "gaps",
        "headers_ns",
        "last_ns",
        "model",
        "note",
        "output_events",
        "prompt_tokens",
        "reasoning_tokens",
        "response_id",
        "status",
        "whole_output",
    )

    def __init__(self) -> None:
        self.headers_ns: int | None = None
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.gaps: list[int] = []
        self.output_events = 0
        self.whole_output = False  # a whole (non-streamed) body carried output
        self.completion_tokens: int | None = None
        self.prompt_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.first_content_ns: int | None = None
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.status: int | None = None
        self.done = False
        self.note: str | None = None


async def _attempt(
    http: httpx.AsyncClient,
    target: Target,
    index: int,
    body: bytes,
    scheduled_ns: int,
    attempt: int,
    capture: list[str] | None = None,
) -> _Outcome:
    m = _Measure()
    error: RequestError | None = None
    retry_after: float | None = None
    start_ns = time.perf_counter_ns()
    with anyio.CancelScope() as scope:
        dog = _Watchdog(scope, start_ns, target.timeouts)
        exchange = Exchange(dog)
        exchange.start_ns = start_ns
        try:
            if target.stream:
                error, retry_after = await _stream(http, target, body, m, dog, exchange, capture)
            else:
                error, retry_after = await _whole(http, target, body, m, dog, exchange, capture)
        except BadStreamError as exc:
            error = RequestError(ErrorKind.BAD_STREAM, str(exc), m.status)
        except Exception as exc:
            error = classify_exception(exc)
            if error.status is None and m.status is not None:
                error.status = m.status
        finally:
            dog.stop()
    # the arrival of the response's final bytes (the transport's read callback); a request
    # that never got them (a failure, a timeout) ends now
    end_ns = exchange.end_ns or time.perf_counter_ns()
    if dog.fired is not None:
        limit = target.timeouts.total if dog.fired is ErrorKind.TIMEOUT else target.timeouts.read
        what = "total deadline" if dog.fired is ErrorKind.TIMEOUT else "read timeout"
        error = RequestError(dog.fired, f"{what} of {limit:g} s passed", m.status)
    elif error is None:
        error = _answer_error(m, target)
    return _Outcome(
        _record(m, index, scheduled_ns, start_ns, end_ns, exchange, error, attempt, target),
        error,
        m.first_ns is not None,
        retry_after,
    )


def _answer_error(m: _Measure, target: Target) -> RequestError | None:
    """A whole 2xx answer that is still not a success (docs/outcomes.md): no finish reason
    (`incomplete`; embeddings have none), or another model than the one asked for."""
    reason = m.finish_reason
    if not target.api.streams:  # embeddings: only the model is checked
        reason = reason or "n/a"
    # the name asked for, bounded as a served name is, so a long or unprintable name that
    # the server echoes exactly is the same model
    asked = served_model(target.model)
    problem = answer_problem(reason, m.model, asked, target.accept_models)
    if problem is None:
        return None
    kind, message = problem
    if reason is None and target.stream and m.note is None:  # a stream, not a whole body
        final = "[DONE]" if target.api.name in ("chat", "completions") else "its final event"
        if m.done:
            message = f"the stream ended with {final} but no finish reason"
        else:
            message = f"the stream ended without a finish reason or {final}"
    return RequestError(ErrorKind(kind), message, m.status)


def _record(
    m: _Measure,
    index: int,
    scheduled_ns: int,
    start_ns: int,
    end_ns: int,
    exchange: Exchange,
    error: RequestError | None,
    attempt: int,
    target: Target,
) -> RequestRecord:
    """Freeze one attempt's measurements. The send instant is when the request bytes went
    out on a ready connection; before that (a failed connect) it is the attempt's start."""
    source: TokenSource
    if m.completion_tokens is not None:
        tokens: int | None = m.completion_tokens
        source = "usage"
    elif m.output_events:
        tokens, source = m.output_events, "chunks"
    elif error is None and not m.whole_output:  # a success with no output at all: 0 counted
        tokens, source = 0, "chunks"
    else:
        tokens, source = None, "none"
    return RequestRecord(
        index=index,
        scheduled_ns=scheduled_ns,
        send_ns=exchange.send_ns or start_ns,
        end_ns=end_ns,
        headers_ns=m.headers_ns,
        first_token_ns=m.first_ns,
        last_token_ns=m.last_ns,
        first_content_ns=m.first_content_ns,
        token_gaps_ns=tuple(m.gaps),
        output_events=m.output_events,
        output_tokens=tokens,
        input_tokens=m.prompt_tokens,
        reasoning_tokens=m.reasoning_tokens,
        token_source=source,
        status=m.status,
        error_kind=None if error is None else error.kind.value,
        error_message=(
            None if error is None else safe_excerpt(error.message, target.secrets, MESSAGE_LIMIT)
        ),
        attempts=attempt,
        response_id=response_id_text(m.response_id),
        ready_ns=exchange.ready_ns,
        connect_ns=exchange.connect_ns,
        new_connection=exchange.new_connection,
        note=m.note,
        finish_reason=m.finish_reason,
        model=m.model,
    )


async def _stream(
    http: httpx.AsyncClient,
    target: Target,
    body: bytes,
    m: _Measure,
    dog: _Watchdog,
    exchange: Exchange,
    capture: list[str] | None = None,
) -> tuple[RequestError | None, float | None]:
    async with _open(http, target, body, exchange) as (resp, raw_stream):
        failure = await _headers_received(resp, raw_stream, m, dog, target, exchange)
        if failure is not None:
            return failure
        content_type = resp.headers.get("content-type")
        if content_type is not None and "text/event-stream" not in content_type.lower():
            error = await _not_sse(content_type, raw_stream, m, dog, target, exchange, capture)
            return error, None
        events = _Events(target, m, dog, capture)
        pump = body_pump(raw_stream)
        if pump is not None:  # the lean transport: events are read in its read callback
            await pump(events.feed)
        else:
            async for raw in raw_stream:
                # the piece's arrival in this process (the lean transport), not after parsing
                events.feed(raw, _arrival(exchange))
            _ended(exchange)
        events.close()
    return None, None


def _arrival(exchange: Exchange) -> int:
    """When the body piece just handed over reached the process: the lean transport's
    read-callback instant; through httpx's transports (HTTP/2, proxies), which give none,
    the instant the task got the piece, the best there is."""
    instant = exchange.arrived_ns or time.perf_counter_ns()
    exchange.last_piece_ns = instant
    return instant


def _ended(exchange: Exchange) -> None:
    """A body read to its end: the lean transport stamped its end at arrival; through
    httpx's transports the end is the last piece's instant (the body's final bytes most
    often come in it), else now."""
    if exchange.end_ns is None:
        exchange.end_ns = exchange.last_piece_ns or time.perf_counter_ns()


class _Events:
    """A 2xx event stream's meaning, fed piece by piece: SSE decoding, the API's event
    parsing, token instants and gaps, usage, finish reason and in-stream errors.

    `feed` is synchronous so that the lean transport can call it from its read callback
    (`transport.body_pump`), with no task switch per piece; other transports' bodies are
    iterated and fed the same way."""

    __slots__ = ("_capture", "_decoder", "_dog", "_last", "_left", "_m", "_parse", "_target")

    def __init__(
        self, target: Target, m: _Measure, dog: _Watchdog, capture: list[str] | None
    ) -> None:
        self._target = target
        self._m = m
        self._dog = dog
        self._capture = capture
        self._decoder = SSEDecoder()
        self._parse = target.api.parse_event  # per-API event meaning
        self._last: int | None = None
        self._left = MAX_STREAM_BYTES  # the stream's cap (each event: the decoder's)

    def feed(self, raw: bytes, now: int) -> None:
        """One body piece that reached the process at `now` (perf_counter_ns)."""
        self._dog.last_ns = now
        self._left -= len(raw)
        if self._left < 0:
            message = f"stream over {MAX_STREAM_BYTES >> 20} MiB"
            raise RequestError(ErrorKind.BAD_STREAM, message, self._m.status)
        m = self._m
        target = self._target
        parse_chunk = self._parse
        decoder = self._decoder
        for data in decoder.feed(raw):
            if len(data) < 16 and _terminal_or_blank(data, m):
                continue
            if m.done:
                self._after_final(data)
                continue
            try:
                chunk = parse_chunk(data)
            except BadStreamError:
                message = malformed_event_message(data, target.secrets)
                raise RequestError(ErrorKind.BAD_STREAM, message, m.status) from None
            if chunk.error is not None:
                raise _stream_error(chunk.error, m, target)
            if chunk.output:
                last = self._last
                if last is None:
                    m.first_ns = now
                else:
                    m.gaps.append(now - last)
                self._last = now
                m.output_events += 1
                if chunk.content and m.first_content_ns is None:
                    m.first_content_ns = now
                if self._capture is not None and chunk.content:
                    self._capture.append(target.api.event_text(data))
            if m.response_id is None and chunk.response_id:
                m.response_id = chunk.response_id
            if chunk.model is not None:
                _note_model(m, chunk.model, target)
            if chunk.finish_reason is not None:
                m.finish_reason = finish_text(chunk.finish_reason)
            if chunk.completion_tokens is not None:
                m.completion_tokens = chunk.completion_tokens
            if chunk.prompt_tokens is not None:
                m.prompt_tokens = chunk.prompt_tokens
            if chunk.reasoning_tokens is not None:
                m.reasoning_tokens = chunk.reasoning_tokens
            if chunk.done:  # the API's final event ([DONE], message_stop, response.completed)
                m.done = True
        if decoder.errors:
            raise _stream_error(_error_event_text(decoder.errors[0]), m, self._target)

    def _after_final(self, data: bytes) -> None:
        """An event after the stream's final one: ignored unless it carries output or an
        error (docs/outcomes.md, "After the final event")."""
        m = self._m
        try:
            chunk = self._parse(data)
        except BadStreamError:
            message = malformed_event_message(data, self._target.secrets)
            raise RequestError(ErrorKind.BAD_STREAM, message, m.status) from None
        if chunk.error is not None:
            raise _stream_error(chunk.error, m, self._target)
        if chunk.output:
            message = "output after the stream's final event"
            raise RequestError(ErrorKind.BAD_STREAM, message, m.status)

    def close(self) -> None:
        """The body ended: a last event without its blank line still counts (lenient)."""
        m = self._m
        for data in self._decoder.close():
            if len(data) < 16 and _terminal_or_blank(data, m):
                continue
            if m.done:
                self._after_final(data)
                continue
            chunk = self._parse(data)
            if chunk.finish_reason is not None:
                m.finish_reason = finish_text(chunk.finish_reason)
            if chunk.model is not None:
                _note_model(m, chunk.model, self._target)
            m.done = m.done or chunk.done
        if self._decoder.errors:
            raise _stream_error(_error_event_text(self._decoder.errors[0]), m, self._target)
        m.last_ns = self._last


def _note_model(m: _Measure, value: object, target: Target) -> None:
    """The model a stream names: the first name, unless a later event names a model other
    than the one asked for (a stream whose model changes mid-way is judged by that one)."""
    name = served_model(value)
    if name is None or name == m.model:
        return
    if m.model is None or not model_matches(served_model(target.model), name, target.accept_models):
        m.model = name


def _terminal_or_blank(data: bytes, m: _Measure) -> bool:
    """Handled here for every API alike: an empty data field (a keep-alive) is skipped, and
    the chat-style `[DONE]` ends the stream (proxies send it after any API's final event)."""
    stripped = data.strip()
    if not stripped:
        return True
    if stripped == b"[DONE]":
        m.done = True
        return True
    return False


def _stream_error(text: str, m: _Measure, target: Target) -> RequestError:
    """The server reported an error inside a 2xx stream: fail with its message."""
    message = "error event in stream: " + safe_excerpt(text, target.secrets, 200)
    return RequestError(ErrorKind.BAD_STREAM, message, m.status)


def _error_event_text(data: bytes) -> str:
    """The message of an `event: error` payload: a JSON error in any common shape, or text."""
    return error_message_from_body(data, limit=4000) if data.strip() else "(no details)"


async def _not_sse(
    content_type: str,
    raw_stream: AsyncIterable[bytes],
    m: _Measure,
    dog: _Watchdog,
    target: Target,
    exchange: Exchange,
    capture: list[str] | None = None,
) -> RequestError | None:
    """A 2xx that is not an event stream: a whole completion despite `stream` (counted, with
    non-streamed timing), or a failure showing the Content-Type and an excerpt."""
    body = await _read_bounded(raw_stream, DEFAULT_MAX_EVENT_BYTES, dog, exchange)
    outcome = non_sse_failure(content_type, body, m.status, target.secrets, target.api.parse_body)
    if outcome.error is not None:
        return outcome.error
    assert outcome.completion is not None
    _take_completion(m, outcome.completion, capture)
    m.note = outcome.note
    return None


async def _read_bounded(
    raw_stream: AsyncIterable[bytes], limit: int, dog: _Watchdog, exchange: Exchange
) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for raw in raw_stream:
        dog.last_ns = _arrival(exchange)
        parts.append(raw)
        size += len(raw)
        if size >= limit:
            return b"".join(parts)
    _ended(exchange)
    return b"".join(parts)


async def _headers_received(
    resp: httpx.Response,
    raw_stream: AsyncIterable[bytes],
    m: _Measure,
    dog: _Watchdog,
    target: Target,
    exchange: Exchange,
) -> tuple[RequestError, float | None] | None:
    """Note the headers instant (when the head's last bytes reached the process, through
    the lean transport) and status; for a non-2xx status, the classified failure and the
    server's retry hint."""
    m.headers_ns = dog.last_ns = exchange.head_ns or time.perf_counter_ns()
    status = m.status = resp.status_code
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return redirect_failure(
            status, resp.headers.get("location"), target.url, target.secrets
        ), None
    return await _http_error(resp, raw_stream, target), parse_retry_after(resp.headers)


async def _whole(
    http: httpx.AsyncClient,
    target: Target,
    body: bytes,
    m: _Measure,
    dog: _Watchdog,
    exchange: Exchange,
    capture: list[str] | None = None,
) -> tuple[RequestError | None, float | None]:
    async with _open(http, target, body, exchange) as (resp, raw_stream):
        failure = await _headers_received(resp, raw_stream, m, dog, target, exchange)
        if failure is not None:
            return failure

        def arrived() -> None:
            dog.last_ns = _arrival(exchange)

        try:
            whole = await read_body(
                raw_stream, MAX_RESPONSE_BYTES, "response body", on_piece=arrived
            )
        except BodyError as exc:
            return RequestError(ErrorKind.BAD_STREAM, str(exc), m.status), None
        _ended(exchange)
    parsed = target.api.parse_body(whole)  # per-API body meaning
    if parsed.error is not None:
        message = "error body: " + safe_excerpt(parsed.error, target.secrets, 200)
        return RequestError(ErrorKind.BAD_STREAM, message, m.status), None
    if not target.api.streams and parsed.output_items != target.batch:
        message = f"expected {target.batch} embeddings, got {parsed.output_items}"
        return RequestError(ErrorKind.BAD_STREAM, message, m.status), None
    _take_completion(m, parsed, capture)
    return None, None


def _take_completion(m: _Measure, parsed: BodyResult, capture: list[str] | None) -> None:
    """Take a whole response's meaning; with `capture`, its reply text (sessions)."""
    if capture is not None:
        capture.append(parsed.text)
    m.response_id = parsed.response_id
    m.completion_tokens = parsed.completion_tokens
    m.prompt_tokens = parsed.prompt_tokens
    m.reasoning_tokens = parsed.reasoning_tokens
    m.finish_reason = finish_text(parsed.finish_reason)
    m.model = parsed.model
    m.whole_output = parsed.has_output
    m.done = True


async def _http_error(
    resp: httpx.Response, raw_stream: AsyncIterable[bytes], target: Target
) -> RequestError:
    """Read (a bounded part of) an error body and classify the status."""
    body = await read_prefix(raw_stream, MAX_ERROR_BODY_BYTES)
    status = resp.status_code
    detail = error_message_from_body(body, secrets=target.secrets)
    return RequestError(kind_for_status(status), f"HTTP {status}: {detail}", status)
