"""Writing one planned completion response: whole, streamed token by token, or dripped.

Timing is drift-free: token k is written at the absolute instant ``t0 + offsets[k]``, where
t0 is when the request was fully read, or the later instant it got a `capacity` slot. All
tokens already due are batched into one write, so a late loop catches up instead of drifting.
"""

from __future__ import annotations

import asyncio
import zlib

from .capacity import Slots
from .encode import stream_events, whole_body
from .events import (
    DRIP_JSON,
    DRIP_SSE,
    GZIP,
    HUGE_FILL,
    HUGE_PIECE,
    LAST_CHUNK,
    MALFORMED,
    Stream,
    frame,
    gzip_body,
    identity,
)
from .http import JSON, SSE, Connection, Request, response_head
from .plan import EndlessOffsets, Plan
from .truth import Marks

__all__ = ["write_drip", "write_stream", "write_whole"]

_DRIP_INTERVAL_S = 0.2


class _Out:
    """Where a streamed body goes: HTTP chunks (or raw, HTTP/1.0), gzip-compressed or not.

    Event tables are framed with `framing`; with gzip they are left raw, and each write is
    compressed, sync-flushed (so every event arrives when written) and framed here.
    """

    __slots__ = ("_chunked", "_zip", "conn", "framing")

    def __init__(self, conn: Connection, chunked: bool, compress: bool) -> None:
        self.conn = conn
        self._chunked = chunked
        self._zip = zlib.compressobj(wbits=31) if compress else None
        self.framing = frame if chunked and not compress else identity

    def write(self, data: bytes, final: bool = False) -> None:
        """Write body bytes; `final` also ends the body (gzip trailer, terminating chunk)."""
        z = self._zip
        if z is not None:
            data = z.compress(data) + (z.flush() if final else z.flush(zlib.Z_SYNC_FLUSH))
            if self._chunked and data:
                data = frame(data)
        if final and self._chunked:
            data += LAST_CHUNK
        self.conn.write(data)


async def _sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    delay = deadline - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def write_whole(
    conn: Connection, req: Request, plan: Plan, marks: Marks, slots: Slots, compress: bool
) -> None:
    """Non-streaming (or static-body SSE): one body, written when the last token is due."""
    loop = conn.loop
    async with slots.hold(req.received) as (t0, slot):
        marks.slot, marks.running = slot, True
        if plan.endless:
            await loop.create_future()  # never answered
        last = max(plan.total, 1) - 1  # embeddings have no tokens: offsets[0] is when due
        await _sleep_until(loop, t0 + plan.offsets[last])
        if plan.stream:
            table = stream_events(plan, identity)
            tokens = b"".join(table.token(k) for k in range(plan.total))
            body = table.head() + tokens + table.tail()
            content_type = SSE
        else:
            body, content_type = whole_body(plan), JSON
        extra = b""
        if compress:
            body, extra = gzip_body(body), GZIP
        keep_alive = req.keep_alive
        head = response_head(
            200, content_type, keep_alive=keep_alive, length=len(body), extra=extra
        )
        now = loop.time()
        conn.write(head + body)
        marks.headers = marks.first = marks.content = marks.last = now
        marks.k = plan.total


async def write_stream(
    conn: Connection, req: Request, plan: Plan, marks: Marks, slots: Slots, compress: bool
) -> None:
    """SSE with one HTTP chunk per event, each token written at its absolute deadline.

    The plain path is one `_pump` to the end; reasoning and the fault point split it.
    With a capacity, the headers (and chat's role chunk) go out before the slot is taken.
    """
    chunked = req.http11
    out = _Out(conn, chunked, compress)
    table = stream_events(plan, out.framing)
    extra = GZIP if compress else b""
    head = response_head(200, SSE, keep_alive=req.keep_alive, chunked=chunked, extra=extra)
    marks.headers = conn.loop.time()
    if compress:  # the head is never compressed
        conn.write(head)
        head = b""
    opening = head + table.head()
    if slots.size is not None:
        out.write(opening)
        opening = b""
    async with slots.hold(req.received) as (t0, slot):
        marks.slot, marks.running = slot, True
        k = 0
        if plan.reasoning:
            k = await _pump(out, table, t0, k, plan.reasoning, opening, marks)
            opening = b""
        if plan.fault_at is not None:
            k = await _pump(out, table, t0, k, plan.fault_at, opening, marks)
            opening = b""
            await _sleep_until(conn.loop, t0 + plan.offsets[k])
            if plan.malformed:
                out.write(out.framing(MALFORMED))
            if plan.disconnect:
                conn.close()
                return
            if plan.error_event:
                out.write(table.error(k), final=True)
                return
            if plan.huge_line:
                await _huge(out, table, k, plan.huge_line, marks)
                k += 1
        await _pump(out, table, t0, k, plan.total, opening, marks, table.tail())


async def _pump(
    out: _Out,
    table: Stream,
    t0: float,
    k: int,
    stop: int,
    opening: bytes,
    marks: Marks,
    end: bytes | None = None,
) -> int:
    """Write tokens k..stop-1, each at t0 + offsets[k], batching all that are due per write.

    `opening` goes out with the first write; `end`, if given, with the last, which then
    ends the body. Returns `stop`.
    """
    conn = out.conn
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
            final = False
            if k == stop and end is not None:
                parts.append(end)
                final = True
            now = loop.time()
            out.write(b"".join(parts), final)
            parts.clear()
            marks.k = k  # live, for /metrics
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


async def _huge(out: _Out, table: Stream, k: int, size: int, marks: Marks) -> None:
    """Write token k as one event whose data line is `size` bytes, 64 KiB at a time."""
    conn, framing = out.conn, out.framing
    before, after = table.huge(k)
    line = len(before) - (before.rfind(b"\ndata: ") + 1)  # the data line's part in `before`
    fill = max(1, size - line - len(after) + 2)  # the line excludes its "\n\n"
    block = framing(HUGE_FILL)
    out.write(framing(before))
    for _ in range(fill // HUGE_PIECE):
        if conn.closed:
            return
        out.write(block)
        if conn.paused:
            await conn.drain()
    if fill % HUGE_PIECE:
        out.write(framing(HUGE_FILL[: fill % HUGE_PIECE]))
    out.write(framing(after))
    now = conn.loop.time()
    marks.k, marks.last = k + 1, now
    marks.first = marks.first or now
    marks.content = marks.content or now


async def write_drip(
    conn: Connection, req: Request, plan: Plan, marks: Marks, compress: bool
) -> None:
    """Headers, then one byte every 200 ms forever, never completing an event or a body."""
    chunked = req.http11
    out = _Out(conn, chunked, compress)
    content_type = SSE if plan.stream else JSON
    extra = GZIP if compress else b""
    keep_alive = req.keep_alive
    conn.write(
        response_head(200, content_type, keep_alive=keep_alive, chunked=chunked, extra=extra)
    )
    marks.headers, marks.running = conn.loop.time(), True
    text = DRIP_SSE if plan.stream else DRIP_JSON
    i = 0
    while True:
        out.write(out.framing(text[i : i + 1] or b"x"))
        i += 1
        await asyncio.sleep(_DRIP_INTERVAL_S)
