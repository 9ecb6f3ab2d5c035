"""Admission: at most `capacity` responses generate at once, the rest wait in FIFO order.

Without a capacity every response is admitted at once; the running count is kept either
way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["Slots"]


class Slots:
    """FIFO admission for `capacity` (None: unlimited), with the running count."""

    __slots__ = ("_free", "_loop", "_waiters", "running", "size")

    def __init__(self, size: int | None, loop: asyncio.AbstractEventLoop) -> None:
        self.size = size
        self._free = size
        self._loop = loop
        self._waiters: deque[asyncio.Future[float]] = deque()
        self.running = 0  # responses holding a slot

    async def acquire(self) -> float | None:
        """Take a slot: None if one was free, else the instant one was handed over."""
        if self._free is None or self._free > 0:
            if self._free is not None:
                self._free -= 1
            self.running += 1
            return None
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            granted = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.running += 1
                self.release()  # handed over just as the client left: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        self.running += 1
        return granted

    def release(self) -> None:
        """Hand the slot to the longest waiter, or free it."""
        self.running -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(self._loop.time())
                return
        if self._free is not None:
            self._free += 1

    def hold(self, received: float) -> _Hold:
        """``async with slots.hold(received) as (t0, slot)``: hold a slot for the block.

        t0 is when timing starts (`received` if a slot was free, else the hand-over
        instant) and slot when the slot was taken.
        """
        return _Hold(self, received)


class _Hold:
    """The async context manager of `Slots.hold` (a class: cheaper than a generator)."""

    __slots__ = ("_received", "_slots")

    def __init__(self, slots: Slots, received: float) -> None:
        self._slots = slots
        self._received = received

    async def __aenter__(self) -> tuple[float, float]:
        slots = self._slots
        granted = await slots.acquire()
        if granted is None:
            return self._received, slots._loop.time()
        return granted, granted

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()
