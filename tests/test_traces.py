"""Trace replay (--trace) through the CLI against the built-in mock: the mock's truth log
proves each request was what its row said (arrival instant, max_tokens, shared prompt
blocks, session header), and malformed traces end in one line with exit 2."""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI, StartMock, cli_env, run_cli, run_cli_peak

from llmbench_async.config import RunConfig
from llmbench_async.errors import ConfigError
from llmbench_async.loadgen.traces import (
    TracePrompts,
    TraceRow,
    TraceSpec,
    check_trace,
    detect_trace_format,
    parse_window,
    rows,
)
from llmbench_async.wire.route import preconnect_count

BLOCK = 16  # --trace-block-tokens in these tests: small blocks, short prompts


def _truth(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return sorted(lines, key=lambda t: t["monotonic"]["arrived"] or t["monotonic"]["received"])


def _records(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return sorted((x for x in lines if x["type"] == "request"), key=lambda r: r["scheduled_ns"])


def _header(path: Path) -> dict[str, Any]:
    first: dict[str, Any] = json.loads(path.read_text().splitlines()[0])
    return first


def _run(mock: Any, trace: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [*CLI, "run", "--base-url", mock.base_url, "-m", "mock-model", "--trace", str(trace)]
    return subprocess.run(
        [*args, "-q", *extra], capture_output=True, text=True, env=cli_env(), timeout=120
    )


def _mooncake(path: Path, rows: list[tuple[int, int, int, list[int]]]) -> Path:
    with path.open("w") as fh:
        for ts, n_in, n_out, ids in rows:
            row = {"timestamp": ts, "input_length": n_in, "output_length": n_out, "hash_ids": ids}
            fh.write(json.dumps(row) + "\n")
    return path


# timestamps (ms), input and output lengths, hash ids: rows 1-3 share blocks 10 and 11,
# row 4 shares block 10 only, row 5 shares nothing; row 3 is a partial last block
MOONCAKE = [
    (1000, 2 * BLOCK, 5, [10, 11]),
    (1150, 3 * BLOCK, 7, [10, 11, 12]),
    (1400, 2 * BLOCK + 5, 3, [10, 11, 13]),
    (1450, 2 * BLOCK, 9, [10, 14]),
    (1700, BLOCK, 4, [15]),
]


def test_mooncake_replay_matches_the_trace_at_the_server(
    start_mock: StartMock, tmp_path: Path
) -> None:
    log = tmp_path / "truth.jsonl"
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=100, log_path=str(log), truth_block_words=BLOCK)
    trace = _mooncake(tmp_path / "t.jsonl", MOONCAKE)
    out = tmp_path / "r.jsonl"
    summary = tmp_path / "s.json"
    proc = _run(
        mock, trace, "--trace-block-tokens", str(BLOCK), "-o", str(out), "--json", str(summary)
    )
    assert proc.returncode == 0, proc.stderr
    truth = _truth(log)
    assert len(truth) == len(MOONCAKE)
    # arrivals: kernel receive stamps, relative to the first, against the trace's offsets
    # (a loaded machine can only make a request later; 15 ms is generous for loopback)
    arrived = [t["monotonic"]["arrived"] or t["monotonic"]["received"] for t in truth]
    errors = [
        abs((a - arrived[0]) * 1000 - (row[0] - MOONCAKE[0][0]))
        for a, row in zip(arrived, MOONCAKE, strict=True)
    ]
    assert max(errors) < 15, errors
    assert statistics.median(errors) < 5, errors
    # each row's output length is its max_tokens, and the mock wrote exactly that many
    assert [t["max_tokens"] for t in truth] == [r[2] for r in MOONCAKE]
    assert [t["tokens"] for t in truth] == [r[2] for r in MOONCAKE]
    # each row's input length in words, and blocks shared exactly where the hash ids are
    assert [t["prompt_tokens"] for t in truth] == [r[1] for r in MOONCAKE]
    by_id: dict[int, str] = {}
    for t, (_, n_in, _, ids) in zip(truth, MOONCAKE, strict=True):
        blocks = t["prompt_blocks"]
        full = n_in // BLOCK
        for k, block_id in enumerate(ids[:full]):
            assert by_id.setdefault(block_id, blocks[k]) == blocks[k], (block_id, k)
    assert len(set(by_id.values())) == len(by_id)  # distinct ids, distinct text
    # the results file says which row each request came from, and when it was due
    records = _records(out)
    assert [r["trace_row"] for r in records] == [1, 2, 3, 4, 5]
    due = [(r["scheduled_ns"] - records[0]["scheduled_ns"]) / 1e6 for r in records]
    assert due == pytest.approx([r[0] - 1000 for r in MOONCAKE], abs=0.01)
    doc = json.loads(summary.read_text())
    lag = doc["dispatch_lag"]
    assert lag["count"] == 5 and 0 <= lag["p50"] <= lag["p99"] <= lag["max"] < 50
    assert doc["metrics"]["dispatch_lag_ms"]["max"] == lag["max"]
    assert doc["load"].startswith("trace replay of t.jsonl (mooncake)")


def test_burstgpt_speed_window_cap_and_sessions(start_mock: StartMock, tmp_path: Path) -> None:
    """BurstGPT: failed rows (0 response tokens) are skipped, --trace-speed halves the gaps,
    --trace-window and --max-requests slice it, and its SessionID column becomes a stable
    session header per session."""
    log = tmp_path / "truth.jsonl"
    mock = start_mock(
        ttft_ms=0, itl_ms=0, tokens=100, log_path=str(log), truth_headers=("x-session-id",)
    )
    trace = tmp_path / "b.csv"
    trace.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type,SessionID\n"
        "10,ChatGPT,40,6,46,Conversation log,alpha\n"
        "10.2,GPT-4,30,0,30,Conversation log,alpha\n"  # a failed request: skipped
        "10.4,GPT-4,20,3,23,Conversation log,beta\n"
        "10.6,ChatGPT,25,4,29,API log,alpha\n"
        "10.8,ChatGPT,25,8,33,API log,beta\n"
        "11.6,ChatGPT,25,2,27,API log,gamma\n"
    )
    out = tmp_path / "r.jsonl"
    proc = _run(
        mock, trace, "--trace-speed", "2", "--trace-window", "0.3s:", "--max-requests", "3",
        "--session-header", "X-Session-ID", "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    truth = _truth(log)
    # the window starts 0.3 s after the first row: rows at 10.4, 10.6, 10.8 (cap 3)
    assert [t["max_tokens"] for t in truth] == [3, 4, 8]
    assert [t["prompt_tokens"] for t in truth] == [20, 25, 25]
    arrived = [t["monotonic"]["arrived"] or t["monotonic"]["received"] for t in truth]
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrived)]
    assert gaps == pytest.approx([100, 100], abs=15)  # 200 ms in the trace, at 2× speed
    run_id = _header(out)["config"]["run_id"]
    ids = [t["headers"]["x-session-id"] for t in truth]
    assert all(i.startswith(f"{run_id}-") for i in ids)
    assert ids[0] == ids[2] != ids[1]  # beta, alpha, beta
    assert [r["trace_row"] for r in _records(out)] == [4, 5, 6]


def test_mooncake_session_ids_become_session_headers(start_mock: StartMock, tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=9, log_path=str(log), truth_headers=("x-s",))
    trace = tmp_path / "s.jsonl"
    rows_ = [("conv_0", 0), ("conv_1", 30), ("conv_0", 60), (7, 90)]
    trace.write_text(
        "".join(
            json.dumps({"timestamp": t, "input_length": 5, "output_length": 2, "session_id": s})
            + "\n"
            for s, t in rows_
        )
    )
    out = tmp_path / "r.jsonl"
    proc = _run(mock, trace, "--session-header", "X-S", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    seen = [t["headers"]["x-s"] for t in _truth(log)]
    assert seen[0] == seen[2] and len(set(seen)) == 3
    assert all("conv" not in v for v in seen)  # a number for the session, never its name
    sessions = [r["session"] for r in _records(out)]
    assert sessions[0] == sessions[2] and len(set(sessions)) == 3


def test_azure_trace_dates_and_detection(start_mock: StartMock, tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=100, log_path=str(log))
    trace = tmp_path / "azure.csv"
    trace.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,48,10\n"
        "2023-11-16 18:15:46.9805900,12,3\n"
        "2023-11-16 18:15:46.8805900,7,5\n"  # out of order: replayed in time order
    )
    proc = _run(mock, trace)
    assert proc.returncode == 0, proc.stderr
    truth = _truth(log)
    assert [(t["prompt_tokens"], t["max_tokens"]) for t in truth] == [(48, 10), (7, 5), (12, 3)]
    arrived = [t["monotonic"]["arrived"] or t["monotonic"]["received"] for t in truth]
    assert (arrived[2] - arrived[0]) * 1000 == pytest.approx(300, abs=15)


def test_session_header_on_multi_turn_sessions(start_mock: StartMock, tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    mock = start_mock(
        ttft_ms=0, itl_ms=0, tokens=4, log_path=str(log), truth_headers=("x-affinity",)
    )
    out = tmp_path / "r.jsonl"
    result = run_cli(
        "run", "--base-url", mock.base_url, "-m", "mock-model", "-n", "6", "--turns", "3",
        "--session-header", "X-Affinity", "-o", str(out), "-q",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    run_id = _header(out)["config"]["run_id"]
    seen = [t["headers"]["x-affinity"] for t in _truth(log)]
    records = _records(out)
    assert len(seen) == 6
    assert sorted(seen) == sorted(f"{run_id}-{r['session']}" for r in records)
    assert len(set(seen)) == 2  # two sessions of three turns, one id each


def _trace_error(tmp_path: Path, name: str, text: str, *extra: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    result = run_cli("run", "--mock", "--trace", str(path), "-q", *extra, cwd=tmp_path)
    assert result.code == 2, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


ROW = '{"timestamp": 0, "input_length": 4, "output_length": 2}\n'


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("neg.jsonl", ROW + '{"timestamp": 5, "input_length": -1, "output_length": 2}\n', ":2"),
        ("nan.jsonl", ROW + '{"timestamp": NaN, "input_length": 1, "output_length": 2}\n', ":2"),
        ("inf.jsonl", ROW + '{"timestamp": 1e999, "input_length": 1, "output_length": 2}\n', ":2"),
        ("float.jsonl", ROW + '{"timestamp": 5, "input_length": 1.5, "output_length": 2}\n', ":2"),
        ("ids.jsonl", ROW + '{"timestamp": 5, "input_length": 1, "output_length": 2, '
         '"hash_ids": [-3]}\n', ":2"),
        ("huge.jsonl", ROW + '{"timestamp": 5, "input_length": 1, '
         '"output_length": 99999999999}\n', ":2"),
        ("text.jsonl", ROW + "not json\n", ":2"),
        ("list.jsonl", ROW + "[1, 2]\n", ":2"),
        ("deep.jsonl", ROW + "{" + '"a":' * 100 + "{}" + "}" * 100 + "\n", ":2"),
        ("b.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
         "1,ChatGPT,x,2,2,API log\n", ":2"),
        ("short.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
         "1,ChatGPT\n", ":2"),
        ("a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,2\n", ":2"),
        ("unknown.csv", "when,what\n1,2\n", ":1"),
        ("field.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
         "1," + "x" * 200_000 + ",1,1,2,API log\n", ":2"),
        ("nul.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n\x00\x00,1,2\n", ":2"),
        ("long.jsonl", "{" + " " * (5 << 20) + "}\n", ":1"),
    ],
)  # fmt: skip
def test_a_malformed_trace_is_one_line_naming_its_line(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    line = _trace_error(tmp_path, name, text)
    assert f"{name} line {where[1:]}" in line, line


def test_rows_out_of_order_beyond_the_window_are_refused(tmp_path: Path) -> None:
    rows = "".join(
        f'{{"timestamp": {1000 + k}, "input_length": 1, "output_length": 1}}\n' for k in range(5000)
    )
    late = '{"timestamp": 10, "input_length": 1, "output_length": 2}\n'
    line = _trace_error(tmp_path, "late.jsonl", rows + late)
    assert "line 5001" in line and "sort the trace" in line


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--rate", "5"), "--rate"),
        (("-c", "4"), "-c/--concurrency"),
        (("--duration", "5s"), "--duration"),
        (("--turns", "2"), "--turns"),
        (("--input-tokens", "50"), "--input-tokens"),
        (("--max-tokens", "50"), "--max-tokens"),
        (("--prompt", "hello"), "--prompt"),
        (("--sample-prompts",), "--sample-prompts"),
        (("--warmup", "3"), "--warmup"),
        (("--workers", "2"), "--workers"),
        (("-n", "2", "--max-requests", "2"), "-n and --max-requests"),
        (("--trace-speed", "0"), "--trace-speed"),
        (("--trace-speed", "nan"), "--trace-speed"),
        (("--trace-window", "5s:1s"), "--trace-window"),
        (("--trace-format", "sharegpt"), "--trace-format"),
        (("--session-header", "X-Session-ID"), "names no sessions"),
        (("-o", "t.jsonl"), "also an output file"),
    ],
)
def test_flags_that_do_not_apply_to_a_trace(
    tmp_path: Path, extra: tuple[str, ...], words: str
) -> None:
    line = _trace_error(tmp_path, "t.jsonl", ROW, *extra)
    assert words in line, line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--max-requests", "3"), "--max-requests caps a --trace replay; for guidellm's"),
        (("--trace-speed", "2"), "--trace-speed needs --trace"),
        (("--trace-window", "0:5s"), "--trace-window needs --trace"),
        (("--session-header", "X-S"), "--session-header needs sessions"),
    ],
)
def test_trace_flags_without_a_trace(args: tuple[str, ...], words: str) -> None:
    result = run_cli("run", "--mock", "-n", "1", "-q", *args)
    assert result.code == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_large_trace_is_streamed(tmp_path: Path) -> None:
    """150,000 rows (about 30 MB) are read twice (the check, then the replay) in bounded
    memory: only the last three rows are sent (the others are failed rows, 0 output)."""
    path = tmp_path / "big.jsonl"
    skipped = '{"timestamp": %d, "input_length": 900, "output_length": 0, "hash_ids": [%s]}\n'
    ids = ", ".join(str(k) for k in range(1000, 1020))
    with path.open("w") as fh:
        for k in range(150_000):
            fh.write(skipped % (k // 1000, ids))
        for _ in range(3):
            fh.write('{"timestamp": 150, "input_length": 8, "output_length": 2}\n')
    assert path.stat().st_size > 28e6
    proc, peak_mib = run_cli_peak(
        "run", "--mock", "--trace", str(path), "--trace-speed", "1000", "--json", "-", "-q",
        capture_output=True, text=True, env=cli_env(), timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["requests"]["ok"] == 3
    # a small replay peaks at about 36 MiB; holding the file's 30 MB of lines would add
    # about 37 MiB (its text and a str object per line), its parsed rows about 130 MB
    assert peak_mib < 64, peak_mib


# --- the reader and the prompts, directly --------------------------------------------


def test_rows_order_slice_and_scale(tmp_path: Path) -> None:
    trace = _mooncake(
        tmp_path / "t.jsonl",
        [(500, 1, 1, []), (100, 1, 2, []), (300, 1, 3, []), (900, 1, 4, []), (1300, 1, 5, [])],
    )
    spec = TraceSpec(trace, "mooncake")
    got = [(r.line, r.output_tokens) for r in rows(spec)]
    assert got == [(2, 2), (3, 3), (1, 1), (4, 4), (5, 5)]
    assert [r.at_s for r in rows(spec)] == pytest.approx([0.0, 0.2, 0.4, 0.8, 1.2])
    sliced = TraceSpec(trace, "mooncake", speed=2.0, start_s=0.3, end_s=1.2, limit=2)
    got = [(r.line, r.at_s) for r in rows(sliced)]
    assert got == [(1, pytest.approx(0.05)), (4, pytest.approx(0.25))]
    assert check_trace(spec) == 5


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("0:60s", (0.0, 60.0)),
        ("10m:", (600.0, None)),
        (":500ms", (0.0, 0.5)),
        ("1.5s:2s", (1.5, 2.0)),
    ],
)
def test_parse_window(text: str, window: tuple[float, float | None]) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["60s", "5s:1s", "1s:1s", "x:2s", "-1s:2s", "inf:", ":nan"])
def test_parse_window_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="--trace-window"):
        parse_window(text)


def test_prompts_share_blocks_by_id_and_nothing_else() -> None:
    prompts = TracePrompts(block_tokens=8, seed=3)
    a = prompts.text(TraceRow(1, 0.0, 20, 1, (7, 8, 9))).split()
    b = prompts.text(TraceRow(2, 0.0, 16, 1, (7, 8))).split()
    c = prompts.text(TraceRow(3, 0.0, 30, 1, (7, 5))).split()
    assert len(a) == 20 and len(b) == 16 and len(c) == 30
    assert a[:16] == b  # blocks 7 and 8; a's block 9 cut to 4 words
    assert a[:8] == c[:8] and a[8:16] != c[8:16]  # 7 shared, 8 vs 5 differ
    own = [prompts.text(TraceRow(line, 0.0, 40, 1)).split() for line in (1, 2)]
    assert own[0] != own[1] and len(own[0]) == 40
    assert prompts.text(TraceRow(1, 0.0, 0, 1)) != ""  # an empty prompt is refused by APIs
    again = TracePrompts(block_tokens=8, seed=3)  # reproducible; another seed is other text
    assert again.text(TraceRow(1, 0.0, 20, 1, (7, 8, 9))).split() == a
    assert TracePrompts(block_tokens=8, seed=4).text(TraceRow(1, 0.0, 20, 1, (7,))).split() != a


def test_a_capped_replay_shows_the_wait_as_dispatch_lag(
    start_mock: StartMock, tmp_path: Path
) -> None:
    """--max-concurrency 1 with a 200 ms answer: rows due 20 ms apart wait for the slot, so
    the second row's dispatch lag is about 180 ms and the third's about 360 ms."""
    mock = start_mock(ttft_ms=200, itl_ms=0, tokens=100)
    trace = _mooncake(tmp_path / "t.jsonl", [(0, 4, 1, []), (20, 4, 1, []), (40, 4, 1, [])])
    out = tmp_path / "r.jsonl"
    proc = _run(mock, trace, "--max-concurrency", "1", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    lags = [(r["dispatched_ns"] - r["scheduled_ns"]) / 1e6 for r in _records(out)]
    # each waits for the one before it to end (200 ms, plus the load's lateness)
    assert lags[0] < 20 and 175 < lags[1] < 300 and 355 < lags[2] < 600, lags


def test_preconnect_for_a_trace(tmp_path: Path) -> None:
    trace = _mooncake(tmp_path / "t.jsonl", [(0, 4, 1, [])])
    base = RunConfig(trace=trace, model="m", n=None)  # n: the cap on rows (None: all)
    assert preconnect_count(base) == 1
    assert preconnect_count(replace(base, max_concurrency=8)) == 8
    assert preconnect_count(replace(base, max_concurrency=8, n=3)) == 3
    assert preconnect_count(replace(base, max_concurrency=10**9)) == 64
    assert str(base.shape) == "trace replay of t.jsonl"
    assert base.load_description() == "trace replay of t.jsonl"


def test_compare_names_a_different_replay(tmp_path: Path) -> None:
    trace = _mooncake(tmp_path / "t.jsonl", [(0, 4, 2, []), (50, 4, 2, [])])
    for name, extra in (("a", ()), ("b", ("--trace-speed", "2", "--trace-window", "0:1m"))):
        res = run_cli(
            "run",
            "--mock",
            "--trace",
            str(trace),
            "-q",
            "--json",
            str(tmp_path / f"{name}.json"),
            *extra,
        )
        assert res.code == 0, res.stderr
    res = run_cli("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert res.code == 0, res.stderr
    assert (
        "load differs: BASE trace t.jsonl at 1× speed, NEW trace t.jsonl at 2× speed, "
        "window 0 s to 60 s" in res.stdout
    ), res.stdout


def test_rows_before_the_window_are_read_before_the_clock_starts(tmp_path: Path) -> None:
    """100,000 rows before --trace-window's start take a second or more to read past: that
    reading happens before the replay's clock, so the first row is not late."""
    path = tmp_path / "w.jsonl"
    with path.open("w") as fh:
        for k in range(100_000):
            fh.write(f'{{"timestamp": {k // 100}, "input_length": 4, "output_length": 2}}\n')
        for t in (2000, 2050, 2100):
            fh.write(f'{{"timestamp": {t}, "input_length": 4, "output_length": 2}}\n')
    out = tmp_path / "r.jsonl"
    res = run_cli(
        "run", "--mock", "--trace", str(path), "--trace-window", "2s:", "-q", "-o", str(out)
    )
    assert res.code == 0, res.stderr
    records = _records(out)
    assert [r["trace_row"] for r in records] == [100_001, 100_002, 100_003]
    lags = [(r["dispatched_ns"] - r["scheduled_ns"]) / 1e6 for r in records]
    assert max(lags) < 50, lags  # reading 100,000 rows on the clock would be ~1,000 ms


@pytest.mark.parametrize(
    ("first", "fmt"),
    [
        ('{"timestamp": 0, "input_length": 1, "output_length": 1}', "mooncake"),
        ("\ufeffTimestamp,Model,Request tokens,Response tokens,Total tokens,Log Type", "burstgpt"),
        (
            '"Timestamp","Model","Request tokens","Response tokens","Total tokens","Log Type"',
            "burstgpt",
        ),
        ("TIMESTAMP,ContextTokens,GeneratedTokens", "azure"),
        ('"TIMESTAMP","ContextTokens","GeneratedTokens"', "azure"),
    ],
)
def test_formats_are_detected_from_the_first_line(tmp_path: Path, first: str, fmt: str) -> None:
    path = tmp_path / "trace.txt"  # the name says nothing: the content does
    path.write_text(first + "\n", encoding="utf-8")
    assert detect_trace_format(path) == fmt


def test_rows_with_many_hash_ids_shorten_the_ordering_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ordering window holds at most REORDER_IDS hash ids, so memory stays bounded
    whatever each row carries: with room for 4 ids (2 rows of 2), a row 1 place late is put
    in order, one 3 places late is refused."""
    from llmbench_async.loadgen import traces

    monkeypatch.setattr(traces, "REORDER_IDS", 4)
    near = _mooncake(
        tmp_path / "near.jsonl",
        [(0, 1, 1, [1, 2]), (20, 1, 1, [1, 2]), (10, 1, 1, [3, 4]), (30, 1, 1, [5, 6])],
    )
    assert [r.line for r in rows(TraceSpec(near, "mooncake"))] == [1, 3, 2, 4]
    far = _mooncake(
        tmp_path / "far.jsonl",
        [
            (0, 1, 1, [1, 2]),
            (20, 1, 1, [1, 2]),
            (30, 1, 1, [1, 2]),
            (40, 1, 1, [1, 2]),
            (10, 1, 1, [3, 4]),
        ],
    )
    with pytest.raises(ConfigError, match="line 5: timestamp earlier"):
        list(rows(TraceSpec(far, "mooncake")))
