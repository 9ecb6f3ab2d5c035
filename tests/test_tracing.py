"""Request ids and W3C traceparent, as a server written here sees them: one unique id per
request, the same on each retry of it; a traceparent per attempt, one trace a request."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import run_cli
from scripted_server import Received, Reply, scripted, sse

from llmbench_async import RunConfig, run
from llmbench_async.config import RetryPolicy

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")


def _ok(got: Received) -> Reply:
    chunk = {"id": "chatcmpl-9", "model": "m", "choices": [{"index": 0, "delta": {"content": "a"}}]}
    end = {
        "id": "chatcmpl-9",
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    return Reply([(0.0, sse(chunk)), (0.0, sse(end)), (0.0, b"data: [DONE]\n\n")])


def _records(path: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line["type"] == "request"]


def test_each_request_carries_a_unique_id_recorded_beside_the_response_id(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run.jsonl"
    with scripted(_ok) as server:
        result = run_cli(
            "run",
            "--base-url",
            server.base_url,
            "--model",
            "m",
            "-n",
            "6",
            "-c",
            "2",
            "-o",
            str(out),
            "-q",
        )
        sent = [got.headers.get("x-request-id") for got in server.log]
    assert result.code == 0, result.stderr
    assert all(s is not None and re.fullmatch("[0-9a-f]{32}", s) for s in sent)
    assert len(set(sent)) == 6
    records = _records(out)
    assert sorted(r["request_id"] for r in records) == sorted(sent)
    assert all(r["response_id"] == "chatcmpl-9" and r["trace_id"] is None for r in records)
    assert all("traceparent" not in got.headers for got in server.log)


def test_header_name_is_settable_and_none_sends_no_id(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    with scripted(_ok) as server:
        named = run_cli(
            "run",
            "--base-url",
            server.base_url,
            "--model",
            "m",
            "-n",
            "2",
            "--request-id-header",
            "X-Correlation-ID",
            "-q",
        )
        seen = list(server.log)
        server.log.clear()
        off = run_cli(
            "run",
            "--base-url",
            server.base_url,
            "--model",
            "m",
            "-n",
            "2",
            "--request-id-header",
            "none",
            "-o",
            str(out),
            "-q",
        )
        unseen = list(server.log)
    assert named.code == 0 and off.code == 0, named.stderr + off.stderr
    assert all("x-correlation-id" in g.headers and "x-request-id" not in g.headers for g in seen)
    assert all("x-request-id" not in g.headers for g in unseen)
    assert all(r["request_id"] is None for r in _records(out))


def test_retries_keep_the_request_id_and_trace_with_a_new_span() -> None:
    def flaky(got: Received) -> Reply:
        # every request's first attempt fails with a retryable 503
        tries = sum(
            1
            for g in server.log
            if g.headers.get("x-request-id") == got.headers.get("x-request-id")
        )
        if tries == 1:
            return Reply(
                [(0.0, b'{"error": {"message": "busy"}}')],
                status=503,
                content_type="application/json",
            )
        return _ok(got)

    with scripted(flaky) as server:
        config = RunConfig(
            base_url=server.base_url,
            model="m",
            n=3,
            concurrency=1,
            traceparent=True,
            retry=RetryPolicy(retries=2, base_backoff=0.01, max_backoff=0.02),
        )
        result = run(config)
        log = list(server.log)
    assert result.summary.ok == 3 and len(log) == 6
    by_id: dict[str, list[Received]] = {}
    for got in log:
        by_id.setdefault(got.headers["x-request-id"], []).append(got)
    assert len(by_id) == 3 and all(len(v) == 2 for v in by_id.values())
    for record in result.records:
        attempts = by_id[str(record.request_id)]
        parents = [TRACEPARENT.fullmatch(g.headers["traceparent"]) for g in attempts]
        assert all(p is not None for p in parents)
        traces = {p.group(1) for p in parents if p}
        spans = {p.group(2) for p in parents if p}
        assert traces == {record.trace_id} and len(spans) == 2 and record.attempts == 2
    assert len({r.trace_id for r in result.records}) == 3  # one trace a request


def test_identity_header_clashes_are_usage_errors() -> None:
    for args in (
        ("--request-id-header", "Bad Name"),
        ("--request-id-header", "Content-Length"),
        ("--request-id-header", "content-type"),
        ("--request-id-header", "Authorization"),
        ("--request-id-header", "traceparent"),
        ("--request-id-header", "X-Id", "--header", "x-id: mine"),
        ("--traceparent", "--header", "traceparent: 00-x"),
    ):
        result = run_cli("run", "--mock", "-n", "1", *args)
        assert result.code == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
