"""mock/capacity.py: FIFO admission beyond `capacity` slots.
Each checked over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest
from mockwire import (
    CHAT,
    STREAM,
    request,
    serving,
    truth,
)


def test_capacity_queues_beyond_k(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    # times long enough that a busy machine's scheduling noise (tens of ms) cannot blur them
    knobs = {"ttft_ms": 300, "itl_ms": 30, "tokens": 10, "capacity": 2, "log_path": str(log)}

    async def ttft(client: httpx.AsyncClient) -> float:
        start = time.perf_counter()
        first = None
        async with client.stream("POST", "/chat/completions", json=STREAM) as response:
            async for line in response.aiter_lines():  # to the end: leaving frees the slot
                if first is None and '"content":" ' in line:
                    first = time.perf_counter() - start
        assert first is not None
        return first

    async def four(base_url: str) -> list[float]:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            await client.post("/chat/completions", json={**CHAT, "max_tokens": 1})  # warm up
            return sorted(await asyncio.gather(*(ttft(client) for _ in range(4))))

    with serving(**knobs) as mock:
        ttfts = asyncio.run(four(mock.base_url))
    # first two: ttft; last two: ttft + the first two's stream time (300 + 9 * 30 ms)
    assert ttfts[0] == pytest.approx(0.300, abs=0.080)
    assert ttfts[1] == pytest.approx(0.300, abs=0.080)
    assert ttfts[2] == pytest.approx(0.870, abs=0.120)
    assert ttfts[3] == pytest.approx(0.870, abs=0.120)
    rows = truth(log)[1:]
    waits = sorted(r["slot_acquired"] - r["received"] for r in rows)
    assert waits[1] < 0.05 and waits[2] == pytest.approx(0.570, abs=0.080)
    assert all(r["first_token"] - r["slot_acquired"] == pytest.approx(0.3, abs=0.05) for r in rows)


def test_capacity_slot_of_a_client_that_left_is_not_lost() -> None:
    with serving(itl_ms=20, tokens=6, capacity=1) as mock:
        with socket.create_connection((mock.host, mock.port), timeout=10) as holder:
            holder.sendall(request("/v1/chat/completions", STREAM))
            holder.recv(1)
            with socket.create_connection((mock.host, mock.port)) as quitter:
                quitter.sendall(request("/v1/chat/completions", STREAM))  # queued, then leaves
                quitter.recv(1)
            reader = holder.makefile("rb")
            while b"[DONE]" not in reader.readline():
                pass
        with httpx.Client(base_url=mock.base_url, timeout=10) as client:
            start = time.perf_counter()
            client.post("/chat/completions", json=STREAM)
            assert time.perf_counter() - start < 0.100 + 0.080
