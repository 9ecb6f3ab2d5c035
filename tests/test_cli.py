"""The real command line, in a subprocess, against the mock server over loopback."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest
from conftest import run_cli, start_cli, wait_for_records

from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.records import read_results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_writes_report_json_and_jsonl(fast_mock: MockProcess, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    summary_path = tmp_path / "s.json"
    res = run_cli(
        "--base-url",
        fast_mock.base_url.removesuffix("/v1"),
        "--api-key",
        "sk-secret-0123456789abcdef",
        "-n",
        "6",
        "-c",
        "3",
        "-o",
        str(out),
        "--json",
        str(summary_path),
    )
    assert res.code == 0, res.stderr
    assert "TTFT (ms)" in res.stdout and "E2E latency (ms) histogram" in res.stdout
    assert "6 ok, 0 failed" in res.stdout
    assert res.stderr == ""  # no progress bar when stderr is not a terminal

    summary = json.loads(summary_path.read_text())
    assert summary["schema"] == "llmbench-async/summary/v1"
    assert summary["requests"]["total"] == 6 and summary["requests"]["ok"] == 6
    assert summary["requests"]["failed"] == 0
    for key in ("ttft_ms", "e2e_ms", "itl_ms", "tpot_ms", "output_tokens_per_s"):
        stats = summary["metrics"][key]
        assert set(stats) == {"count", "mean", "stdev", "min", "p50", "p90", "p95", "p99", "max"}
    assert summary["metrics"]["ttft_ms"]["count"] == 6
    assert set(summary["throughput"]) == {
        "requests_per_s",
        "output_tokens_per_s",
        # goodput and embeddings: the metric table's other run-level rates
        "goodput",
        "good_fraction",
        "inputs_per_s",
        "input_tokens_per_s",
    }
    assert summary["errors"] == {}

    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["type"] == "header"
    assert lines[0]["config"]["api_key"] == "sk-...cdef"
    requests = [x for x in lines if x["type"] == "request"]
    assert len(requests) == 6
    assert sorted(x["index"] for x in requests) == list(range(6))
    first = requests[0]
    for key in (
        "scheduled_ns",
        "send_ns",
        "headers_ns",
        "first_token_ns",
        "end_ns",
        "token_gaps_ns",
        "output_tokens",
        "token_source",
        "status",
        "error_kind",
        "attempts",
        "response_id",
    ):
        assert key in first
    assert first["token_source"] == "usage" and first["status"] == 200
    # the key never appears in any output
    for text in (res.stdout, res.stderr, out.read_text(), summary_path.read_text()):
        assert "sk-secret-0123456789abcdef" not in text
    # the file reads back into the same records
    assert len(read_results(out).records) == 6


def test_mock_flag_runs_end_to_end() -> None:
    res = run_cli("--mock", "-n", "3", "-c", "3", "--max-tokens", "4")
    assert res.code == 0, res.stderr
    assert "3 ok, 0 failed" in res.stdout
    assert "mock-model" in res.stdout


def test_unreachable_host_exits_3_with_one_line() -> None:
    port = _free_port()
    res = run_cli("--base-url", f"http://127.0.0.1:{port}", "-n", "2")
    assert res.code == 3
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmbench-async: error: cannot reach")
    assert "Traceback" not in res.stderr

    # with --model: the same one line, before any report (the first request found it)
    res = run_cli("--base-url", f"http://127.0.0.1:{port}", "--model", "m", "-n", "2")
    assert res.code == 3
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmbench-async: error: cannot reach")
    assert "cannot connect" in lines[0] and res.stdout == ""


def test_wrong_key_exits_3_with_one_line() -> None:
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, tokens=2, auth_key="sk-right")) as mock:
        res = run_cli("--base-url", mock.base_url, "--api-key", "sk-wrong-key-123456", "-n", "5")
        assert res.code == 3
        assert res.stderr.strip() == (
            "llmbench-async: error: authentication failed (401): check --api-key / OPENAI_API_KEY"
        )
        # with --model the run starts, then stops at the first 401 instead of firing all 5
        res = run_cli(
            "--base-url",
            mock.base_url,
            "--api-key",
            "sk-wrong-key-123456",
            "--model",
            "mock-model",
            "-n",
            "5",
            "-q",
        )
        assert res.code == 3
        assert "authentication failed (401)" in res.stderr
        res = run_cli("--base-url", mock.base_url, "--api-key", "sk-right", "-n", "2", "-q")
        assert res.code == 0, res.stderr


def test_env_vars_are_the_defaults(fast_mock: MockProcess) -> None:
    res = run_cli(
        "-n", "2", "-q", env={"OPENAI_BASE_URL": fast_mock.base_url, "OPENAI_API_KEY": "sk-env"}
    )
    assert res.code == 0, res.stderr


def test_bad_flags_give_one_line_and_exit_2() -> None:
    cases = [
        ("--n", "0"),
        ("-c", "0"),
        ("--n", "abc"),
        ("--no-such-flag",),
        ("--base-url", "ftp://x"),
        ("--timeout", "-1"),
        ("--api", "rerank"),  # not an API (embeddings is)
    ]
    for args in cases:
        res = run_cli(*args)
        assert res.code == 2, (args, res)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("llmbench-async: error:"), (args, res)
        assert res.stdout == ""


def test_help_lists_every_flag_with_units() -> None:
    res = run_cli("--help")
    assert res.code == 0
    for flag in (
        "--base-url",
        "--api-key",
        "--model",
        "--n",
        "--concurrency",
        "--prompt",
        "--max-tokens",
        "--stream",
        "--timeout",
        "--connect-timeout",
        "--read-timeout",
        "--retries",
        "--output",
        "--json",
        "--quiet",
        "--mock",
    ):
        assert flag in res.stdout, flag
    assert "seconds" in res.stdout
    res = run_cli("mock-server", "--help")
    assert res.code == 0 and "--ttft-ms" in res.stdout


def _interrupt(sig: int, tmp_path: Path) -> tuple[int, str, list[dict[str, object]]]:
    out = tmp_path / "r.jsonl"
    with MockProcess(MockConfig(ttft_ms=50, itl_ms=20, tokens=40)) as mock:
        proc = start_cli(
            "--base-url", mock.base_url, "-n", "200", "-c", "4", "-o", str(out), "--grace", "0.2"
        )
        wait_for_records(out, 4)  # four done: the run is inside its sending loop
        proc.send_signal(sig)
        stdout, _stderr = proc.communicate(timeout=20)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    return proc.returncode, stdout, lines


def test_sigint_keeps_results_and_exits_130(tmp_path: Path) -> None:
    code, stdout, lines = _interrupt(signal.SIGINT, tmp_path)
    assert code == 130
    requests = [x for x in lines if x["type"] == "request"]
    assert 4 <= len(requests) < 200  # ~0.85 s a request, 4 at a time, for ~2.5 s
    assert lines[-1]["type"] == "footer" and lines[-1]["interrupted_by"] == "SIGINT"
    assert "interrupted by SIGINT" in stdout
    assert f"{len(requests)} ok, 0 failed" in stdout


def test_sigterm_exits_143(tmp_path: Path) -> None:
    code, stdout, lines = _interrupt(signal.SIGTERM, tmp_path)
    assert code == 143
    assert lines[-1]["interrupted_by"] == "SIGTERM"
    assert "interrupted by SIGTERM" in stdout


def test_second_sigint_exits_at_once_and_keeps_the_file_valid(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    # streams of ~4 s, four at a time: once the first wave is recorded, the next four have
    # just started, so the 30 s grace cannot end before the second signal arrives
    with MockProcess(MockConfig(ttft_ms=20, itl_ms=40, tokens=100)) as mock:
        proc = start_cli(
            "--base-url",
            mock.base_url,
            "-n",
            "100",
            "-c",
            "4",
            "-o",
            str(out),
            "--grace",
            "30",
            "--max-tokens",
            "100",
        )
        wait_for_records(out, 1)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=20)
        took = time.monotonic() - started
    assert proc.returncode == 130
    assert took < 2.0  # did not wait for the 30 s grace
    assert "interrupted again" in stderr
    lines = out.read_text().splitlines()
    assert lines and all(json.loads(line) for line in lines)  # every line is whole JSON
    assert json.loads(lines[0])["type"] == "header"


def test_load_and_workload_flags(fast_mock: MockProcess, tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a b c", "max_tokens": 3}\n{"prompt": "d e"}\n')
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file-0123456789\n")
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    res = run_cli(
        "--base-url",
        fast_mock.base_url,
        "--api-key-file",
        str(key_file),
        "--rate",
        "40",
        "--arrival",
        "constant",
        "--max-concurrency",
        "4",
        "-n",
        "6",
        "--warmup",
        "2",
        "--prompt-file",
        str(prompts),
        "--max-tokens",
        "5",
        "--header",
        "X-Team: infra",
        "--header",
        "X-Api-Token: tok-secret-987654",
        "--extra-body",
        '{"temperature": 0}',
        "--ignore-eos",
        "--workers",
        "2",
        "--latency-from",
        "schedule",
        "-o",
        str(out),
        "--json",
        str(summary),
        "--junit",
        str(tmp_path / "j.xml"),
        "--markdown",
        str(tmp_path / "m.md"),
        "--fail-if",
        "ttft.p99<10s",
    )
    assert res.code == 0, res.stderr
    assert "constant rate 40 req/s, at most 4 in flight" in res.stdout
    doc = json.loads(summary.read_text())
    assert doc["requests"]["total"] == 6 and doc["requests"]["warmup"] == 2
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    header, footer = lines[0], lines[-1]
    assert header["config"]["headers"]["X-Team"] == "infra"
    assert header["config"]["headers"]["X-Api-Token"] == "tok...7654"
    assert header["config"]["latency_from"] == "schedule"
    assert footer["client"]["peak_in_flight"] >= 1
    requests = [x for x in lines if x["type"] == "request"]
    # the two prompts alternate: max_tokens 3 from the file, else the run's 5
    assert {x["output_tokens"] for x in requests} == {3, 5}
    assert len(requests) == 8
    everything = res.stdout + res.stderr + out.read_text() + summary.read_text()
    everything += (tmp_path / "j.xml").read_text() + (tmp_path / "m.md").read_text()
    assert "Input tokens:" in res.stdout
    assert "sk-from-file-0123456789" not in everything
    assert "tok-secret-987654" not in everything


def test_duration_flag(fast_mock: MockProcess, tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    res = run_cli(
        "--base-url",
        fast_mock.base_url,
        "--duration",
        "0.6s",
        "-c",
        "2",
        "--json",
        str(summary),
        "-q",
    )
    assert res.code == 0, res.stderr
    total = json.loads(summary.read_text())["requests"]["total"]
    assert 8 <= total <= 20  # ~90 ms a request, 2 at a time, for 0.6 s


@pytest.mark.parametrize(
    "args",
    [
        ("--duration", "soon"),
        ("--warmup", "x"),
        ("--rate", "0"),
        ("--rate", "a,b"),
        ("--workers", "many"),
        ("--workers", "0"),
        ("--arrival", "burst"),
        ("--latency-from", "never"),
        ("--header", "NoColon"),
        ("--extra-body", "[1]"),
        ("--extra-body", "{bad"),
        ("--input-tokens", "x"),
        ("--prompt-file", "/nonexistent"),
        ("--api-key-file", "/nonexistent"),
        ("--max-concurrency", "0"),
        ("-c", "1,x"),
    ],
)
def test_more_bad_flags(args: tuple[str, ...]) -> None:
    res = run_cli(*args, "--base-url", "http://127.0.0.1:9")
    assert res.code == 2, (args, res)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmbench-async: error:"), (args, res)
