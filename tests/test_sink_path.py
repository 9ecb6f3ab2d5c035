"""The lean transport's sink path (`connection.body_pump`): a streamed body is decoded inside
the read callback. Through real sockets, it records what the iterator path records (forced
here by hiding the pump), fails the same way on a malformed event or a cut connection, still
ends in a read timeout when the server stalls, and closes a cancelled request's connection."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from typing import Any

import httpx
import pytest
from hostile import Reply, chunked, good_reply, hostile_server, sse_body

from llmbench_async import RequestRecord
from llmbench_async.config import RetryPolicy, Timeouts
from llmbench_async.mock import MockProcess
from llmbench_async.wire import client as client_module
from llmbench_async.wire.client import Target, execute
from llmbench_async.wire.connection import body_pump
from llmbench_async.wire.transport import lean_transport_of, make_client

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
EVENT = b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
BAD = b"data: {not json at all\n\n"
# timings are not compared: they differ from one run to the next
TIMING = (
    "scheduled_ns",
    "send_ns",
    "end_ns",
    "headers_ns",
    "first_token_ns",
    "last_token_ns",
    "first_content_ns",
    "token_gaps_ns",
    "ready_ns",
    "connect_ns",
    "first_send_ns",
    "dns_ns",
    "tcp_ns",
    "tls_ns",
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _request(max_tokens: int = 8) -> bytes:
    body = {
        "model": "mock-model",
        "messages": [{"role": "user", "content": "hi there"}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    return json.dumps(body).encode()


def _target(url: str, read: float = 20.0) -> Target:
    return Target(
        url=url.rstrip("/") + "/chat/completions",
        headers={"Content-Type": "application/json"},
        timeouts=Timeouts(total=60.0, read=read),
        retry=RetryPolicy(retries=0),
    )


@pytest.fixture
def pumps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Counts the streams `client._stream` read through the sink (True) or iterated."""
    seen: list[bool] = []

    def spy(stream: object) -> Any:
        pump = body_pump(stream)
        seen.append(pump is not None)
        return pump

    monkeypatch.setattr(client_module, "body_pump", spy)
    yield seen


def _iterate_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the pump: `client._stream` iterates the lean transport's body as before."""
    monkeypatch.setattr(client_module, "body_pump", lambda stream: None)


def _run(url: str, n: int = 1, read: float = 20.0, capture: bool = False) -> list[RequestRecord]:
    """`n` requests one after another on one client; with `capture`, each record's reply text
    is appended to the record's note (for comparison only)."""

    async def go() -> list[RequestRecord]:
        records = []
        async with make_client() as http:
            target = _target(url, read)
            for i in range(n):
                text: list[str] | None = [] if capture else None
                rec = await execute(http, target, i, _request(), time.perf_counter_ns(), text)
                if text is not None:
                    rec = replace(rec, note="".join(text))
                records.append(rec)
        return records

    return asyncio.run(go())


def _meaning(rec: RequestRecord) -> dict[str, Any]:
    meaning = {f.name: getattr(rec, f.name) for f in fields(rec) if f.name not in TIMING}
    meaning["gaps"] = len(rec.token_gaps_ns)
    meaning.pop("response_id", None)  # the mock numbers its responses
    return meaning


def test_sink_and_iterator_record_the_same_stream(
    fast_mock: MockProcess, pumps: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = _run(fast_mock.base_url, n=3, capture=True)
    assert pumps == [True, True, True]
    _iterate_only(monkeypatch)
    iterated = _run(fast_mock.base_url, n=3, capture=True)
    for a, b in zip(sink, iterated, strict=True):
        assert a.ok, a.error_message
        assert _meaning(a) == _meaning(b)
        assert a.output_events == 8 and a.output_tokens == 8 and a.token_source == "usage"
        assert a.input_tokens is not None and a.note
        # TTFT 50 ms, ITL 5 ms: instants are token arrivals, in order
        assert a.first_token_ns is not None and a.headers_ns is not None
        assert a.first_token_ns - a.send_ns >= 45e6
        assert len(a.token_gaps_ns) == 7 and all(g >= 0 for g in a.token_gaps_ns)
        assert a.last_token_ns == a.first_token_ns + sum(a.token_gaps_ns)
        # the last token is due 50 + 7 × 5 ms after the server read the request, and is never
        # written early (a busy server may write the first one late and catch up, so the
        # gaps alone may add up to less than 35 ms)
        assert a.last_token_ns - a.send_ns >= 84e6


def _then(*steps: bytes | float | Callable[[socket.socket], None]) -> Reply:
    """A reply written step by step: bytes are sent, a number sleeps, a callable acts."""

    def send(sock: socket.socket) -> None:
        for step in steps:
            if isinstance(step, bytes):
                sock.sendall(step)
            elif isinstance(step, float):
                time.sleep(step)
            else:
                step(sock)

    return send


def _close(sock: socket.socket) -> None:
    sock.shutdown(socket.SHUT_RDWR)


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _both(
    replies: list[Reply], monkeypatch: pytest.MonkeyPatch, pumps: list[bool], read: float = 20.0
) -> tuple[RequestRecord, RequestRecord, int]:
    """The same scripted reply to the sink path, then to the iterator path; the second
    request of each run is a healthy one (on a new connection if the first was closed).
    Returns both first records and the connections the sink run used."""
    with hostile_server([*replies, good_reply()]) as (url, seen):
        sink_first, sink_next = _run(url, n=2, read=read)
        connections = seen.connections
    assert pumps == [True, True]
    assert sink_next.ok, sink_next.error_message
    _iterate_only(monkeypatch)
    with hostile_server([*replies, good_reply()]) as (url, seen):
        iter_first, iter_next = _run(url, n=2, read=read)
    assert iter_next.ok, iter_next.error_message
    return sink_first, iter_first, connections


def test_a_malformed_event_mid_stream_fails_as_on_the_iterator_path(
    monkeypatch: pytest.MonkeyPatch, pumps: list[bool]
) -> None:
    reply = _then(HEAD + _chunk(EVENT), 0.2, _chunk(EVENT + BAD), 0.2, _chunk(EVENT) + b"0\r\n\r\n")
    sink, iterated, connections = _both([reply], monkeypatch, pumps)
    assert sink.error_kind == iterated.error_kind == "bad_stream"
    assert sink.error_message == iterated.error_message
    assert sink.error_message is not None and "not json" in sink.error_message
    assert sink.output_events == iterated.output_events == 2
    assert connections == 2  # the failed stream's connection was closed, not pooled


ERROR_EVENT = b'data: {"error":{"message":"overloaded now"}}\n\n'


@pytest.mark.parametrize(
    "reply",
    [
        # the error comes with the end of the body, in one piece read by the sink
        _then(HEAD + _chunk(EVENT), 0.2, _chunk(ERROR_EVENT) + b"0\r\n\r\n"),
        # the whole body came with the head, before the sink was set
        good_reply(EVENT + ERROR_EVENT),
    ],
    ids=["last_piece", "with_the_head"],
)
def test_an_error_event_that_ends_the_body_fails_the_request(
    reply: Reply, monkeypatch: pytest.MonkeyPatch, pumps: list[bool]
) -> None:
    sink, iterated, _ = _both([reply], monkeypatch, pumps)
    assert sink.error_kind == iterated.error_kind == "bad_stream"
    assert sink.error_message == iterated.error_message
    assert sink.error_message is not None and "overloaded now" in sink.error_message
    assert sink.output_events == iterated.output_events == 1


def test_a_stalled_stream_ends_in_a_read_timeout(
    monkeypatch: pytest.MonkeyPatch, pumps: list[bool]
) -> None:
    resume = threading.Event()
    reply = _then(HEAD + _chunk(EVENT), lambda _sock: resume.wait(30))
    with hostile_server([reply, good_reply()]) as (url, seen):
        started = time.monotonic()
        first, second = _run(url, n=2, read=0.5)
        elapsed = time.monotonic() - started
        resume.set()
        connections = seen.connections
    assert pumps == [True, True]
    assert first.error_kind == "read_timeout", first.error_message
    assert first.output_events == 1
    assert elapsed < 20
    assert second.ok, second.error_message
    assert connections == 2  # the timed-out connection was closed


@pytest.mark.parametrize(
    ("framing", "cut", "message"),
    [
        ("chunked", _close, "server closed the connection mid-response (chunked body)"),
        ("length", _close, "body shorter than its Content-Length"),
        ("chunked", _reset, "connection lost mid-response"),
    ],
)
def test_a_connection_cut_mid_stream_is_a_read_error(
    framing: str,
    cut: Callable[[socket.socket], None],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    pumps: list[bool],
) -> None:
    if framing == "chunked":
        start = HEAD + _chunk(EVENT)
    else:
        start = HEAD.replace(b"Transfer-Encoding: chunked", b"Content-Length: 9999") + EVENT
    reply = _then(start, 0.2, EVENT if framing == "length" else _chunk(EVENT), 0.2, cut)
    sink, iterated, connections = _both([reply], monkeypatch, pumps)
    assert sink.error_kind == iterated.error_kind == "read", sink.error_message
    assert sink.error_message is not None and message in sink.error_message
    if cut is _close:  # a reset may lose the bytes in flight: only a clean cut compares
        assert sink.error_message == iterated.error_message
        assert sink.output_events == iterated.output_events == 2
    assert connections == 2


def test_a_read_until_close_stream_ends_cleanly(pumps: list[bool]) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    body = sse_body(tokens=3)
    reply = _then(head + body[:40], 0.2, body[40:], _close)
    with hostile_server([reply, good_reply()]) as (url, seen):
        first, second = _run(url, n=2)
        connections = seen.connections
    assert pumps == [True, True]
    assert first.ok, first.error_message
    assert first.output_events == 3
    assert second.ok and connections == 2


def test_body_bytes_before_the_sink_and_after_it_are_all_read(pumps: list[bool]) -> None:
    """The head with two events in one write, the rest in small chunked pieces later."""
    body = sse_body(tokens=6)
    reply = _then(HEAD + _chunk(body[:150]), 0.1, chunked(body[150:], 9))
    with hostile_server([reply, good_reply()]) as (url, seen):
        first, second = _run(url, n=2)
        connections = seen.connections
    assert pumps == [True, True]
    assert first.ok and first.output_events == 6, first.error_message
    assert second.ok and connections == 1  # a clean chunked stream keeps its connection


def test_a_cancelled_request_closes_its_connection(pumps: list[bool]) -> None:
    sent = threading.Event()
    closed = threading.Event()

    def stall(sock: socket.socket) -> None:
        sent.set()
        sock.settimeout(30)
        try:
            while sock.recv(4096):  # wait until the client closes the connection
                pass
        except OSError:
            pass
        closed.set()

    reply = _then(HEAD + _chunk(EVENT), stall)

    async def go(url: str) -> tuple[int, RequestRecord]:
        async with make_client() as http:
            target = _target(url)
            text: list[str] = []
            task = asyncio.create_task(execute(http, target, 0, _request(), 0, text))
            while not (sent.is_set() and text):  # the first event went through the sink
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            lean = lean_transport_of(http)
            assert lean is not None
            idle = lean.idle_count(target.url)
            return idle, await execute(http, target, 1, _request(), 0)

    with hostile_server([reply, good_reply()]) as (url, seen):
        idle, after = asyncio.run(go(url))
        assert closed.wait(10), "the server never saw the cancelled connection close"
        connections = seen.connections
    assert pumps == [True, True]
    assert idle == 0
    assert after.ok, after.error_message
    assert connections == 2


def test_pump_is_only_offered_for_the_lean_transports_own_body() -> None:
    assert body_pump(httpx.ByteStream(b"x")) is None
    assert body_pump(object()) is None
