"""One request → one `RequestRecord`: streaming, timeouts, retries, error classification."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import anyio
import httpx

from ..config import RetryPolicy, Timeouts
from ..errors import BadStreamError, ErrorKind, RequestError, classify_exception, kind_for_status
from ..inbound import BodyError, decoded, decoders_for, read_body, read_prefix
from ..limits import MAX_ERROR_BODY_BYTES, MAX_RESPONSE_BYTES, MAX_STREAM_BYTES
from ..outcomes import answer_problem, model_matches
from ..records import RequestRecord, TokenSource
from ..redact import safe_excerpt
from .apis import ApiSpec, BodyResult, api_spec
from .connection import EXCHANGE_KEY, Exchange, body_pump
from .diagnosis import non_sse_failure, redirect_failure
from .events import Measure, StreamEvents, Watchdog, arrival, ended
from .head import Header, LeanAnswer, RequestHead
from .output import OutputCheck
from .protocol import error_message_from_body, finish_text, response_id_text, served_model
from .retry import backoff, parse_retry_after, retry_cause, should_retry
from .sse import DEFAULT_MAX_EVENT_BYTES
from .tracing import RequestIdentity, identity_headers, new_identity
from .transport import LeanTransport, transport_for

MESSAGE_LIMIT = 500  # characters of an error message kept on a record

Answer = httpx.Response | LeanAnswer  # the lean transport's fast path, or any other


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
    # what a valid reply is (--tools, --response-format); None: replies are not checked
    output_check: OutputCheck | None = field(default=None, compare=False)
    # HTTP versions the responses came in (b"HTTP/1.1", b"HTTP/2"): the report says which
    protocols: set[bytes] = field(default_factory=set, compare=False, repr=False)
    # the per-request id header (None: none sent) and whether a W3C traceparent is sent
    request_id_header: str | None = None
    traceparent: bool = False
    _parsed: httpx.URL = field(init=False, repr=False, compare=False)
    _head: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False)
    _lean: RequestHead = field(init=False, repr=False, compare=False)
    # the transport that serves `url` for the last client asked about (mounts are fixed
    # when a client is made, so the choice is made once per client, not per request)
    _route: list[tuple[httpx.AsyncClient, httpx.AsyncBaseTransport]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        parsed = httpx.URL(self.url)
        head = [(b"Host", parsed.netloc)]
        head += [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in self.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding")  # ours, per body
        ]
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "_head", tuple(head))
        object.__setattr__(self, "_lean", RequestHead(parsed, self.headers))

    def request(
        self, body: bytes, exchange: Exchange, extra: Sequence[Header] = ()
    ) -> httpx.Request:
        """The `httpx.Request` for one body (with `extra` per-request headers), built from
        parts parsed once per run: for the transports other than the lean one."""
        headers = [*self._head, *extra, (b"Content-Length", str(len(body)).encode())]
        timeout = {"connect": self.timeouts.connect, "read": None, "write": None, "pool": None}
        return httpx.Request(
            "POST",
            self._parsed,
            headers=headers,
            content=body,
            extensions={"timeout": timeout, EXCHANGE_KEY: exchange},
        )

    def transport(self, http: httpx.AsyncClient) -> httpx.AsyncBaseTransport:
        """The transport of `http` that serves this target's URL (a proxy or HTTP/2 mount,
        or the lean one)."""
        route = self._route
        if route and route[0][0] is http:
            return route[0][1]
        chosen = transport_for(http, self._parsed)
        route[:] = [(http, chosen)]
        return chosen


async def _send(
    http: httpx.AsyncClient,
    target: Target,
    body: bytes,
    exchange: Exchange,
    extra: Sequence[Header],
) -> Answer:
    """Send one request: on the lean transport, its head encoded from the target's template
    (no `httpx.Request`, `URL` or `Headers` per request); on any other, as an `httpx.Request`."""
    transport = target.transport(http)
    origin = target._lean.origin
    if isinstance(transport, LeanTransport) and origin is not None:
        head = target._lean.encode(len(body), extra)
        return await transport.send_encoded(origin, head, body, exchange, target.timeouts.connect)
    request = target.request(body, exchange, extra)
    resp = await transport.handle_async_request(request)
    resp.request = request
    return resp


@asynccontextmanager
async def _open(
    http: httpx.AsyncClient,
    target: Target,
    body: bytes,
    exchange: Exchange,
    extra: Sequence[Header] = (),
) -> AsyncIterator[tuple[Answer, AsyncIterable[bytes]]]:
    """Send the request and yield the response with its body stream, decoded when the server
    compressed it anyway (gzip, deflate, br, zstd: httpx's own decoders).

    The request goes straight to the transport that serves the URL (the lean one, or a proxy
    or HTTP/2 mount): `AsyncClient.send`'s request building, URL merging and cookie extraction
    cost 0.14-0.19 ms a request (16-23% of the client's CPU, benchmarks/cpu_per_request.py)
    and do nothing for a load test. `extra`: per-request headers (a request id), after the
    target's own.
    """
    resp = await _send(http, target, body, exchange, extra)
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
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> RequestRecord:
    """Send one request (with retries) and measure it; never raises for request failures.

    With `capture`, the reply's text pieces are appended to it (multi-turn sessions carry
    the reply into the next turn); it holds the last attempt's reply only. `on_attempt` is
    told of each attempt's outcome (None: success) before any backoff; True from it means
    do not retry (the run is stopping, or the target is unusable). Every attempt carries
    the request's one id (`wire/tracing.py`) and this request's own `headers` (its session
    id), after the target's."""
    identity = new_identity(target.request_id_header, target.traceparent)
    first_send_ns: int | None = None
    causes: list[str] = []
    attempt = 0
    while True:
        attempt += 1
        if capture is not None:
            capture.clear()
        outcome = await _attempt(
            http, target, index, body, scheduled_ns, attempt, identity, capture, headers
        )
        if first_send_ns is None:
            first_send_ns = outcome.record.send_ns
        error = outcome.error
        halt = on_attempt is not None and on_attempt(error)
        if (
            error is None
            or halt
            or not should_retry(error, outcome.output_started, attempt, target.retry)
        ):
            record = outcome.record
            if attempt > 1:  # the record already counts its attempts
                record = replace(record, first_send_ns=first_send_ns, retry_causes=tuple(causes))
            return record
        causes.append(retry_cause(error))
        await anyio.sleep(backoff(outcome.retry_after, attempt, target.retry, target.rng))


@dataclass(slots=True)
class _Outcome:
    record: RequestRecord
    error: RequestError | None
    output_started: bool
    retry_after: float | None = None


async def _attempt(
    http: httpx.AsyncClient,
    target: Target,
    index: int,
    body: bytes,
    scheduled_ns: int,
    attempt: int,
    identity: RequestIdentity,
    capture: list[str] | None = None,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> _Outcome:
    m = Measure()
    extra = identity_headers(identity, target.request_id_header) + headers
    if target.output_check is not None:
        m.collector = target.output_check.collector(target.api.name)
    error: RequestError | None = None
    retry_after: float | None = None
    start_ns = time.perf_counter_ns()
    with anyio.CancelScope() as scope:
        dog = Watchdog(scope, start_ns, target.timeouts)
        exchange = Exchange(dog)
        exchange.start_ns = start_ns
        try:
            if target.stream:
                error, retry_after = await _stream(
                    http, target, (body, extra), m, dog, exchange, capture
                )
            else:
                error, retry_after = await _whole(
                    http, target, (body, extra), m, dog, exchange, capture
                )
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
        error = _answer_error(m, target) or _output_error(m, target)
    return _Outcome(
        _record(
            m,
            (index, scheduled_ns, start_ns, end_ns),
            exchange,
            error,
            attempt,
            target,
            identity,
            len(body),
        ),
        error,
        m.first_ns is not None,
        retry_after,
    )


def _answer_error(m: Measure, target: Target) -> RequestError | None:
    """A whole 2xx answer that is still not a success (docs/outcomes.md): no finish reason
    (`incomplete`; embeddings have none), or another model than the one asked for."""
    reason = m.finish_reason
    if not target.api.streams:  # embeddings: only the model is checked
        reason = reason or "n/a"
    # the name asked for, bounded as a served name is, so a long or unprintable name that
    # the server echoes exactly is the same model
    asked = served_model(target.model)
    # an answer whose model changes mid-way is judged by a name that is not the one asked for
    other = (n for n in m.models if not model_matches(asked, n, target.accept_models))
    m.model = next(other, m.model)
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


def _output_error(m: Measure, target: Target) -> RequestError | None:
    """A complete answer whose tool calls or JSON are not what was asked: `invalid_output`."""
    if target.output_check is None or m.collector is None:
        return None
    problem = target.output_check.verdict(m.collector)
    if problem is None:
        return None
    message = "invalid output: " + problem
    return RequestError(ErrorKind.INVALID_OUTPUT, message, m.status)


def _record(
    m: Measure,
    when: tuple[int, int, int, int],
    exchange: Exchange,
    error: RequestError | None,
    attempt: int,
    target: Target,
    identity: RequestIdentity,
    request_bytes: int | None = None,
) -> RequestRecord:
    """Freeze one attempt's measurements (`when`: index, scheduled, start and end
    instants). The send instant is when the request bytes went out on a ready connection;
    before that (a failed connect) it is the attempt's start."""
    index, scheduled_ns, start_ns, end_ns = when
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
        request_id=identity.request_id,
        trace_id=identity.trace_id,
        dns_ns=None if exchange.phases is None else exchange.phases[0],
        tcp_ns=None if exchange.phases is None else exchange.phases[1],
        tls_ns=None if exchange.phases is None else exchange.phases[2],
        preconnected=exchange.preconnected,
        cached_tokens=None if m.server is None else m.server.cached_tokens,
        server_timing=None if m.server is None else m.server.timing,
        request_bytes=request_bytes,
    )


async def _stream(
    http: httpx.AsyncClient,
    target: Target,
    request: tuple[bytes, tuple[tuple[bytes, bytes], ...]],
    m: Measure,
    dog: Watchdog,
    exchange: Exchange,
    capture: list[str] | None = None,
) -> tuple[RequestError | None, float | None]:
    async with _open(http, target, request[0], exchange, request[1]) as (resp, raw_stream):
        failure = await _headers_received(resp, raw_stream, m, dog, target, exchange)
        if failure is not None:
            return failure
        content_type = resp.headers.get("content-type")
        if content_type is not None and "text/event-stream" not in content_type.lower():
            error = await _not_sse(content_type, raw_stream, m, dog, target, exchange, capture)
            return error, None
        events = StreamEvents(target.api, target.secrets, m, dog, capture)
        pump = body_pump(raw_stream)
        if pump is not None:  # the lean transport: events are read in its read callback
            await pump(events.feed)
        else:
            async for raw in raw_stream:
                # the piece's arrival in this process (the lean transport), not after parsing
                events.feed(raw, arrival(exchange))
            ended(exchange)
        events.close()
    return None, None


async def _not_sse(
    content_type: str,
    raw_stream: AsyncIterable[bytes],
    m: Measure,
    dog: Watchdog,
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
    if m.collector is not None:
        m.collector.body(body)
    assert outcome.completion is not None
    _take_completion(m, outcome.completion, capture)
    m.note = outcome.note
    return None


async def _read_bounded(
    raw_stream: AsyncIterable[bytes], limit: int, dog: Watchdog, exchange: Exchange
) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for raw in raw_stream:
        dog.last_ns = arrival(exchange)
        parts.append(raw)
        size += len(raw)
        if size >= limit:
            return b"".join(parts)
    ended(exchange)
    return b"".join(parts)


async def _headers_received(
    resp: Answer,
    raw_stream: AsyncIterable[bytes],
    m: Measure,
    dog: Watchdog,
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
    request: tuple[bytes, tuple[tuple[bytes, bytes], ...]],
    m: Measure,
    dog: Watchdog,
    exchange: Exchange,
    capture: list[str] | None = None,
) -> tuple[RequestError | None, float | None]:
    async with _open(http, target, request[0], exchange, request[1]) as (resp, raw_stream):
        failure = await _headers_received(resp, raw_stream, m, dog, target, exchange)
        if failure is not None:
            return failure

        def arrived() -> None:
            dog.last_ns = arrival(exchange)

        try:
            whole = await read_body(
                raw_stream, MAX_RESPONSE_BYTES, "response body", on_piece=arrived
            )
        except BodyError as exc:
            return RequestError(ErrorKind.BAD_STREAM, str(exc), m.status), None
        ended(exchange)
    parsed = target.api.parse_body(whole)  # per-API body meaning
    if parsed.error is not None:
        message = "error body: " + safe_excerpt(parsed.error, target.secrets, 200)
        return RequestError(ErrorKind.BAD_STREAM, message, m.status), None
    if not target.api.streams and parsed.output_items != target.batch:
        message = f"expected {target.batch} embeddings, got {parsed.output_items}"
        return RequestError(ErrorKind.BAD_STREAM, message, m.status), None
    if m.collector is not None:
        m.collector.body(whole)
    _take_completion(m, parsed, capture)
    return None, None


def _take_completion(m: Measure, parsed: BodyResult, capture: list[str] | None) -> None:
    """Take a whole response's meaning; with `capture`, its reply text (sessions)."""
    if capture is not None:
        capture.append(parsed.text)
    m.response_id = parsed.response_id
    m.completion_tokens = parsed.completion_tokens
    m.prompt_tokens = parsed.prompt_tokens
    m.reasoning_tokens = parsed.reasoning_tokens
    m.server = parsed.server
    m.finish_reason = finish_text(parsed.finish_reason)
    m.model = parsed.model
    m.whole_output = parsed.has_output
    m.done = True


async def _http_error(
    resp: Answer, raw_stream: AsyncIterable[bytes], target: Target
) -> RequestError:
    """Read (a bounded part of) an error body and classify the status."""
    body = await read_prefix(raw_stream, MAX_ERROR_BODY_BYTES)
    status = resp.status_code
    detail = error_message_from_body(body, secrets=target.secrets)
    return RequestError(kind_for_status(status), f"HTTP {status}: {detail}", status)
