"""The JSONL record line: connect timing round-trips, and old files read back with defaults."""

from __future__ import annotations

from llmbench_async.records import RequestRecord, record_from_json, record_to_json


def test_connect_fields_round_trip() -> None:
    record = RequestRecord(
        index=3,
        scheduled_ns=1_000,
        send_ns=5_000,
        end_ns=9_000,
        ready_ns=5_000,
        connect_ns=3_500,
        new_connection=True,
        note="odd but counted",
    )
    line = record_to_json(record, t0_ns=1_000)
    assert line["ready_ns"] == 4_000 and line["connect_ns"] == 3_500
    assert line["new_connection"] is True and line["note"] == "odd but counted"
    back = record_from_json(line)
    assert back.connect_ns == 3_500 and back.new_connection is True
    assert back.ready_ns == 4_000 and back.send_ns == 4_000
    assert back.connect_ms == 0.0035


def test_a_line_from_before_connect_timing_reads_with_defaults() -> None:
    old = {"type": "request", "index": 0, "scheduled_ns": 0, "send_ns": 10, "end_ns": 20}
    record = record_from_json(old)
    assert record.ready_ns is None and record.connect_ns is None
    assert record.new_connection is None and record.note is None
    assert record.connect_ms is None
