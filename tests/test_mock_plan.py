"""mock/plan.py: one request to a refusal or a plan: auth, drawn failures, jitter.
Each checked over real loopback sockets."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from mockwire import (
    CHAT,
    in_process,
    serving,
    truth,
)

from llmbench_async.mock import MockConfig


def test_jitter_stays_within_bounds(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    config = MockConfig(ttft_ms=40, itl_ms=5, jitter_ms=20, tokens=4, seed=7, log_path=str(log))
    with in_process(config) as server, httpx.Client(base_url=server.base_url) as client:
        for _ in range(5):
            client.post("/chat/completions", json={**CHAT, "stream": True})
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    ttfts = [r["first_token"] - r["received"] for r in rows]
    assert all(0.020 - 0.002 <= t <= 0.060 + 0.010 for t in ttfts)
    assert len({round(t, 3) for t in ttfts}) > 1  # it does vary


def test_fail_rate_share_status_and_truth_log(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    knobs = {"fail_rate": 0.5, "fail_status": 529, "seed": 3, "log_path": str(log)}
    with serving(**knobs) as mock, httpx.Client(base_url=mock.base_url) as client:
        statuses = [client.post("/chat/completions", json=CHAT).status_code for _ in range(40)]
    assert set(statuses) == {200, 529}
    assert 10 <= statuses.count(529) <= 30
    rows = truth(log)
    assert [r["status"] for r in rows] == statuses
    assert all(r.get("fault") == ("fail" if r["status"] == 529 else None) for r in rows)


def test_auth_key_and_status(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    with (
        serving(auth_key="sk-right", auth_status=403, log_path=str(log)) as mock,
        httpx.Client(base_url=mock.base_url) as client,
    ):
        missing = client.post("/chat/completions", json=CHAT)
        wrong = client.post("/chat/completions", json=CHAT, headers={"authorization": "Bearer x"})
        models = client.get("/models")
        good = client.post(
            "/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-right"}
        )
    assert missing.status_code == wrong.status_code == models.status_code == 403
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert good.status_code == 200
    assert [r.get("fault") for r in truth(log)] == ["auth", "auth", None]
