"""The connect metric (new vs reused connections) and `--preconnect` keeping connect time out
of the first wave's TTFT, checked against the mock server's own truth log."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from conftest import run_cli

from llmbench_async import MockProcess, RunConfig, run
from llmbench_async.mock import MockConfig
from llmbench_async.records import RequestRecord
from llmbench_async.results.stats import summarize


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_connect_metric_counts_only_new_connections() -> None:
    def rec(i: int, new: bool | None, connect_ns: int | None) -> RequestRecord:
        return RequestRecord(i, 0, 10, 20, new_connection=new, connect_ns=connect_ns)

    summary = summarize(
        [rec(0, True, 3_000_000), rec(1, False, 0), rec(2, True, 1_000_000), rec(3, None, None)]
    )
    stats = summary.metrics["connect_ms"]
    assert stats.count == 2 == summary.new_connections
    assert (stats.min, stats.max) == (1.0, 3.0)
    none_new = summarize([rec(0, False, 0), rec(1, False, 0)])
    assert "connect_ms" not in none_new.metrics and none_new.new_connections == 0


def test_cold_run_reports_connect_time_and_new_connections(
    fast_mock: MockProcess, tmp_path: Path
) -> None:
    summary = tmp_path / "s.json"
    res = run_cli(
        "--base-url", fast_mock.base_url, "--model", "mock-model", "-n", "12", "-c", "4",
        "--no-preconnect", "--json", str(summary), "--fail-if", "connect.p99<10s",
        "--fail-if", "connect.min>60s",
    )  # fmt: skip
    assert res.code == 1, res.stderr  # the second threshold fails: connects take < 60 s
    data = json.loads(summary.read_text())
    connect = data["metrics"]["connect_ms"]
    assert connect["count"] == 4 == data["requests"]["new_connections"]
    assert 0 < connect["min"] <= connect["max"] < 10_000
    verdicts = {t["expression"]: t["passed"] for t in data["thresholds"]}
    assert verdicts == {"connect.p99<10s": True, "connect.min>60s": False}
    assert "Connect (ms)" in res.stdout and "4 opened during the run" in res.stdout


def test_warm_run_reports_no_connect_row(fast_mock: MockProcess, tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    res = run_cli(
        "--base-url", fast_mock.base_url, "--model", "mock-model", "-n", "8", "-c", "4",
        "--json", str(summary),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    data = json.loads(summary.read_text())
    assert data["metrics"]["connect_ms"] is None and data["requests"]["new_connections"] == 0
    assert "Connect (ms)" not in res.stdout


def test_preconnect_keeps_connect_out_of_first_wave_ttft(tmp_path: Path) -> None:
    """C=64, 64 requests: the whole run is the first wave. With the default preconnect no
    request opens a connection; every request reached the server after our send stamp (both
    read CLOCK_MONOTONIC), and each TTFT is at least the server's own (first token written −
    request received) and close to it. The old send stamp, taken before the connect, put
    each connect and the connects queued behind it (tens of ms) into these TTFTs. The
    median bound leaves room for a loaded 2-core machine, where the server itself reads
    the burst late."""
    log = tmp_path / "truth.jsonl"
    cfg = MockConfig(ttft_ms=200, itl_ms=10, tokens=4, log_path=str(log))
    with MockProcess(cfg) as mock:
        config = RunConfig(
            base_url=mock.base_url, model="mock-model", n=64, concurrency=64, max_tokens=4
        )
        result = run(config)
    records = result.records
    assert len(records) == 64 and result.summary.ok == 64
    assert all(r.connect_ns == 0 and r.new_connection is False for r in records)
    assert result.summary.new_connections == 0
    truth = {t["id"]: t["monotonic"] for t in _lines(log) if t.get("status") == 200}
    errors = []
    for r in records:
        t = truth[r.response_id]
        assert t["received"] * 1e9 >= r.send_ns  # the bytes left before the server had them
        assert r.ttft_ns is not None
        errors.append(r.ttft_ns / 1e6 - (t["first_token"] - t["received"]) * 1e3)
    assert min(errors) >= -1.0, sorted(errors)  # never shorter than the truth
    assert statistics.median(errors) < 20.0, sorted(errors)
