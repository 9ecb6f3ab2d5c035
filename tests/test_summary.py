"""Reporters: thresholds in the console report, Markdown, JUnit XML and the comparison table."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

from llmbench_async.records import RequestRecord
from llmbench_async.report.compare import comparison_markdown, comparison_report
from llmbench_async.report.summary import (
    RunInfo,
    console_report,
    junit_xml,
    markdown_report,
    summary_json,
)
from llmbench_async.results.compare import Tolerances, compare, load_run
from llmbench_async.results.gate import check
from llmbench_async.results.stats import summarize
from llmbench_async.session.results_file import ResultsWriter

MS = 1_000_000
INFO = RunInfo(
    tool_version="9.9",
    endpoint="http://127.0.0.1:1/v1/chat/completions",
    model="m|odel",
    settings="4 requests · concurrency 2",
    started_at="2025-01-01T00:00:00.000+00:00",
)


def _ok(i: int, ttft_ms: int = 50) -> RequestRecord:
    send = i * 100 * MS
    first = send + ttft_ms * MS
    return RequestRecord(
        index=i,
        scheduled_ns=send,
        send_ns=send,
        end_ns=first + 20 * MS,
        first_token_ns=first,
        last_token_ns=first + 20 * MS,
        token_gaps_ns=(10 * MS, 10 * MS),
        output_events=3,
        output_tokens=3,
        token_source="usage",
        status=200,
    )


def _bad(i: int) -> RequestRecord:
    return RequestRecord(
        index=i,
        scheduled_ns=0,
        send_ns=0,
        end_ns=MS,
        status=500,
        error_kind="http_5xx",
        error_message="bad <gateway> | upstream",
    )


SUMMARY = summarize([_ok(0), _ok(1), _ok(2), _bad(3)])
VERDICTS = check(SUMMARY, ["ttft.p95<1ms", "ttft.p95<10s", "itl.p50<=10ms", "error_rate<1%"])


def test_console_report_has_a_thresholds_table() -> None:
    text = console_report(SUMMARY, INFO, verdicts=VERDICTS)
    tail = text[text.index("Thresholds") :].splitlines()
    assert tail[0] == "Thresholds"
    assert tail[1].split() == [
        "FAIL",
        "ttft.p95<1ms",
        "observed",
        "50.00",
        "ms",
        "limit",
        "<",
        "1",
        "ms",
    ]
    assert tail[2].split()[:4] == ["PASS", "ttft.p95<10s", "observed", "0.050"]
    assert tail[3].startswith("  PASS  itl.p50<=10ms")
    assert tail[4].split()[:4] == ["FAIL", "error_rate<1%", "observed", "25.00"]
    assert tail[5] == "  2 of 4 thresholds failed"
    assert "\x1b[" not in text
    coloured = console_report(SUMMARY, INFO, verdicts=VERDICTS, color=True)
    assert "\x1b[31mFAIL\x1b[0m" in coloured and "\x1b[32mPASS\x1b[0m" in coloured
    assert "Thresholds" not in console_report(SUMMARY, INFO)  # none asked, no table


def test_interrupted_run_says_what_the_thresholds_were_judged_on() -> None:
    info = dataclasses.replace(INFO, interrupted_by="SIGINT", cancelled=2)
    text = console_report(SUMMARY, info, verdicts=VERDICTS)
    assert "Thresholds (judged on the 4 requests that finished before SIGINT)" in text
    assert "**Interrupted by SIGINT**" in markdown_report(SUMMARY, info, VERDICTS)
    root = ET.fromstring(junit_xml(SUMMARY, info, VERDICTS))
    assert "interrupted by SIGINT" in (root.findtext("testsuite/system-out") or "")


def test_junit_xml_parses_with_one_case_per_threshold_and_request_failures() -> None:
    root = ET.fromstring(junit_xml(SUMMARY, INFO, VERDICTS))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "llmbench-async"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "3", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "ttft.p95<1ms",
        "ttft.p95<10s",
        "itl.p50<=10ms",
        "error_rate<1%",
        "no request failed",
    ]
    failures = {c.get("name"): c.find("failure") for c in cases}
    first = failures["ttft.p95<1ms"]
    assert first is not None and first.get("message") == "observed 50.00 ms vs limit < 1 ms"
    assert failures["ttft.p95<10s"] is None and failures["itl.p50<=10ms"] is None
    requests = failures["no request failed"]
    assert requests is not None
    assert requests.get("message") == "1 of 4 requests failed (http_5xx 1)"
    # without thresholds and without failures: one passing testcase
    clean = ET.fromstring(junit_xml(summarize([_ok(0)]), INFO))
    assert [c.get("name") for c in clean.iter("testcase")] == ["no request failed"]
    assert clean.find("testsuite/testcase/failure") is None


def test_markdown_has_key_table_thresholds_and_escaped_errors() -> None:
    text = markdown_report(SUMMARY, INFO, VERDICTS)
    lines = text.splitlines()
    assert lines[0] == "### llmbench-async: ❌ 2 of 4 thresholds failed"
    assert lines[2].startswith("m\\|odel → ")  # outside text, escaped (outbound.markdown)
    assert "| metric | count | mean | p50 | p90 | p95 | p99 | max | p99 95 % interval |" in lines
    # 3 samples: the p99's interval has only its lower bound (docs/intervals.md)
    ttft = next(line for line in lines if line.startswith("| TTFT (ms) | 3 | 50.00 |"))
    assert ttft.endswith(", open] |")
    assert "| ❌ **FAIL** | `ttft.p95<1ms` | 50.00 ms | < 1 ms |" in lines
    assert "| ✅ pass | `ttft.p95<10s` | 0.050 s | < 10 s |" in lines
    assert "| http_5xx | 1 | bad &lt;gateway&gt; \\| upstream |" in lines
    passing = markdown_report(SUMMARY, INFO, VERDICTS[1:3])
    assert passing.startswith("### llmbench-async: ✅ all 2 thresholds passed")
    assert markdown_report(SUMMARY, INFO).startswith("### llmbench-async: 3 ok, 1 failed")


def test_summary_json_lists_the_judged_thresholds() -> None:
    doc = summary_json(SUMMARY, INFO, VERDICTS)
    assert doc["thresholds"][0] == {
        "expression": "ttft.p95<1ms",
        "metric": "ttft.p95",
        "op": "<",
        "limit": 1.0,
        "unit": "ms",
        "observed": 50.0,
        "passed": False,
    }
    assert summary_json(SUMMARY, INFO)["thresholds"] == []


def _file(path: Path, records: list[RequestRecord]) -> Path:
    writer = ResultsWriter(path, {"config": {"base_url": "http://h/v1", "model": "m"}}, 0)
    for record in records:
        writer.write(record)
    writer.close()
    return path


def test_comparison_table_arrows_directions_and_colour(tmp_path: Path) -> None:
    base = load_run(_file(tmp_path / "a.jsonl", [_ok(i) for i in range(5)]))
    new = load_run(_file(tmp_path / "b.jsonl", [_ok(i, 80) for i in range(5)]))
    result = compare(base, new, Tolerances(default=10.0))
    text = comparison_report(result)
    assert "\x1b[" not in text
    row = next(line for line in text.splitlines() if line.startswith("ttft.p50 (ms)"))
    assert row.split() == [
        "ttft.p50", "(ms)", "50.00", "80.00", "↑", "+60.0%", "worse",
        "REGRESSION:", "worse", "by", "more", "than", "10%",
    ]  # fmt: skip
    same = next(line for line in text.splitlines() if line.startswith("itl.p50 (ms)"))
    assert same.split()[4:7] == ["=", "±0.0%", "same"]
    assert "!! too few samples to tell: BASE has 5 requests, NEW 5" in text
    assert (
        text.rstrip()
        .splitlines()[-1]
        .startswith("compare: 2 metrics worse than BASE beyond tolerance: ttft.p50 +60.0%")
    )
    # 5 samples: a p50 has no bound at all (the fixed rule judges it), a p99 a lower one
    # only, so the later p99 lies within its noise (docs/intervals.md)
    p99 = next(line for line in text.splitlines() if line.startswith("ttft.p99 (ms)"))
    assert p99.split()[4:7] == ["≈", "+60.0%", "same"]
    coloured = comparison_report(result, color=True)
    assert "\x1b[31mworse \x1b[0m" in coloured
    better = comparison_report(compare(new, base), color=True)
    assert "\x1b[32mbetter\x1b[0m" in better
    assert "compare: no --max-regression given: nothing judged" in better
    md = comparison_markdown(result)
    assert md.startswith("### llmbench-async compare: ❌ 2 metrics worse than BASE")
    assert "| `ttft.p50` (ms) | 50.00 | 80.00 | ↑ +60.0% | worse | ❌ **REGRESSION" in md
    assert "> ⚠️ too few samples to tell" in md
