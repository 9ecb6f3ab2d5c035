"""The workload flags on the real command line: bad values are one-line usage errors, and
datasets, turns, prefixes and gamma arrivals reach the JSON outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--dataset", str(DATA / "openai.jsonl"), "--dataset-format", "csv"),
            "--dataset-format must be one of sharegpt, openai-jsonl, conversations",
        ),
        (("--turns", "0"), "--turns must be at least 1 and at most 10,000 (got 0)"),
        # huge numbers that once ended in a traceback (an overflow) or ran without end
        (("--turns", "9" * 20), "--turns must be at least 1 and at most 10,000"),
        (("--prefix-tokens", "9" * 20), "--prefix-tokens must be 0 or more and at most"),
        (("--window", "1e300"), "--window must be more than 0 and at most 86,400 seconds"),
        (("--ramp-up", "1e300"), "--ramp-up must be 0 or more and at most 86,400 seconds"),
        (("--api", "embeddings", "--batch", "9" * 20), "--batch must be at least 1"),
        (
            ("--input-tokens", "100", "--prefix-tokens", "200"),
            "--prefix-tokens (200) must be less than --input-tokens (100)",
        ),
        (("--rate", "5", "--arrival", "gamma", "--burstiness", "0"), "--burstiness must be"),
        (("--rate", "5", "--arrival", "gamma", "--burstiness", "-2"), "--burstiness must be"),
        (("--rate", "5", "--burstiness", "0.5"), "--burstiness needs --arrival gamma"),
        (
            ("--rate", "5", "--arrival", "bursty"),
            "--arrival must be one of poisson, constant, gamma",
        ),
        (("--api", "rerank"), "--api must be one of chat, completions, responses, messages"),
        (("--batch", "4"), "--batch applies to --api embeddings only"),
        (("--api", "embeddings", "--turns", "2"), "--turns does not apply to --api embeddings"),
        (("--think-time", "soon"), "--think-time must be a duration"),
        (("--prefix-groups", "3"), "--prefix-groups needs --prefix-tokens"),
        (("--goodput", "ttft.p99<1s"), "--goodput conditions are per request"),
        (("--max-input-tokens", "10"), "filter a --dataset"),
        (("--dataset", "no/such/file.json"), "--dataset: cannot read no/such/file.json"),
        (
            ("--dataset", "sample:alpaca"),
            "--dataset: no sample named 'alpaca'; the samples: sample:sharegpt, "
            "sample:openai-jsonl, sample:conversations",
        ),
        (("--dataset", "sample:"), "--dataset: no sample named ''"),
        (
            (
                "--dataset",
                str(DATA / "openai.jsonl"),
                "--min-input-tokens",
                "9",
                "--max-input-tokens",
                "3",
            ),
            "--min-input-tokens (9) exceeds --max-input-tokens (3)",
        ),
    ],
)
def test_bad_workload_values_are_one_line_usage_errors(args: tuple[str, ...], message: str) -> None:
    done = run_cli("--base-url", "http://127.0.0.1:9", "--model", "m", *args, timeout=30)
    assert done.code == 2, done
    assert message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_malformed_dataset_fails_before_any_request(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": \n')
    done = run_cli("--mock", "--dataset", str(bad), "-n", "2", timeout=60)
    assert done.code == 2
    assert done.stderr.strip().endswith("line 2 (at line 3): not valid JSON (Expecting value)")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "kind"),
    [("sharegpt", "sessions"), ("openai-jsonl", "prompts"), ("conversations", "sessions")],
)
def test_the_shipped_samples_run_from_an_empty_folder(tmp_path: Path, name: str, kind: str) -> None:
    """`--dataset sample:NAME` reads the file shipped in the package, whatever the folder."""
    summary = tmp_path / "s.json"
    done = run_cli(
        "--mock", "-q", "-n", "4", "-c", "2", "--max-tokens", "8", "--dataset", f"sample:{name}",
        "--json", str(summary), "--seed", "1", timeout=90, cwd=tmp_path,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    data = json.loads(summary.read_text())
    assert data["config"]["dataset"] == f"sample:{name}"
    assert data["requests"]["ok"] == 4
    # conversations come in sessions (records carry turns); single prompts do not
    assert (data["by_turn"] != {}) == (kind == "sessions")
    assert list(tmp_path.iterdir()) == [summary]


def test_dataset_sessions_prefixes_and_gamma_through_the_cli(tmp_path: Path) -> None:
    results, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    done = run_cli(
        "--mock",
        "-q",
        "-n",
        "4",
        "-c",
        "2",
        "--dataset",
        str(DATA / "sharegpt.json"),
        "--turns",
        "2",
        "--prefix-tokens",
        "16",
        "--prefix-groups",
        "2",
        "-o",
        str(results),
        "--json",
        str(summary),
        timeout=90,
    )
    assert done.code == 0, done.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    requests = [line for line in lines if line["type"] == "request"]
    assert all({"session", "turn", "group"} <= line.keys() for line in requests)
    assert {line["turn"] for line in requests} <= {1, 2}
    data = json.loads(summary.read_text())
    assert data["config"]["dataset"].endswith("sharegpt.json")
    assert set(data["by_turn"]) <= {"1", "2"} and data["by_turn"]["1"]["ttft_ms"]["count"] >= 1
    assert set(data["by_group"]) <= {"0", "1"}
    gamma = run_cli(
        "--mock",
        "-q",
        "-n",
        "5",
        "--rate",
        "20",
        "--arrival",
        "gamma",
        "--burstiness",
        "0.5",
        "--seed",
        "3",
        "--json",
        str(summary),
        timeout=60,
    )
    assert gamma.code == 0, gamma.stderr
    config = json.loads(summary.read_text())["config"]
    assert config["arrival"] == "gamma" and config["burstiness"] == 0.5
