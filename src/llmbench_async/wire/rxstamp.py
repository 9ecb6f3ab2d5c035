"""Kernel receive timestamps for the lean transport's socket reads (Linux, plain TCP).

The read callback stamps bytes when the event loop gets to the socket. A loop busy with other
streams (the end of one wave's responses and the sending of the next, at C = 128 and more)
reaches a socket milliseconds after its bytes came, and every instant taken there is that
late. Linux stamps each received TCP segment; with `SO_TIMESTAMPNS` set, `recvmsg` returns the
stamp of the last segment it consumed, on CLOCK_REALTIME. That is the arrival of a read's
final bytes whatever the loop was doing: never later than the callback, never earlier than
any byte of the read reached the machine.

asyncio's selector transport reads with `recv`, which drops ancillary data, so `install`
replaces the transport's read step with one that calls `recvmsg` (the same buffer size, the
same error, EOF and fatal-error handling) and hands each read to the protocol with its kernel
arrival on `perf_counter_ns`'s clock. The stamp is converted with the two clocks read together
at each read, so a clock step between reads does not move it. Any other transport (TLS,
uvloop, another platform, a Python whose transport lacks these parts) is left as it is: its
reads are stamped in the callback.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["install"]

# Python's socket module has no name for it; 35 on Linux (asm-generic/socket.h)
SO_TIMESTAMPNS: int = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@ll")  # struct timespec: tv_sec, tv_nsec (C longs)
_ANC_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)
_MAX_BEHIND_NS = 60 * 1_000_000_000  # a stamp older than this is a clock step: not trusted
_NEEDED = ("_sock", "_read_ready_cb", "_conn_lost", "_fatal_error", "_read_ready__on_eof")

Receiver = Callable[[bytes, int], None]
"""Takes one read's bytes and their arrival (perf_counter_ns)."""


def install(transport: object, receiver: Receiver) -> bool:
    """Make `transport` read with `recvmsg` and call `receiver(data, arrival_ns)` for each
    read, instead of its protocol's `data_received`. False (nothing changed) where that is
    not possible."""
    if not sys.platform.startswith("linux") or not all(hasattr(transport, a) for a in _NEEDED):
        return False
    sock = transport._sock  # type: ignore[attr-defined]
    if not isinstance(sock, socket.socket) or sock.type != socket.SOCK_STREAM:
        return False
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    ready = transport._read_ready_cb  # type: ignore[attr-defined]
    if getattr(ready, "__name__", "") != "_read_ready__data_received":
        return False  # a BufferedProtocol's read step, or one already replaced
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    transport._read_ready_cb = _reader(transport, sock, receiver)  # type: ignore[attr-defined]
    return True


def arrival(ancillary: list[tuple[int, int, bytes]], now_ns: int, real_ns: int) -> int:
    """The read's arrival on perf_counter_ns's clock: `now_ns` (perf_counter_ns) moved back by
    how long before `real_ns` (time_ns, read together with it) the kernel stamped the last
    segment; `now_ns` when there is no usable stamp."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            behind: int = real_ns - (sec * 1_000_000_000 + nsec)
            if 0 < behind < _MAX_BEHIND_NS:
                return now_ns - behind
    return now_ns


def _reader(transport: Any, sock: socket.socket, receiver: Receiver) -> Callable[[], None]:
    """The replacement read step: asyncio's `_read_ready__data_received`, with `recvmsg`."""
    size = transport.max_size
    perf, real = time.perf_counter_ns, time.time_ns

    def read_ready() -> None:
        if transport._conn_lost:
            return
        try:
            data, ancillary, _flags, _addr = sock.recvmsg(size, _ANC_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            transport._read_ready__on_eof()
            return
        arrived = arrival(ancillary, perf(), real())
        try:
            receiver(data, arrived)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    return read_ready
