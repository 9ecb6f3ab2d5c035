"""session/results_file.py: the results file as written: a header line, one line per
request as it finishes, a footer; a secret a server echoed into a record is never written,
and the file reads back to the same records."""

from __future__ import annotations

import json
from pathlib import Path

from llmbench_async.records import RequestRecord, read_results
from llmbench_async.session.results_file import ResultsWriter, dumps_line

KEY = "sk-results-file-0001"


def _record(i: int, message: str | None = None) -> RequestRecord:
    return RequestRecord(
        index=i, scheduled_ns=1_000 + i, send_ns=2_000 + i, end_ns=9_000_000 + i,
        first_token_ns=5_000_000 + i, last_token_ns=9_000_000 + i, token_gaps_ns=(4_000_000,),
        output_events=2, output_tokens=2, token_source="usage", status=200 if not message else 500,
        error_kind="http_5xx" if message else None, error_message=message,
    )  # fmt: skip


def test_lines_as_they_finish_scrubbed_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = ResultsWriter(path, {"config": {"model": "m"}}, 1_000, (KEY,))
    records = [_record(0), _record(1, f"upstream said: bad key {KEY}")]
    for record in records:
        writer.write(record)
        assert len(path.read_text().splitlines()) == 2 + record.index  # flushed at once
    writer.write_footer({"interrupted_by": None})
    writer.close()
    text = path.read_text()
    assert KEY not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["type"] for line in lines] == ["header", "request", "request", "footer"]
    back = read_results(path)
    assert [r.index for r in back.records] == [0, 1]
    assert back.records[0].first_token_ns == records[0].first_token_ns - 1_000  # after t0
    assert back.records[1].error_message is not None and KEY not in back.records[1].error_message


def test_a_failed_write_is_kept_as_one_line_not_raised(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "missing" / "r.jsonl", {}, 0)
    writer.write(_record(0))
    assert writer.failure is not None and "cannot write" in writer.failure


def test_lines_are_strict_json_whatever_they_hold() -> None:
    assert json.loads(dumps_line({"n": 2**70})) == {"n": 2**70}  # past 64 bits: the stdlib
    assert dumps_line({"f": float("nan")}) == '{"f":null}'  # never NaN in the file
    assert json.loads(dumps_line({"extra": {1: "x"}})) == {"extra": {"1": "x"}}
