"""Writing one planned completion response: whole, streamed token by token, or dripped.

Timing is drift-free: token k is written at the absolute instant ``t0 + offsets[k]``, where
t0 is when the request was fully read, or the later instant it got a `capacity` slot. All
tokens already due are batched into one write, so a late loop catches up instead of drifting.
"""

from __future__ import annotations

import asyncio

from .capacity import Slots
from .events import (
    DRIP_JSON,
    DRIP_SSE,
    HUGE_FILL,
    HUGE_PIECE,
    LAST_CHUNK,
    MALFORMED,
    Events,
    events,
    frame,
    full_body,
    identity,
)
from .http import JSON, SSE, Connection, Request, response_head
from .plan import EndlessOffsets, Plan
from .truth import Marks

__all__ = ["write_drip", "write_stream", "write_whole"]

_DRIP_INTERVAL_S = 0.2


async def _sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    delay = deadline - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def write_whole(
    conn: Connection, req: Request, plan: Plan, marks: Marks, slots: Slots
) -> None:
    """Non-streaming (or static-body SSE): one body, written when the last token is due."""
    loop = conn.loop
    async with slots.hold(req.received) as (t0, slot):
        marks.slot = slot
        if plan.endless:
            await loop.create_future()  # never answered
        await _sleep_until(loop, t0 + plan.offsets[plan.total - 1])
        if plan.stream:
            table = events(plan, identity)
            tokens = b"".join(table.token(k) for k in range(plan.total))
            body = table.head() + tokens + table.tail()
            content_type = SSE
        else:
            body, content_type = full_body(plan), JSON
        head = response_head(200, content_type, keep_alive=req.keep_alive, length=len(body))
        now = loop.time()
        conn.write(head + body)
        marks.headers = marks.first = marks.content = marks.last = now
        marks.k = plan.total


async def write_stream(
    conn: Connection, req: Request, plan: Plan, marks: Marks, slots: Slots
) -> None:
    """SSE with one HTTP chunk per event, each token written at its absolute deadline.

    The plain path is one `_pump` to the end; reasoning and the fault point split it.
    With a capacity, the headers (and chat's role chunk) go out before the slot is taken.
    """
    chunked = req.http11
    framing = frame if chunked else identity
    table = events(plan, framing)
    head = response_head(200, SSE, keep_alive=req.keep_alive, chunked=chunked)
    opening = head + table.head()
    marks.headers = conn.loop.time()
    if slots.size is not None:
        conn.write(opening)
        opening = b""
    async with slots.hold(req.received) as (t0, slot):
        marks.slot = slot
        end = b"" if plan.disconnect else table.tail() + (LAST_CHUNK if chunked else b"")
        k = 0
        if plan.reasoning:
            k = await _pump(conn, table, t0, k, plan.reasoning, opening, marks)
            opening = b""
        if plan.fault_at is not None:
            k = await _pump(conn, table, t0, k, plan.fault_at, opening, marks)
            opening = b""
            await _sleep_until(conn.loop, t0 + plan.offsets[k])
            if plan.malformed:
                conn.write(framing(MALFORMED))
            if plan.disconnect:
                conn.close()
                return
            if plan.huge_line:
                await _huge(conn, table, k, plan.huge_line, chunked, marks)
                k += 1
        await _pump(conn, table, t0, k, plan.total, opening, marks, end)


async def _pump(
    conn: Connection,
    table: Events,
    t0: float,
    k: int,
    stop: int,
    opening: bytes,
    marks: Marks,
    end: bytes = b"",
) -> int:
    """Write tokens k..stop-1, each at t0 + offsets[k], batching all that are due per write.

    `opening` goes out with the first write, `end` with the last; returns `stop`.
    """
    loop = conn.loop
    offsets: tuple[float, ...] | EndlessOffsets = table.plan.offsets
    k0 = k
    parts = [opening]
    horizon = loop.time()
    t_first: float | None = None
    t_last: float | None = None
    try:
        while True:
            while k < stop and t0 + offsets[k] <= horizon:
                parts.append(table.token(k))
                k += 1
            if k == stop:
                parts.append(end)
            now = loop.time()
            conn.write(b"".join(parts))
            parts.clear()
            if k > k0:
                t_last = now
                if t_first is None:
                    t_first = now
            if k == stop:
                return k
            if conn.paused:
                await conn.drain()
            due = t0 + offsets[k]
            await _sleep_until(loop, due)
            horizon = max(loop.time(), due)  # a timer may fire a hair early
    finally:
        marks.k = k
        if t_first is not None:
            marks.last = t_last
            marks.first = marks.first or t_first
            if marks.content is None and k0 >= marks.content_from:
                marks.content = t_first


async def _huge(
    conn: Connection, table: Events, k: int, size: int, chunked: bool, marks: Marks
) -> None:
    """Write token k as one event whose data line is `size` bytes, 64 KiB at a time."""
    before, after = table.huge(k)
    fill = max(1, size - len(before) - len(after) + 2)  # the line excludes its "\n\n"
    framing = frame if chunked else identity
    block = framing(HUGE_FILL)
    conn.write(framing(before))
    for _ in range(fill // HUGE_PIECE):
        if conn.closed:
            return
        conn.write(block)
        if conn.paused:
            await conn.drain()
    if fill % HUGE_PIECE:
        conn.write(framing(HUGE_FILL[: fill % HUGE_PIECE]))
    conn.write(framing(after))
    now = conn.loop.time()
    marks.k, marks.last = k + 1, now
    marks.first = marks.first or now
    marks.content = marks.content or now


async def write_drip(conn: Connection, req: Request, plan: Plan, marks: Marks) -> None:
    """Headers, then one byte every 200 ms forever, never completing an event or a body."""
    chunked = req.http11
    framing = frame if chunked else identity
    content_type = SSE if plan.stream else JSON
    conn.write(response_head(200, content_type, keep_alive=req.keep_alive, chunked=chunked))
    marks.headers = conn.loop.time()
    text = DRIP_SSE if plan.stream else DRIP_JSON
    i = 0
    while True:
        conn.write(framing(text[i : i + 1] or b"x"))
        i += 1
        await asyncio.sleep(_DRIP_INTERVAL_S)
