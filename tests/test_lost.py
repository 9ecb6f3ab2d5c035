"""A target lost mid-run stops the run within seconds, whatever -n is (`--lost-after`):
exit 3, one line `target lost after N ok: ...`, the requests not sent counted, and the
results gathered so far kept. A target that throttles (429) but still answers some
requests is slow, not lost: its retries and backoff stay as they are.

The servers are raw sockets written here: one that serves a few requests and then closes
its listening socket (its connections refused or closed without an answer), one that
stays up but answers 500 to everything after a few successes (a proxy whose upstream
died), and one answering 429 to most requests."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, run_cli
from rawserver import RawServer, Seen, response, sse

OK = sse(
    [
        b'{"id":"r","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}',
        b'{"id":"r","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":1}}',
        b"[DONE]",
    ]
)
UPSTREAM_GONE = response(500, b'{"error":{"message":"upstream llama-server unreachable"}}')
OK_COUNT = 5


class Dying:
    """Serves OK_COUNT requests, then closes its listening socket: later connections are
    refused, and pooled ones are closed without an answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.served = 0
        self.server = RawServer(self.handle)

    def handle(self, seen: Seen, number: int) -> bytes:
        with self.lock:
            if self.served >= OK_COUNT:
                return b""
            self.served += 1
            if self.served == OK_COUNT:
                self.server.close_listener()  # the port refuses connections from now on
            return OK


def _proxy(seen: Seen, number: int) -> bytes:
    return OK if number < OK_COUNT else UPSTREAM_GONE


def _throttle(seen: Seen, number: int) -> bytes:
    if number % 3 == 0:
        return OK
    return response(429, b'{"error":{"message":"slow down"}}', extra="Retry-After: 0\r\n")


def _run(url: str, tmp_path: Path, *args: str, timeout: float = 60) -> tuple[CliResult, float]:
    base = ["--base-url", url + "/v1", "-m", "m", "-q"]
    base += ["-o", str(tmp_path / "r.jsonl"), "--json", str(tmp_path / "s.json")]
    started = time.monotonic()
    res = run_cli(*base, *args, timeout=timeout)
    return res, time.monotonic() - started


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == "request"]


def _lost_line(res: CliResult) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("llmbench-async: error: target lost after "), res.stderr
    return lines[0]


LOADS = {
    "closed": ("-n", "1000", "-c", "4"),
    "open": ("-n", "1000", "--rate", "400"),
    "duration": ("--duration", "10m", "-c", "4"),
    "workers": ("-n", "1000", "-c", "4", "--workers", "2"),
}


@pytest.mark.parametrize("load", LOADS, ids=list(LOADS))
def test_a_server_that_goes_away_stops_the_run_fast(tmp_path: Path, load: str) -> None:
    dying = Dying()
    with dying.server as srv:
        res, took = _run(srv.url, tmp_path, *LOADS[load])
    assert res.code == 3, res.stderr
    assert took < 15, f"a dead target held the run {took:.1f} s"
    assert "Traceback" not in res.stderr
    line = _lost_line(res)
    assert f"target lost after {OK_COUNT} ok: 10 attempts in a row failed" in line
    records = _records(tmp_path)
    assert sum(1 for r in records if r.get("error_kind") is None) == OK_COUNT
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["requests"]["ok"] == OK_COUNT
    assert summary["problem"].startswith(f"target lost after {OK_COUNT} ok")
    not_sent = summary["requests"]["not_sent"]
    if load == "duration":
        assert not_sent is None  # no count was planned
    else:
        sent = summary["requests"]["total"] + summary["requests"]["cancelled"]
        assert not_sent == 1000 - sent and not_sent > 900


def test_a_proxy_answering_5xx_after_its_upstream_died_stops_the_run(tmp_path: Path) -> None:
    with RawServer(_proxy) as srv:
        res, took = _run(srv.url, tmp_path, "-n", "1000", "-c", "2")
        asked = len(srv.seen)
    assert res.code == 3, res.stderr
    assert took < 15
    line = _lost_line(res)
    assert "the last http_5xx: HTTP 500: upstream llama-server unreachable" in line
    assert asked < OK_COUNT + 10 + 2 * 4  # stopped at the 10th failed attempt (+ in flight)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["requests"]["ok"] == OK_COUNT
    assert summary["requests"]["not_sent"] > 900
    assert len(_records(tmp_path)) == summary["requests"]["total"]


def test_lost_after_sets_the_count_and_off_disables_it(tmp_path: Path) -> None:
    with RawServer(_proxy) as srv:
        res, _ = _run(srv.url, tmp_path, "-n", "1000", "-c", "1", "--lost-after", "3")
        asked = len(srv.seen)
    assert res.code == 3 and "3 attempts in a row failed" in _lost_line(res)
    assert asked == OK_COUNT + 3
    with RawServer(_proxy) as srv:
        res, _ = _run(
            srv.url, tmp_path, "-n", "12", "-c", "2", "--retries", "0", "--lost-after", "off"
        )
    assert "target lost" not in res.stderr
    assert len(_records(tmp_path)) == 12  # every request was sent


def test_a_throttling_target_with_some_successes_is_not_lost(tmp_path: Path) -> None:
    with RawServer(_throttle) as srv:
        res, _ = _run(srv.url, tmp_path, "-n", "30", "-c", "4", "--lost-after", "3")
    assert "target lost" not in res.stderr, res.stderr
    assert res.code == 0, res.stderr
    records = _records(tmp_path)
    assert len(records) == 30
    assert sum(r.get("attempts", 1) for r in records) > 30  # 429s were retried


@pytest.mark.parametrize("bad", ["-1", "many", "1.5", ""])
def test_lost_after_rejects_garbage(bad: str) -> None:
    res = run_cli("--base-url", "http://127.0.0.1:9/v1", "-m", "m", "--lost-after", bad)
    assert res.code == 2 and "--lost-after" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_sweep_ends_at_a_lost_target(tmp_path: Path) -> None:
    dying = Dying()
    with dying.server as srv:
        res, took = _run(srv.url, tmp_path, "-n", "500", "-c", "2,4,8")
    assert res.code == 3, res.stderr
    assert took < 15
    _lost_line(res)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert len(summary["levels"]) == 1  # the sweep stopped at the level that lost it


def test_throttling_where_truly_nothing_succeeds_is_lost_after_the_slow_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """429s count only once nothing has succeeded for the slow window (60 s; shortened
    here, through the Python API, so the test stays short)."""
    from llmbench_async import RunConfig, run
    from llmbench_async.loadgen import lost

    monkeypatch.setattr(lost, "SLOW_WINDOW_NS", 400_000_000)

    def handler(seen: Seen, number: int) -> bytes:
        if number < 2:
            return OK
        return response(429, b'{"error":{"message":"quota"}}', extra="Retry-After: 0\r\n")

    with RawServer(handler) as srv:
        started = time.monotonic()
        result = run(RunConfig(base_url=srv.url + "/v1", model="m", n=1000, concurrency=2))
        took = time.monotonic() - started
    assert result.outcome.lost is not None and "rate_limited" in result.outcome.lost
    assert result.problem is not None and result.problem.startswith("target lost after 2 ok")
    assert result.summary.ok == 2
    assert 0.4 <= took < 10
    sent = result.summary.total + result.outcome.cancelled
    assert result.outcome.not_sent == 1000 - sent and sent < 500


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_target_that_accepts_and_never_answers_is_lost_one_timeout_after_the_window(
    monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    """A target that accepts connections and then stays silent: each attempt waits its read
    timeout. Once nothing has succeeded for the slow window (60 s; shortened here, through
    the Python API), the next timeout ends the run, so at -c 1 it is not held K timeouts
    long (10 min at the defaults)."""
    from llmbench_async import RunConfig, run
    from llmbench_async.config import RetryPolicy, Timeouts
    from llmbench_async.loadgen import lost

    monkeypatch.setattr(lost, "SLOW_WINDOW_NS", 1_000_000_000)

    def handler(seen: Seen, number: int) -> bytes:
        if number < 2:
            return OK
        time.sleep(3)  # silent well past the read timeout, then closes
        return b""

    with RawServer(handler) as srv:
        started = time.monotonic()
        config = RunConfig(
            base_url=srv.url + "/v1",
            model="m",
            n=1000,
            concurrency=concurrency,
            timeouts=Timeouts(read=0.4),
            retry=RetryPolicy(retries=0),
        )
        result = run(config)
        took = time.monotonic() - started
    assert result.outcome.lost is not None and "read_timeout" in result.outcome.lost
    assert result.outcome.lost.startswith("nothing succeeded for")
    assert result.problem is not None and result.problem.startswith("target lost after 2 ok")
    assert result.summary.ok == 2
    # the window (1 s) and one more read timeout (0.4 s), not ten of them (4 s and more)
    assert 1.0 <= took < 3.5, took
    assert result.outcome.not_sent is not None and result.outcome.not_sent > 900
