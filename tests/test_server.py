"""The server-side part of the reports: the summary JSON's `server_timing` and `phases`
keys and the console's lines, the same from a run and from its results file read back
(`report`), from files written before these fields existed, and refused (one line, exit 2)
from a file whose server timing is not a set of non-negative numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import StartMock, run_cli


def _run(start_mock: StartMock, tmp_path: Path, *extra: str) -> tuple[Path, dict[str, Any], str]:
    mock = start_mock(ttft_ms=20, itl_ms=1, tokens=5, server_timings=True)
    out, doc = tmp_path / "r.jsonl", tmp_path / "s.json"
    res = run_cli(
        "--base-url", mock.base_url, "-n", "6", "-c", "2", "--prefix-tokens", "30",
        "-o", str(out), "--json", str(doc), *extra,
    )  # fmt: skip
    assert res.code == 0, res.stderr
    return out, json.loads(doc.read_text()), res.stdout


def test_report_of_a_saved_run_says_the_same(start_mock: StartMock, tmp_path: Path) -> None:
    out, live, stdout = _run(start_mock, tmp_path, "--no-preconnect")
    assert live["server_timing"]["mean_split_ms"]["prefill_ms"] == pytest.approx(20.0)
    assert live["server_timing"]["mean_split_ms"]["decode_ms"] == pytest.approx(4.0)
    assert live["phases"]["new"]["requests"] >= 1
    again = tmp_path / "again.json"
    res = run_cli("report", str(out), "--json", str(again))
    assert res.code == 0, res.stderr
    saved = json.loads(again.read_text())
    assert saved["server_timing"] == live["server_timing"]
    assert saved["phases"] == live["phases"]
    for key in ("server_prefill_ms", "network_client_ms", "tcp_ms", "headers_new_ms"):
        assert saved["metrics"][key] == live["metrics"][key]
    for line in ("Server timing:    prefill 20.00, decode 4.00", "Cache hits:", "Set-up phases:"):
        assert line in stdout and line in res.stdout


def test_a_file_from_before_reads_as_not_reported(tmp_path: Path) -> None:
    old = {
        "type": "request", "index": 0, "scheduled_ns": 0, "send_ns": 0, "end_ns": 9_000_000,
        "headers_ns": 1_000_000, "first_token_ns": 2_000_000, "last_token_ns": 8_000_000,
        "output_tokens": 3, "token_source": "usage", "status": 200, "finish_reason": "stop",
    }  # fmt: skip
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"type": "header", "config": {}}) + "\n" + json.dumps(old) + "\n")
    doc = tmp_path / "s.json"
    res = run_cli("report", str(path), "--json", str(doc))
    assert res.code == 0, res.stderr
    saved = json.loads(doc.read_text())
    assert saved["server_timing"]["note"] == "server timings: not reported"
    assert saved["server_timing"]["cache_hit_rate"] is None
    assert saved["phases"]["new"]["requests"] == 0 and saved["phases"]["reused"]["requests"] == 0
    assert saved["metrics"]["headers_ms"]["count"] == 1
    assert "Server timing:    not reported" in res.stdout


@pytest.mark.parametrize(
    "timing",
    [{"prefill_ms": "12"}, {"prefill_ms": -1}, {"decode_ms": 1e13}, [1], {"source": 7}],
    ids=["text", "negative", "huge", "list", "source"],
)
def test_a_hostile_saved_timing_is_one_line_exit_2(tmp_path: Path, timing: Any) -> None:
    line = {
        "type": "request", "index": 0, "scheduled_ns": 0, "send_ns": 0, "end_ns": 5,
        "status": 200, "server_timing": timing,
    }  # fmt: skip
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"type": "header", "config": {}}) + "\n" + json.dumps(line) + "\n")
    res = run_cli("report", str(path))
    assert res.code == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "server_timing" in lines[0] and "Traceback" not in res.stderr


def test_a_saved_source_name_is_escaped_for_each_sink(tmp_path: Path) -> None:
    line = {
        "type": "request", "index": 0, "scheduled_ns": 0, "send_ns": 0, "end_ns": 9_000_000,
        "first_token_ns": 2_000_000, "last_token_ns": 8_000_000, "output_tokens": 3,
        "status": 200, "finish_reason": "stop",
        "server_timing": {"source": "\x1b[31mevil|<b>x", "prefill_ms": 1.5},
    }  # fmt: skip
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps({"type": "header", "config": {}}) + "\n" + json.dumps(line) + "\n")
    md, doc = tmp_path / "m.md", tmp_path / "s.json"
    res = run_cli("report", str(path), "--markdown", str(md), "--json", str(doc))
    assert res.code == 0, res.stderr
    assert "Server timing:    prefill 1.50, network+client 7.50" in res.stdout
    assert "\x1b" not in res.stdout
    text = md.read_text()
    assert "**Server timing:** prefill 1.50, network+client 7.50" in text
    assert "<b>" not in text and "\x1b" not in text
    assert "\x1b" not in doc.read_text()  # the JSON writer escapes control characters
