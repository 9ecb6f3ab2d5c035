"""Many models: --model a,b,c with --model-mix. The mix itself (a pure function of the
index), the mock's truth log proving each request asked for the model the mix said, results
per model in every output, the gate's {model=NAME} label, wrong_model judged against each
request's own model, and bad lists or mixes as one line, exit 2."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from conftest import StartMock, run_cli
from rawserver import RawServer, Seen, response

from llmbench_async.errors import ConfigError
from llmbench_async.loadgen.models import ModelMix, parse_model_mix, split_models
from llmbench_async.records import read_results


def test_mixes_are_pure_functions_of_the_index() -> None:
    names = ("a", "b", "c")
    rr = parse_model_mix("round-robin", names, None)
    assert [rr.model_of(i) for i in range(6)] == ["a", "b", "c", "a", "b", "c"]
    weighted = parse_model_mix("a=3,b=1,c=0", names, None)
    picks = [weighted.model_of(i) for i in range(400)]
    # smooth weighted round robin: every 4 consecutive requests hold 3 a and 1 b
    assert all(Counter(picks[k : k + 4]) == {"a": 3, "b": 1} for k in range(0, 400, 4))
    assert picks[:4] == ["a", "a", "b", "a"]
    rand = parse_model_mix("random", names, 5)
    drawn = [rand.model_of(i) for i in range(3000)]
    assert drawn == [parse_model_mix("random", names, 5).model_of(i) for i in range(3000)]
    assert drawn != [parse_model_mix("random", names, 6).model_of(i) for i in range(3000)]
    for name in names:  # a uniform draw: 1000 each, within 4 binomial stdevs (~26)
        assert abs(drawn.count(name) - 1000) < 105
    assert str(weighted) == "models a=3,b=1,c=0 (weighted)"
    assert str(ModelMix(("a", "b"))) == "models a,b (round-robin)"


@pytest.mark.parametrize(
    ("model", "mix", "message"),
    [
        ("a,,b", None, "each 1 to 200 printable characters"),
        ("a,b,a", None, "names a model twice"),
        (",".join(f"m{i}" for i in range(101)), None, "at most 100 names"),
        ("a,b", "fastest", "--model-mix must be round-robin, random or weights"),
        ("a,b", "a=3,c=1", "--model-mix must be round-robin, random or weights"),
        ("a,b", "a=-1,b=1", "a weight is a whole number from 0 to 1000"),
        ("a,b", "a=1e9,b=1", "a weight is a whole number from 0 to 1000"),
        ("a,b", "a=0,b=0", "at least one weight must be more than 0"),
        ("a", "random", "spreads requests over several models"),
    ],
)
def test_bad_lists_and_mixes_are_one_line_and_exit_2(
    model: str, mix: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        names = split_models(model)
        parse_model_mix(mix or "round-robin", names, None)
    if mix in (None, "fastest", "random"):  # through the CLI as well (a few: each is a run)
        args = ["--mock", "-m", model, "-n", "1", *(["--model-mix", mix] if mix else [])]
        result = run_cli(*args)
        assert result.code == 2
        assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_the_truth_log_shows_each_request_asked_for_its_mixed_model(
    start_mock: StartMock, tmp_path: Path
) -> None:
    log = tmp_path / "truth.jsonl"
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=2, models=("a", "b", "c"), log_path=str(log))
    out, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    result = run_cli(
        "--base-url", mock.base_url, "-m", "a,b,c", "--model-mix", "a=2,b=1,c=1", "-n", "40",
        "-c", "4", "-o", str(out), "--json", str(summary),
        "--fail-if", "e2e.p95{model=b}<5s", "--fail-if", "error_rate{model=c}<1%",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    truth = Counter(json.loads(line)["model"] for line in log.read_text().splitlines())
    assert truth == {"a": 20, "b": 10, "c": 10}
    records = read_results(out).records
    assert Counter(r.requested_model for r in records) == truth
    assert all(r.model == r.requested_model and r.ok for r in records)
    doc = json.loads(summary.read_text())
    assert {k: v["requests"]["ok"] for k, v in doc["per_model"].items()} == truth
    for entry in doc["per_model"].values():
        assert entry["metrics"]["e2e_ms"]["count"] == entry["requests"]["ok"]
    assert [t["expression"] for t in doc["thresholds"]] == [
        "e2e.p95{model=b}<5s",
        "error_rate{model=c}<1%",
    ]
    assert "By model" in result.stdout
    assert "a, b, c (a=2,b=1,c=1)" in result.stdout.splitlines()[1]


def test_per_model_gate_fails_on_its_own_model_and_unknown_labels_are_usage_errors() -> None:
    failing = run_cli(
        "--mock", "-m", "x,y", "-n", "4", "-c", "2", "--fail-if", "ttft.p95{model=y}<1ms",
        "--fail-if", "ttft.p95{model=x}<10s",
    )  # fmt: skip
    assert failing.code == 1
    assert "1 of 2 thresholds failed: ttft.p95{model=y}<1ms" in failing.stderr
    unknown = run_cli("--mock", "-m", "x,y", "-n", "1", "--fail-if", "ttft.p95{model=z}<1s")
    assert unknown.code == 2 and unknown.stderr.count("\n") == 1
    assert "unknown model 'z'; the run's models: x, y" in unknown.stderr
    label = run_cli("--mock", "-n", "1", "--fail-if", "ttft.p95{region=eu}<1s")
    assert label.code == 2 and "the one label is {model=NAME}" in label.stderr
    # one model: its label is the whole run
    single = run_cli(
        "--mock", "-m", "mock-model", "-n", "2", "--fail-if", "ttft.p95{model=mock-model}<10s"
    )
    assert single.code == 0, single.stderr


def test_wrong_model_is_judged_against_each_requests_own_model(tmp_path: Path) -> None:
    """A server that always answers as `a`: the requests that asked for `a` are ok, those
    that asked for `b` are wrong_model."""
    lock = threading.Lock()

    def handler(seen: Seen, _number: int) -> bytes:
        if seen.method == "GET":
            return response(200, b'{"object": "list", "data": [{"id": "a"}, {"id": "b"}]}')
        with lock:
            chunk = {"id": "c", "model": "a", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
            end = {
                "id": "c",
                "model": "a",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in (chunk, end))
        return response(200, body + b"data: [DONE]\n\n", "text/event-stream")

    summary = tmp_path / "s.json"
    with RawServer(handler) as server:
        result = run_cli(
            "--base-url", f"{server.url}/v1", "-m", "a,b", "-n", "6", "--retries", "0",
            "--json", str(summary),
        )  # fmt: skip
    doc = json.loads(summary.read_text())
    assert doc["per_model"]["a"]["requests"] == {"total": 3, "ok": 3, "failed": 0}
    assert doc["per_model"]["b"]["errors"] == {"wrong_model": 3}
    assert "Traceback" not in result.stderr


def test_markdown_has_a_row_per_model_and_labels_take_plain_names(tmp_path: Path) -> None:
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    result = run_cli(
        "--mock", "-m", "a,b", "-n", "4", "-q", "--markdown", str(md), "--html", str(html)
    )  # fmt: skip
    assert result.code == 0, result.stderr
    page = html.read_text()
    assert '<h2>By model</h2><table id="per-model">' in page
    for name in ("a", "b"):
        assert f'data-key="per_model.{name}.requests.ok" data-value="2"' in page
    rows = [line for line in md.read_text().splitlines() if line.startswith(("| a |", "| b |"))]
    assert [row.split(" | ")[1:3] for row in rows] == [["2", "0"], ["2", "0"]]
    odd = run_cli("--mock", "-m", "a,b", "-n", "1", "--fail-if", "ttft.p95{model=a|b}<1s")
    assert odd.code == 2 and "a model label takes letters, digits" in odd.stderr


def test_report_judges_a_saved_run_per_model(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    assert run_cli("--mock", "-m", "a,b", "-n", "4", "-q", "-o", str(out)).code == 0
    judged = run_cli("report", str(out), "--fail-if", "ttft.p95{model=b}<10s", "-q")
    assert judged.code == 0, judged.stderr
    unknown = run_cli("report", str(out), "--fail-if", "ttft.p95{model=z}<10s")
    assert unknown.code == 2 and "unknown model 'z'; the run's models: a, b" in unknown.stderr
