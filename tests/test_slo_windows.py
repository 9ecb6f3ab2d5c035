"""The SLO over time: --fail-if judged per window of due instants, the violated share and
the recovery after a shape's peak; from known records, and through the CLI on the mock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from llmbench_async.records import RequestRecord
from llmbench_async.results.gate import parse_thresholds
from llmbench_async.results.slo_windows import SloWindows, window_width
from llmbench_async.results.stats import SummaryBuilder

S = 1_000_000_000
MS = 1_000_000


def _rec(index: int, due_s: float, e2e_ms: float) -> RequestRecord:
    due = int(due_s * S)
    return RequestRecord(
        index=index, scheduled_ns=due, send_ns=due, end_ns=due + int(e2e_ms * MS),
        first_token_ns=due + MS, last_token_ns=due + int(e2e_ms * MS), output_tokens=2,
        finish_reason="stop",
    )  # fmt: skip


def _judge(records: list[RequestRecord], peak_end_s: float | None) -> dict[str, object]:
    windows = SloWindows(
        parse_thresholds(["e2e.p95<500ms"]),
        t0_ns=0,
        window_s=1.0,
        peak_end_s=peak_end_s,
        builder=SummaryBuilder,
    )
    for r in records:
        windows.add(r)
    return windows.result().to_json()


def test_violated_windows_share_and_recovery_after_the_peak() -> None:
    # windows 0-1 fast; 2-4 slow (the spike and its backlog); 5-7 fast again; 8 empty
    slow = {2, 3, 4}
    records = [
        _rec(i, w + k / 4, 900 if w in slow else 100)
        for i, (w, k) in enumerate((w, k) for w in range(8) for k in range(4))
    ]
    got = _judge(records, peak_end_s=3.5)
    assert got["windows_judged"] == 8
    assert got["violated_start_s"] == [2.0, 3.0, 4.0]
    assert got["violated_share"] == pytest.approx(3 / 8)
    assert got["recovered"] is True
    assert got["recovery_s"] == pytest.approx(1.5)  # the end of window 4 (5 s) − 3.5 s
    # held at once after the peak: 0; still violated in the last window: not recovered
    assert _judge(records, peak_end_s=6.0)["recovery_s"] == 0.0
    late = [*records, _rec(99, 7.5, 2000), _rec(100, 7.6, 2000)]
    assert _judge(late, peak_end_s=3.5)["recovered"] is False
    assert _judge(late, peak_end_s=3.5)["recovery_s"] is None
    # no single peak (a sine): the share only
    assert _judge(records, peak_end_s=None)["recovered"] is None


def test_window_width_keeps_at_most_600_windows() -> None:
    assert window_width(1.0, 60.0) == 1.0
    assert window_width(1.0, 3600.0) == 6.0
    assert window_width(0.5, None) == 0.5


def test_spike_on_the_mock_reports_violation_and_recovery(tmp_path: Path) -> None:
    """A spike the mock cannot absorb (20 in flight, 0.83 s each, latency from schedule):
    before it the SLO holds; during it and after it queues; then it holds again."""
    out = tmp_path / "s.json"
    result = run_cli(
        "--mock", "--load-shape", "spike:base=4,peak=60,at=1s,for=1s", "--duration", "5s",
        "--arrival", "constant", "--max-concurrency", "20", "--latency-from", "schedule",
        "--fail-if", "e2e.p95<1.2s", "--window", "0.5s", "--json", str(out),
        "-o", str(tmp_path / "r.jsonl"),
    )  # fmt: skip
    assert result.code == 1, result.stderr
    slo = json.loads(out.read_text())["slo_over_time"]
    assert slo["peak_end_s"] == 2.0
    assert slo["violated_start_s"], slo
    assert min(slo["violated_start_s"]) >= 1.0  # 4 req/s before the spike never queues
    assert slo["recovered"] is True and slo["recovery_s"] > 0
    assert slo["violated_share"] == pytest.approx(slo["windows_violated"] / slo["windows_judged"])
    assert "Over time: SLO violated in" in result.stdout
    assert f"SLO held again {slo['recovery_s']:g} s later" in result.stdout
    # `report` re-judges the saved run window by window, to the same figures
    again = tmp_path / "again.json"
    reported = run_cli(
        "report", str(tmp_path / "r.jsonl"), "--fail-if", "e2e.p95<1.2s", "--window", "0.5s",
        "--json", str(again), "--html", str(tmp_path / "again.html"),
    )  # fmt: skip
    assert reported.code == 1, reported.stderr
    assert json.loads(again.read_text())["slo_over_time"] == slo
    page = (tmp_path / "again.html").read_text()
    assert f"SLO held again {slo['recovery_s']:g} s later</p>" in page
