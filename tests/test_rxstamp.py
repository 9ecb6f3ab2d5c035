"""wire/rxstamp.py: a read's arrival is the kernel's receive stamp, so a loop that reaches
the socket late does not move it. Through a real loopback connection: the loop is kept busy
after the bytes came, and the stamp still says when they came."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from llmbench_async.wire import rxstamp


class _Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.reads: list[tuple[bytes, int]] = []
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:  # only when not installed
        self.reads.append((data, time.perf_counter_ns()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


async def _late_read() -> tuple[bool, int, int, list[tuple[bytes, int]]]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    loop = asyncio.get_running_loop()
    protocol = _Collect()
    transport, _ = await loop.create_connection(lambda: protocol, "127.0.0.1", port)
    installed = rxstamp.install(transport, lambda data, at: protocol.reads.append((data, at)))
    peer, _ = server.accept()
    peer.sendall(b"hello")
    sent_ns = time.perf_counter_ns()
    time.sleep(0.2)  # the loop is busy: it reaches the socket 200 ms after the bytes came
    busy_until = time.perf_counter_ns()
    while not protocol.reads:
        await asyncio.sleep(0.001)
    peer.close()
    await asyncio.wait_for(protocol.closed.wait(), 5)  # EOF still reaches the protocol
    server.close()
    return installed, sent_ns, busy_until, protocol.reads


def test_the_stamp_is_when_the_bytes_came_not_when_the_loop_read_them() -> None:
    installed, sent_ns, busy_until, reads = asyncio.run(_late_read())
    assert installed  # Linux, plain TCP, the selector loop
    data, at = reads[0]
    assert data == b"hello"
    assert at < busy_until - 150_000_000  # well before the loop was free
    assert at >= sent_ns - 5_000_000  # and not before they were sent (small clock read slack)


def test_arrival_falls_back_to_now_without_a_usable_stamp() -> None:
    now, real = 5_000_000_000, 1_700_000_000_000_000_000
    assert rxstamp.arrival([], now, real) == now
    stamp = struct.pack("@ll", (real - 3_000_000) // 10**9, (real - 3_000_000) % 10**9)
    level, kind = socket.SOL_SOCKET, rxstamp.SO_TIMESTAMPNS
    assert rxstamp.arrival([(level, kind, stamp)], now, real) == now - 3_000_000
    future = struct.pack("@ll", (real + 10**9) // 10**9, 0)  # a clock step: not trusted
    assert rxstamp.arrival([(level, kind, future)], now, real) == now
    assert rxstamp.arrival([(level, kind, b"\0")], now, real) == now  # truncated


def test_a_transport_it_cannot_read_is_left_alone() -> None:
    assert rxstamp.install(object(), lambda data, at: None) is False
