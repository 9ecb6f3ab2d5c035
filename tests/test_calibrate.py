"""`llmbench-async calibrate` and `run --calibrate` through the command line, against the
built-in mock whose timing each test sets: the error reported reflects a known delay that
the client is made to add (LLMBENCH_ASYNC_TEST_CLIENT_DELAY_MS blocks its event loop between
stamping a request's send instant and writing it), and is small without it."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import StartMock, run_cli, start_cli

from llmbench_async.config import RunConfig
from llmbench_async.session.calibrate import CALIBRATION_KEY, replay_config

# a server whose timing the test sets: TTFT 30 ms, 3 ms between 6 tokens
TIMING = ("--ttft-ms", "30ms", "--itl-ms", "3", "--tokens", "6")
DELAY_MS = 40.0
SMALL_MS = 10.0  # far above what an idle client adds (~0.05 ms), far below the injected delay


def _calibrate(tmp: Path, *args: str, delay_ms: float | None = None) -> tuple[Any, dict[str, Any]]:
    out = tmp / "cal.json"
    env = {} if delay_ms is None else {"LLMBENCH_ASYNC_TEST_CLIENT_DELAY_MS": f"{delay_ms:g}"}
    res = run_cli("calibrate", *TIMING, "--json", str(out), *args, env=env, timeout=90)
    doc = json.loads(out.read_text()) if out.exists() else {}
    return res, doc


def test_an_injected_client_delay_shows_as_error_on_every_clock(tmp_path: Path) -> None:
    res, doc = _calibrate(
        tmp_path,
        "-c",
        "4",
        "-n",
        "16",
        "--fail-if",
        "client_error.ttft.p99<5ms",
        delay_ms=DELAY_MS,
    )
    assert res.code == 1, res.stderr  # the gate read the client's error
    err = doc["client_error"]
    assert err["requests"] == {"matched": 16, "unmatched": 0}
    # each request was written DELAY_MS after its send stamp: its TTFT and E2E are that late
    for clock in ("ttft", "e2e"):
        assert err["clocks"][clock]["p50"] >= DELAY_MS - 0.5, err["clocks"][clock]
        assert err["clocks"][clock]["p99"] >= DELAY_MS - 0.5
    assert err["detail"]["reached_server"]["p50"] >= DELAY_MS - 0.5
    assert err["loop_lag_ms"]["p99"] >= DELAY_MS / 2  # the blocked loop shows in its lag
    assert err["fine"] is False and "too high" in err["verdict"] and err["suggestions"]
    assert "client_error.ttft.p99<5ms (observed" in res.stderr
    assert "!! Verdict: client error TTFT p99" in res.stdout and "too high" in res.stdout
    assert doc["thresholds"][0]["passed"] is False


def test_without_a_delay_the_error_is_small(tmp_path: Path) -> None:
    res, doc = _calibrate(tmp_path, "-c", "4", "-n", "16", "--fail-if", "client_error.e2e.p50<10ms")
    assert res.code == 0, res.stderr
    err = doc["client_error"]
    assert err["requests"]["matched"] == 16 and doc["requests"]["ok"] == 16
    for clock in ("ttft", "e2e", "token_span"):
        assert abs(err["clocks"][clock]["p50"]) < SMALL_MS, err["clocks"][clock]
    assert err["replayed"] == {"ttft_ms": 30.0, "itl_ms": 3.0, "tokens": 6, "from": "flags"}
    assert err["waves"]["first_wave"]["ttft"]["count"] == 4  # -c 4: the first 4 sent
    assert err["waves"]["rest"]["e2e"]["count"] == 12
    assert doc["target"]["endpoint"] == "mock" and "Client error (ours" in res.stdout


def test_calibrate_replays_an_open_loop_over_worker_processes(tmp_path: Path) -> None:
    res, doc = _calibrate(
        tmp_path, "--rate", "40", "-n", "12", "--workers", "2", "--api", "completions", "-q"
    )
    assert res.code == 0, res.stderr
    assert res.stdout == ""  # -q: the JSON file only
    err = doc["client_error"]
    assert err["workers"] == 2 and err["requests"]["matched"] == 12
    assert abs(err["clocks"]["ttft"]["p50"]) < SMALL_MS
    assert doc["config"]["rate"] == 40 and doc["config"]["api"] == "completions"
    assert err["waves"] is None  # an open loop has no waves


def test_run_calibrate_replays_the_targets_own_shape(tmp_path: Path, start_mock: StartMock) -> None:
    target = start_mock(ttft_ms=25, itl_ms=4, tokens=5)
    out, md = tmp_path / "run.json", tmp_path / "run.md"
    res = run_cli(
        "--base-url",
        target.base_url,
        "-m",
        "mock-model",
        "-c",
        "3",
        "-n",
        "9",
        "--calibrate",
        "--fail-if",
        "client_error.ttft.p99<500ms",
        "--json",
        str(out),
        "--markdown",
        str(md),
        timeout=90,
    )
    assert res.code == 0, res.stderr
    assert "calibrating: 9 requests of the same load against the built-in mock" in res.stderr
    doc = json.loads(out.read_text())
    replayed = doc["client_error"]["replayed"]
    assert replayed["from"] == "target" and replayed["tokens"] == 5
    assert 25 <= replayed["ttft_ms"] < 25 + 50 and 3 <= replayed["itl_ms"] < 4 + 20
    assert doc["client_error"]["requests"]["matched"] == 9
    assert doc["requests"]["total"] == 9  # the run's own figures are the target's
    assert doc["thresholds"][0]["metric"] == "client_error.ttft.p99"
    assert "Client error (ours" in md.read_text()


def test_run_calibrate_reports_a_late_client_and_fails_its_gate(start_mock: StartMock) -> None:
    target = start_mock(ttft_ms=20, itl_ms=2, tokens=4)
    res = run_cli(
        "--base-url",
        target.base_url,
        "-m",
        "mock-model",
        "-c",
        "2",
        "-n",
        "4",
        "--calibrate",
        "--fail-if",
        "client_error.e2e.p50<5ms",
        "--json",
        "-",
        env={"LLMBENCH_ASYNC_TEST_CLIENT_DELAY_MS": f"{DELAY_MS:g}"},
        timeout=90,
    )
    assert res.code == 1, res.stderr
    doc = json.loads(res.stdout)
    assert doc["requests"]["ok"] == 4  # the run itself is reported in full
    assert doc["client_error"]["clocks"]["e2e"]["p50"] >= DELAY_MS - 0.5
    assert doc["client_error"]["fine"] is False
    assert "1 of 1 threshold failed: client_error.e2e.p50<5ms" in res.stderr


@pytest.mark.parametrize("after_s", [0.0, 0.8])  # as its mock starts; inside its wave
def test_ctrl_c_during_the_calibration_reports_the_run_and_exits_130(
    tmp_path: Path, start_mock: StartMock, after_s: float
) -> None:
    target = start_mock(ttft_ms=10, itl_ms=100, tokens=20)  # each request takes ~2 s
    out = tmp_path / "run.json"
    args = ["--base-url", target.base_url, "-m", "mock-model", "-c", "2", "-n", "2"]
    proc = start_cli(*args, "--calibrate", "--json", str(out))
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the line that says the calibration starts
        assert "calibrating: 2 requests" in line, line
        time.sleep(after_s)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "--calibrate: interrupted by SIGINT" in err
    doc = json.loads(out.read_text())
    assert doc["requests"]["ok"] == 2 and doc["client_error"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mock", "-n", "2", "--fail-if", "client_error.ttft.p99<5ms"), "add --calibrate"),
        (("--mock", "-n", "2", "--calibrate", "--fail-if", "client_error.ttf.p99<5"), "clock"),
        (("--mock", "-n", "2", "--calibrate", "--fail-if", "client_error.ttft.x<5"), "statistic"),
        (("--mock", "-c", "1,2", "-n", "2", "--calibrate"), "not a sweep"),
        (("--mock", "-n", "2", "--calibrate", "--ray", "local"), "--ray"),
        (("calibrate", "-c", "1,2"), "not a sweep"),
        (("calibrate", "--ttft-ms", "-5"), "--ttft-ms"),
        (("calibrate", "--ttft-ms", "2h"), "--ttft-ms must be from 0 to 60s"),
        (("calibrate", "--itl-ms", "nan"), "--itl-ms"),
        (("calibrate", "--tokens", "0"), "--tokens must be from 1"),
        (("calibrate", "-n", "2", "--fail-if", "client_error.ttft.p99<5%"), "does not fit"),
        (("calibrate", "--base-url", "http://127.0.0.1:9/v1"), "--base-url"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    res = run_cli(*args, timeout=30)
    assert res.code == 2, (res.stdout, res.stderr)
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.stderr


def test_the_replay_keeps_the_load_and_drops_the_targets_secrets() -> None:
    config = RunConfig(
        base_url="https://api.example.com/v1",
        api_key="sk-secret-0123456789",
        endpoint_url="https://api.example.com/v1/chat/completions?sig=abc",
        headers={"X-Team": "a", "X-Api-Key": "hidden"},
        proxy="http://u:p@proxy:3128",
        concurrency=7,
        workers=2,
        max_tokens=33,
        api="responses",
    )
    replayed = replay_config(config, "http://127.0.0.1:5/v1")
    assert replayed.api_key == CALIBRATION_KEY and replayed.proxy is None
    assert replayed.endpoint_url is None and replayed.base_url == "http://127.0.0.1:5/v1"
    assert dict(replayed.headers) == {"X-Team": "a"}
    assert (replayed.concurrency, replayed.workers, replayed.max_tokens, replayed.api) == (
        7,
        2,
        33,
        "responses",
    )
