"""One attempt's measurements, taken as the bytes arrive: the watchdog (total and read
timeouts), the per-attempt `Measure`, the arrival stamps read from the transport's
`Exchange`, and `StreamEvents`, a 2xx event stream's meaning fed piece by piece (SSE
decoding, the API's events, token instants and gaps, usage, finish reason, in-stream errors)."""

from __future__ import annotations

import asyncio
import time

import anyio

from ..config import Timeouts
from ..errors import BadStreamError, ErrorKind, RequestError
from ..limits import MAX_STREAM_BYTES
from ..redact import safe_excerpt
from .apis import ApiSpec
from .connection import Exchange
from .output import OutputCollector
from .protocol import error_message_from_body, finish_text, malformed_event_message, served_model
from .servertiming import ServerFacts
from .sse import SSEDecoder


class Watchdog:
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


_MAX_MODELS = 8  # names kept past the first: enough to judge, bounded


class Measure:
    """Mutable per-attempt measurements, frozen into a RequestRecord at the end."""

    __slots__ = (
        "collector",
        "completion_tokens",
        "done",
        "finish_reason",
        "first_content_ns",
        "first_ns",
        "gaps",
        "headers_ns",
        "last_ns",
        "model",
        "models",
        "note",
        "output_events",
        "prompt_tokens",
        "reasoning_tokens",
        "response_id",
        "server",
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
        self.server: ServerFacts | None = None  # the server's timings and cached tokens
        self.first_content_ns: int | None = None
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.models: list[str] = []  # every other name the answer gave (a few at most)
        self.status: int | None = None
        self.done = False
        self.note: str | None = None
        # the reply assembled for --tools / --response-format (None: not checked)
        self.collector: OutputCollector | None = None

    def take_server(self, facts: ServerFacts) -> None:
        """The server's own account: each part kept from the event that said it (a stream
        may give its timings and its usage in different events)."""
        old = self.server
        if old is None:
            self.server = facts
            return
        cached = old.cached_tokens if facts.cached_tokens is None else facts.cached_tokens
        self.server = ServerFacts(cached, facts.timing or old.timing)

    def note_model(self, value: object) -> None:
        """A model the answer names: the first is `model`; a later, different one is kept
        too, so an answer whose model changes mid-way is judged by every name it gave."""
        if value == self.model:  # every chunk of a stream names it: no work per event
            return
        name = served_model(value)
        if name is None or name == self.model or name in self.models:
            return
        if self.model is None:
            self.model = name
        elif len(self.models) < _MAX_MODELS:
            self.models.append(name)


def arrival(exchange: Exchange) -> int:
    """When the body piece just handed over reached the process: the lean transport's
    read-callback instant; through httpx's transports (HTTP/2, proxies), which give none,
    the instant the task got the piece, the best there is."""
    instant = exchange.arrived_ns or time.perf_counter_ns()
    exchange.last_piece_ns = instant
    return instant


def ended(exchange: Exchange) -> None:
    """A body read to its end: the lean transport stamped its end at arrival; through
    httpx's transports the end is the last piece's instant (the body's final bytes most
    often come in it), else now."""
    if exchange.end_ns is None:
        exchange.end_ns = exchange.last_piece_ns or time.perf_counter_ns()


class StreamEvents:
    """A 2xx event stream's meaning, fed piece by piece: SSE decoding, the API's event
    parsing, token instants and gaps, usage, finish reason and in-stream errors.

    `feed` is synchronous so that the lean transport can call it from its read callback
    (`transport.body_pump`), with no task switch per piece; other transports' bodies are
    iterated and fed the same way."""

    __slots__ = (
        "_api",
        "_capture",
        "_decoder",
        "_dog",
        "_last",
        "_left",
        "_m",
        "_parse",
        "_secrets",
    )

    def __init__(
        self,
        api: ApiSpec,
        secrets: tuple[str, ...],
        m: Measure,
        dog: Watchdog,
        capture: list[str] | None,
    ) -> None:
        self._api = api
        self._secrets = secrets
        self._m = m
        self._dog = dog
        self._capture = capture
        self._decoder = SSEDecoder()
        self._parse = api.parse_event  # per-API event meaning
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
        secrets = self._secrets
        parse_chunk = self._parse
        decoder = self._decoder
        for data in decoder.feed(raw):
            if len(data) < 16 and terminal_or_blank(data, m):
                continue
            if m.done:
                self._after_final(data)
                continue
            if m.collector is not None:
                m.collector.event(data)
            try:
                chunk = parse_chunk(data)
            except BadStreamError:
                message = malformed_event_message(data, secrets)
                raise RequestError(ErrorKind.BAD_STREAM, message, m.status) from None
            if chunk.error is not None:
                raise stream_error(chunk.error, m, secrets)
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
                    self._capture.append(self._api.event_text(data))
            if m.response_id is None and chunk.response_id:
                m.response_id = chunk.response_id
            if chunk.model is not None:
                m.note_model(chunk.model)
            if chunk.finish_reason is not None:
                m.finish_reason = finish_text(chunk.finish_reason)
            if chunk.completion_tokens is not None:
                m.completion_tokens = chunk.completion_tokens
            if chunk.prompt_tokens is not None:
                m.prompt_tokens = chunk.prompt_tokens
            if chunk.reasoning_tokens is not None:
                m.reasoning_tokens = chunk.reasoning_tokens
            if chunk.server is not None:
                m.take_server(chunk.server)
            if chunk.done:  # the API's final event ([DONE], message_stop, response.completed)
                m.done = True
        if decoder.errors:
            raise stream_error(error_event_text(decoder.errors[0]), m, secrets)

    def _after_final(self, data: bytes) -> None:
        """An event after the stream's final one: ignored unless it carries output or an
        error (docs/outcomes.md, "After the final event")."""
        m = self._m
        try:
            chunk = self._parse(data)
        except BadStreamError:
            message = malformed_event_message(data, self._secrets)
            raise RequestError(ErrorKind.BAD_STREAM, message, m.status) from None
        if chunk.error is not None:
            raise stream_error(chunk.error, m, self._secrets)
        if chunk.output:
            message = "output after the stream's final event"
            raise RequestError(ErrorKind.BAD_STREAM, message, m.status)

    def close(self) -> None:
        """The body ended: a last event without its blank line still counts (lenient)."""
        m = self._m
        for data in self._decoder.close():
            if len(data) < 16 and terminal_or_blank(data, m):
                continue
            if m.done:
                self._after_final(data)
                continue
            if m.collector is not None:
                m.collector.event(data)
            chunk = self._parse(data)
            if chunk.finish_reason is not None:
                m.finish_reason = finish_text(chunk.finish_reason)
            if chunk.model is not None:
                m.note_model(chunk.model)
            m.done = m.done or chunk.done
        if self._decoder.errors:
            raise stream_error(error_event_text(self._decoder.errors[0]), m, self._secrets)
        m.last_ns = self._last


def terminal_or_blank(data: bytes, m: Measure) -> bool:
    """Handled here for every API alike: an empty data field (a keep-alive) is skipped, and
    the chat-style `[DONE]` ends the stream (proxies send it after any API's final event)."""
    stripped = data.strip()
    if not stripped:
        return True
    if stripped == b"[DONE]":
        m.done = True
        return True
    return False


def stream_error(text: str, m: Measure, secrets: tuple[str, ...]) -> RequestError:
    """The server reported an error inside a 2xx stream: fail with its message."""
    message = "error event in stream: " + safe_excerpt(text, secrets, 200)
    return RequestError(ErrorKind.BAD_STREAM, message, m.status)


def error_event_text(data: bytes) -> str:
    """The message of an `event: error` payload: a JSON error in any common shape, or text."""
    return error_message_from_body(data, limit=4000) if data.strip() else "(no details)"
