"""Token instants are when the bytes reached the process, not when our task got round to
parsing them: a raw-socket server notes when it wrote each part, and the client is made busy
on purpose between the bytes' arrival and its reading them."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
from sockserver import SocketServer, read_request

from llmbench_async.wire.connection import EXCHANGE_KEY, Exchange
from llmbench_async.wire.transport import LeanTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
EVENT = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


class PacedServer:
    """Answers a request with `parts`, one write every 0.1 s; `sent_ns` holds
    perf_counter_ns() just before each write (the client may see the bytes before `sendall`
    returns here). A behaviour on the one test socket server."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts
        self.sent_ns: list[int] = []
        self._server = SocketServer(self._answer).__enter__()
        self.url = self._server.url + "/v1/chat/completions"

    def _answer(self, conn: socket.socket, _number: int) -> None:
        if read_request(conn, bytearray()) is None:
            return
        for part in self.parts:
            self.sent_ns.append(time.perf_counter_ns())
            conn.sendall(part)
            time.sleep(0.1)

    def close(self) -> None:
        self._server.__exit__(None, None, None)


async def _exchange(url: str) -> tuple[Exchange, list[int], int]:
    """One streamed request; the caller sleeps 0.35 s after the head, so the event (sent at
    +0.1 s) waits in the socket's reader while we are away."""
    transport = LeanTransport()
    info = Exchange()
    request = httpx.Request("POST", url, content=b"{}", extensions={EXCHANGE_KEY: info})
    try:
        response = await transport.handle_async_request(request)
        head_ns = info.head_ns
        assert head_ns is not None
        await asyncio.sleep(0.35)  # busy elsewhere: the event arrives meanwhile
        read_at = time.perf_counter_ns()
        arrivals = []
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        async for piece in stream:
            assert piece
            assert info.arrived_ns is not None
            arrivals.append(info.arrived_ns)
        await stream.aclose()
        return info, arrivals, read_at
    finally:
        await transport.aclose()


def test_body_pieces_carry_their_arrival_not_the_read() -> None:
    server = PacedServer(HEAD, _chunk(EVENT), b"0\r\n\r\n")  # the head, an event, the end
    try:
        info, arrivals, read_at = asyncio.run(_exchange(server.url))
    finally:
        server.close()
    head_sent, event_sent, _end_sent = server.sent_ns
    assert info.head_ns is not None and 0 <= info.head_ns - head_sent < 30e6
    # the event was read 0.25 s after it arrived; its instant is the arrival
    assert read_at - event_sent > 200e6
    assert 0 <= arrivals[0] - event_sent < 30e6, (arrivals[0] - event_sent) / 1e6
    assert all(a >= arrivals[0] for a in arrivals)


def test_reads_that_waited_together_keep_their_own_arrivals() -> None:
    """The task reads late, after both events and the end came: the iterator hands over
    one read at a time, each with its own arrival, not the oldest one's for all; the
    response's end is the arrival of its last bytes."""
    server = PacedServer(HEAD, _chunk(EVENT), _chunk(EVENT), b"0\r\n\r\n")
    try:
        info, arrivals, read_at = asyncio.run(_exchange(server.url))
    finally:
        server.close()
    _head, first_sent, second_sent, end_sent = server.sent_ns
    assert read_at - end_sent > 0  # everything had arrived before the task read
    assert len(arrivals) == 2  # one piece per read, not one joined piece
    assert 0 <= arrivals[0] - first_sent < 30e6, (arrivals[0] - first_sent) / 1e6
    assert 0 <= arrivals[1] - second_sent < 30e6, (arrivals[1] - second_sent) / 1e6
    assert info.end_ns is not None and 0 <= info.end_ns - end_sent < 30e6
