"""report/client_error.py: the client-error block of a calibrated run's console and
Markdown reports, and its place in the summary JSON and JUnit."""

from __future__ import annotations

from dataclasses import replace

from llmbench_async.records import RequestRecord
from llmbench_async.report.client_error import client_error_console, client_error_markdown
from llmbench_async.report.summary import RunInfo, RunReport
from llmbench_async.results.calibration import ClientError, Replay
from llmbench_async.results.stats import summarize

MS = 1_000_000


def _error(*, fine: bool) -> ClientError:
    samples = {"ttft": (0.1, 0.2, 9.5), "e2e": (0.2, 0.3, 0.4), "queue_delay": (1.0, 2.0, 3.0)}
    return ClientError(
        samples=samples,
        matched=3,
        unmatched=1,
        replay=Replay(200.0, 10.0, 64, source="target"),
        loop_lag_ms={"p50": 0.5, "p99": 25.0, "max": 30.0},
        cpu_percent=87.0,
        workers=1,
        verdict="client error TTFT p99 9.5 ms: too high; try --workers 2",
        fine=fine,
        suggestions=("--workers 2",),
    )


def test_console_block_shows_each_measured_clock_the_self_check_and_the_verdict() -> None:
    lines = client_error_console(_error(fine=False))
    text = "\n".join(lines)
    assert "replayed TTFT 200 ms, ITL 10 ms, 64 tokens (the target's medians)" in lines[0]
    assert "3 requests matched, 1 unmatched" in lines[0]
    ttft = next(line for line in lines if line.strip().startswith("TTFT"))
    assert ttft.split()[1:] == ["0.200", "9.31", "9.50"]  # p50, p99, max
    assert "Headers" not in text  # no sample: no row
    assert "loop lag p50 0.5 ms, p99 25.0 ms; CPU 87% (1 process)" in text
    assert lines[-1] == "!! Verdict: client error TTFT p99 9.5 ms: too high; try --workers 2"
    assert client_error_console(_error(fine=True))[-1].startswith("Verdict: ")


def test_markdown_block_is_a_table_under_the_verdict() -> None:
    md = "\n".join(client_error_markdown(_error(fine=True)))
    assert "✅ client error TTFT p99 9.5 ms" in md
    assert "| clock | p50 | p99 | max |" in md and "| E2E | 0.300 | 0.398 | 0.400 |" in md


def test_every_output_of_a_run_report_carries_the_client_error() -> None:
    record = RequestRecord(index=0, scheduled_ns=0, send_ns=0, first_token_ns=5 * MS, end_ns=9 * MS)
    summary = replace(summarize([record]), client_error=_error(fine=False))
    info = RunInfo(tool_version="x", endpoint="mock", model="m", settings="s", started_at="")
    report = RunReport(summary, info)
    doc = report.json()
    assert doc["client_error"]["clocks"]["ttft"]["max"] == 9.5
    assert doc["client_error"]["suggestions"] == ["--workers 2"]
    assert "Client error (ours" in report.console(width=100, color=False)
    assert "| TTFT | 0.200 | 9.31 | 9.50 |" in report.markdown()
    assert "client error: client error TTFT p99 9.5 ms" in report.junit()
    html = report.html()
    assert '<table id="client-error">' in html
    assert 'data-key="client_error.clocks.ttft.max" data-value="9.5"' in html
    assert 'data-key="client_error.verdict">client error TTFT p99 9.5 ms' in html
    plain = RunReport(summarize([record]), info)
    assert plain.json()["client_error"] is None
    assert "Client error" not in plain.console(width=100, color=False)
    assert "client-error" not in plain.html()
