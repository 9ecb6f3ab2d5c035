"""--load-shape through the CLI: inline shapes and files of points reach the mock on
schedule (its truth log counts the arrivals per window), and bad shapes or files are one
line and exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import StartMock, run_cli

from llmbench_async.errors import ConfigError
from llmbench_async.loadgen.shape_file import load_shape_spec


def _arrivals_per_window(log: Path, width: float) -> list[int]:
    """How many requests reached the mock in each window of `width` seconds from the first."""
    times = sorted(json.loads(line)["received"] for line in log.read_text().splitlines())
    counts = [0] * (int((times[-1] - times[0]) / width) + 1)
    for t in times:
        counts[int((t - times[0]) / width)] += 1
    return counts


def test_step_shape_reaches_the_mock_at_each_steps_rate(
    start_mock: StartMock, tmp_path: Path
) -> None:
    log = tmp_path / "truth.jsonl"
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=2, log_path=str(log))
    shape = tmp_path / "shape.csv"
    shape.write_text("time,rate\n# a quiet second, a busy one, a quiet one\n0,10\n1s,60\n2,10\n")
    result = run_cli(
        "--base-url", mock.base_url, "-m", "mock-model", "--load-shape", f"step:{shape}",
        "--arrival", "constant", "--duration", "3s", "--json", str(tmp_path / "s.json"),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "step rate: 10 req/s at 0s, 60 req/s at 1s, 10 req/s at 2s" in result.stdout
    # constant arrivals: 10, 60, 10 per second; ±2 per window for a scheduler late by a few ms
    # across a window's edge on a loaded machine
    counts = _arrivals_per_window(log, 1.0)
    assert len(counts) == 3
    for got, want in zip(counts, (10, 60, 10), strict=True):
        assert abs(got - want) <= 2, counts
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["config"]["load_shape"] == "step:10@0s,60@1s,10@2s"


def test_sine_shape_reaches_the_mock_at_the_integrated_rate(
    start_mock: StartMock, tmp_path: Path
) -> None:
    """sine:mean=20,amp=15,period=2s with constant arrivals: each rising half period carries
    20 + 30/π ≈ 29.5 arrivals and each falling one 20 − 30/π ≈ 10.5 (∫ of the rate)."""
    log = tmp_path / "truth.jsonl"
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=2, log_path=str(log))
    result = run_cli(
        "--base-url", mock.base_url, "-m", "mock-model", "--arrival", "constant",
        "--load-shape", "sine:mean=20,amp=15,period=2s", "--duration", "4s", "-q",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    counts = _arrivals_per_window(log, 1.0)
    assert len(counts) == 4
    # ±2 per window: an arrival a few ms late crosses a window's edge on a loaded machine
    for got, want in zip(counts, (29.5, 10.5, 29.5, 10.5), strict=True):
        assert abs(got - want) <= 2.5, counts
    # whole periods carry exactly 20/s × 4 s; the arrival due at 4 s itself may round
    # either side of the run's end
    assert 80 <= sum(counts) <= 81


def test_files_of_points_become_the_inline_grammar(tmp_path: Path) -> None:
    csv = tmp_path / "rates.csv"
    csv.write_text("0,5\n30s,20/s\n1m,5\n")
    assert load_shape_spec(str(csv)) == "linear:5@0s,20@30s,5@60s"
    assert load_shape_spec(f"step:{csv}") == "step:5@0s,20@30s,5@60s"
    js = tmp_path / "rates.json"
    js.write_text('[{"time": 0, "rate": 1}, {"time": "10s", "rate": 4}]')
    assert load_shape_spec(str(js)) == "linear:1@0s,4@10s"
    js.write_text('{"points": [[0, 2], [5, 3]]}')
    assert load_shape_spec(f"linear:{js}") == "linear:2@0s,3@5s"
    assert load_shape_spec(" spike:base=1,peak=9,at=2s,for=1s ") == (
        "spike:base=1,peak=9,at=2s,for=1s"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("0,5\n10,-1\n", "a rate must be 0 to"),
        ("0,5\n10,1e999\n", "a rate must be 0 to"),
        ("0,5\nnan,3\n", "a time must be 0 s to 7 days"),
        ("0,5\n10,3\n5,3\n", "times must increase"),
        ("0,5,7\n", "want time,rate"),
        ("time,rate\n", "1 to 10,000 points (got 0)"),
        ("0,5\n" + "".join(f"{i},1\n" for i in range(1, 10_001)), "more than 10,000 points"),
        ('[[0, 5], [1, "x"]]', "a rate is a number"),
        ("[[0, 5], [1, NaN]]", "not valid JSON"),
        ('{"points": 3}', "want a list of [time, rate]"),
        ("[" * 100 + "]" * 100, "nested deeper"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "shape.csv"
    path.write_text(content)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_shape_spec(str(path))
    assert "\n" not in str(caught.value)


def test_a_bad_file_through_the_cli_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "shape.json"
    path.write_text("[[0, 5], [1, -2]]")
    result = run_cli("--mock", "--load-shape", str(path), "--duration", "1s")
    assert result.code == 2
    assert "a rate must be 0 to" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--load-shape", "step:1@0s", "--rate", "5"], "not with --rate"),
        (["--load-shape", "step:1@0s", "-c", "2"], "not with --rate or -c/--concurrency"),
        (["--load-shape", "step:1@0s"], "needs --duration (or -n)"),
        (["--load-shape", "wobble", "-n", "2"], "--load-shape must be step:"),
        (["--load-shape", "nofile.csv", "-n", "2"], "cannot read nofile.csv"),
        (["--load-shape", "step:1@0s", "-n", "2", "--ramp-up", "2s"], "and --ramp-up exclude"),
        (["--load-shape", "step:1@0s", "-n", "2", "--warmup", "3"], "and --warmup exclude"),
    ],
)
def test_bad_flag_combinations_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run_cli("--mock", *args)
    assert result.code == 2
    assert message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
