"""A run that lost its target says so in every output, and `report` of its results file
restates it: the Markdown headline (the job summary's) never shows a green tick on a run
that exited 3. A raw-socket proxy answering 5xx once its upstream died, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from rawserver import RawServer, Seen, response, sse

OK = sse(
    [
        b'{"id":"r","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}',
        b'{"id":"r","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        b"[DONE]",
    ]
)
OK_COUNT = 4


def _proxy(seen: Seen, number: int) -> bytes:
    if number < OK_COUNT:
        return OK
    return response(500, b'{"error":{"message":"upstream gone"}}')


def test_report_restates_a_lost_target_and_no_output_shows_a_pass(tmp_path: Path) -> None:
    results, md, summary = tmp_path / "r.jsonl", tmp_path / "r.md", tmp_path / "s.json"
    with RawServer(_proxy) as srv:
        res = run_cli(
            "--base-url", srv.url + "/v1", "-m", "m", "-n", "300", "-c", "1", "-q",
            "--lost-after", "3", "--retries", "0", "--fail-if", "ttft.p95<30s",
            "-o", str(results), "--markdown", str(md), "--json", str(summary),
        )  # fmt: skip
    assert res.code == 3, res.stderr
    problem = json.loads(summary.read_text())["problem"]
    assert problem.startswith(f"target lost after {OK_COUNT} ok: 3 attempts in a row failed")
    head = md.read_text().splitlines()[0]
    assert head.startswith("### llmbench-async: ❌") and "✅" not in head, head
    again_md, again_json = tmp_path / "again.md", tmp_path / "again.json"
    report = run_cli(
        "report", str(results), "--fail-if", "ttft.p95<30s",
        "--markdown", str(again_md), "--json", str(again_json),
    )  # fmt: skip
    assert f"!! {problem}" in report.stdout
    # the same verdict as the run: exit 3, with the run's own one line
    assert report.code == 3
    assert report.stderr == f"llmbench-async: error: {problem}\n"
    assert json.loads(again_json.read_text())["problem"] == problem
    assert again_md.read_text() == md.read_text()
