"""One verdict in every output: the console, JSON, Markdown, JUnit, HTML and the step summary
of a run, a sweep and a comparison state the same target, load, in-flight cap, warnings and
capacity. Through the CLI, against the built-in mock."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import output_flags, output_paths, run_cli

from llmbench_async.results.facts import LAG_WARN_MS

BUSY = "the client itself was busy"


def _html_text(path: Path) -> str:
    """The page's visible text (tags dropped, entities left as they are)."""
    return re.sub(r"<[^>]+>", " ", path.read_text())


def test_sweep_states_its_load_and_lower_bound_capacity_everywhere(
    tmp_path: Path, instant_mock_url: str
) -> None:
    paths = output_paths(tmp_path)
    step = tmp_path / "step.md"
    res = run_cli(
        "--base-url", instant_mock_url, "-c", "1,2,4", "-n", "4", "--fail-if", "e2e.p99<30s",
        *output_flags(paths), env={"GITHUB_STEP_SUMMARY": str(step)},
    )  # fmt: skip
    assert res.code == 0, res.stderr
    load = "sweep c=1, c=2, c=4 · 4 requests per level"
    capacity = "capacity ≥ c=4 (not reached); every level passed"
    doc = json.loads(paths["json"].read_text())
    assert doc["load"] == load and doc["capacity_text"] == capacity
    assert doc["capacity"]["bound"] == "lower"
    page = _html_text(paths["html"])
    assert load in page and capacity in page
    assert "concurrency 1 ·" not in page  # headed by the sweep's load, not its first level's
    assert load in res.stdout and capacity in res.stdout
    system_out = ET.fromstring(paths["xml"].read_bytes()).findtext(".//system-out") or ""
    assert load in system_out and capacity in system_out
    for md in (paths["md"].read_text(), step.read_text()):
        assert "sweep c=1, c=2, c=4 · 4 requests per level" in md.replace("\\", "")
        assert capacity in md


def test_open_loop_peak_in_flight_is_against_the_cap(tmp_path: Path, instant_mock_url: str) -> None:
    paths = output_paths(tmp_path)
    res = run_cli(
        "--base-url", instant_mock_url, "--rate", "20", "--max-concurrency", "32", "-n", "6",
        *output_flags(paths),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    match = re.search(r"peak in flight (\d+)(/\d+)?", res.stdout)
    assert match is not None and match.group(2) == "/32", res.stdout
    doc = json.loads(paths["json"].read_text())
    assert doc["in_flight_cap"] == 32
    assert f"{match.group(1)}/32" in _html_text(paths["html"])
    uncapped = run_cli("--base-url", instant_mock_url, "--rate", "20", "-n", "4")
    assert uncapped.code == 0, uncapped.stderr
    assert re.search(r"peak in flight \d+;?$", uncapped.stdout, flags=re.M), uncapped.stdout


@pytest.mark.parametrize(
    ("flags", "path"),
    [
        (["--api", "responses"], "/v1/responses"),
        (["--api", "messages"], "/v1/messages"),
        (["--api", "embeddings"], "/v1/embeddings"),
        (["--api", "completions"], "/v1/completions"),
        (["--endpoint", "{base}/chat/completions?tag=x"], "/v1/chat/completions?tag=x"),
    ],
)
def test_report_and_compare_show_the_endpoint_that_ran(
    tmp_path: Path, instant_mock_url: str, flags: list[str], path: str
) -> None:
    flags = [f.replace("{base}", instant_mock_url) for f in flags]
    results, summary = tmp_path / "run.jsonl", tmp_path / "run.json"
    res = run_cli(
        "--base-url", instant_mock_url, "-n", "2", *flags, "-o", str(results),
        "--json", str(summary), "-q",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    origin = instant_mock_url.removesuffix("/v1")
    endpoint = origin + path
    header = json.loads(results.read_text().splitlines()[0])
    assert header["target"]["endpoint"] == endpoint
    report = run_cli("report", str(results))
    assert report.code == 0, report.stderr
    assert report.stdout.splitlines()[0].endswith(f"→ {endpoint}")
    compared = run_cli("compare", str(results), str(summary), "--strict")
    assert compared.code == 0, compared.stdout + compared.stderr
    assert compared.stdout.count(f"→ {endpoint} ·") == 2


def test_old_results_files_are_described_from_their_config(
    tmp_path: Path, instant_mock_url: str
) -> None:
    results = tmp_path / "run.jsonl"
    res = run_cli(
        "--base-url", instant_mock_url, "-n", "2", "--api", "responses", "--rate", "50",
        "--max-concurrency", "4", "-o", str(results), "-q",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    lines = results.read_text().splitlines()
    header = json.loads(lines[0])
    for key in ("target", "load", "in_flight_cap"):  # as written before they were data
        del header[key]
    results.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    report = run_cli("report", str(results))
    assert report.code == 0, report.stderr
    head = report.stdout.splitlines()
    assert head[0].endswith(f"→ {instant_mock_url}/responses")
    assert "Poisson arrivals at 50 req/s, at most 4 in flight · 2 requests" in head[1]
    assert re.search(r"peak in flight \d+/4", report.stdout)


def test_two_mock_runs_compare_alike(tmp_path: Path) -> None:
    runs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path in runs:
        res = run_cli("--mock", "-n", "2", "--max-tokens", "2", "-o", str(path), "-q")
        assert res.code == 0, res.stderr
    assert json.loads(runs[0].read_text().splitlines()[0])["target"]["endpoint"] == "mock"
    compared = run_cli("compare", *map(str, runs), "--strict")
    assert "endpoint differs" not in compared.stdout
    assert compared.code == 0, compared.stdout + compared.stderr


def _busy_results(tmp_path: Path, url: str, lag_p99: float) -> Path:
    """A results file whose footer says the client's loop lagged `lag_p99` ms at p99."""
    results = tmp_path / f"lag{lag_p99:g}.jsonl"
    res = run_cli("--base-url", url, "-n", "2", "-o", str(results), "-q")
    assert res.code == 0, res.stderr
    lines = results.read_text().splitlines()
    footer = json.loads(lines[-1])
    footer["client"]["loop_lag_ms"] = {"p50": 1.0, "p99": lag_p99, "max": lag_p99}
    footer["client"]["cpu_percent"] = 5.0
    results.write_text("\n".join([*lines[:-1], json.dumps(footer)]) + "\n")
    return results


@pytest.mark.parametrize("lag_p99", [LAG_WARN_MS / 2 + 1, LAG_WARN_MS + 5])
def test_a_busy_client_is_one_warning_in_every_output(
    tmp_path: Path, instant_mock_url: str, lag_p99: float
) -> None:
    results = _busy_results(tmp_path, instant_mock_url, lag_p99)
    paths = output_paths(tmp_path)
    step = tmp_path / "step.md"
    rep = run_cli(
        "report", str(results), *output_flags(paths), env={"GITHUB_STEP_SUMMARY": str(step)}
    )
    assert rep.code == 0, rep.stderr
    busy = lag_p99 > LAG_WARN_MS
    doc = json.loads(paths["json"].read_text())
    assert any(BUSY in w for w in doc["warnings"]) is busy
    assert (BUSY in rep.stdout) is busy
    assert (BUSY in _html_text(paths["html"])) is busy
    assert (BUSY in paths["md"].read_text()) is busy
    assert (BUSY in step.read_text()) is busy
    system_out = ET.fromstring(paths["xml"].read_bytes()).findtext(".//system-out") or ""
    assert (BUSY in system_out) is busy


def test_compare_warnings_are_the_same_in_every_output(
    tmp_path: Path, instant_mock_url: str
) -> None:
    runs = [tmp_path / "c1.jsonl", tmp_path / "c2.jsonl"]
    for path, c in zip(runs, ("1", "2"), strict=True):
        res = run_cli("--base-url", instant_mock_url, "-n", "4", "-c", c, "-o", str(path), "-q")
        assert res.code == 0, res.stderr
    md, page, step = tmp_path / "c.md", tmp_path / "c.html", tmp_path / "step.md"
    res = run_cli(
        "compare", *map(str, runs), "--markdown", str(md), "--html", str(page),
        env={"GITHUB_STEP_SUMMARY": str(step)},
    )  # fmt: skip
    assert res.code == 0, res.stderr
    warning = "load differs: BASE concurrency 1, NEW concurrency 2"
    assert f"!! {warning}" in res.stdout
    assert warning in _html_text(page)
    for text in (md.read_text(), step.read_text()):
        assert warning in text.replace("\\", "")
    assert "too few samples to tell" in _html_text(page)
    strict = run_cli("compare", *map(str, runs), "--strict", "-q")
    assert strict.code == 2


def test_warnings_on_the_summary_reach_every_output() -> None:
    """A warning the Summary carries as data (whatever adds it) is listed by every renderer,
    escaped for each."""
    from dataclasses import fields

    from llmbench_async.records import RequestRecord
    from llmbench_async.report.summary import RunInfo, RunReport
    from llmbench_async.results.stats import Summary, summarize

    base = summarize([RequestRecord(index=0, scheduled_ns=0, send_ns=0, end_ns=5_000_000)])

    class Warned(Summary):  # as a Summary with a `warnings` field
        pass

    summary = Warned(**{f.name: getattr(base, f.name) for f in fields(Summary)})
    warning = "3 streams ended without a finish reason <b>|x|</b>\x1b[31m"
    object.__setattr__(summary, "warnings", (warning,))
    info = RunInfo(
        tool_version="t", endpoint="http://h/v1", model="m", settings="s", started_at="now"
    )
    rendered = RunReport(summary, info)
    assert rendered.json()["warnings"] == [warning]
    assert "!! 3 streams ended without a finish reason <b>|x|</b>\n" in rendered.console(
        width=100, color=False
    )
    assert "> ⚠️ 3 streams ended without a finish reason &lt;b&gt;\\|x\\|&lt;/b&gt;" in (
        rendered.markdown()
    )
    junit = ET.fromstring(rendered.junit()).findtext(".//system-out") or ""
    assert "warning: 3 streams ended without a finish reason <b>|x|</b>" in junit
    assert "3 streams ended without a finish reason &lt;b&gt;|x|&lt;/b&gt;" in rendered.html()


def test_the_saved_endpoint_has_no_credential_in_its_query(
    tmp_path: Path, instant_mock_url: str
) -> None:
    results, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    endpoint = f"{instant_mock_url}/chat/completions?api-version=1&sig=SAS0123456789sig"
    res = run_cli(
        "--base-url", instant_mock_url, "--endpoint", endpoint, "-n", "1", "-o", str(results),
        "--json", str(summary),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    shown = f"{instant_mock_url}/chat/completions?api-version=1&sig=***"
    assert res.stdout.splitlines()[0].endswith(f"→ {shown}")
    assert json.loads(results.read_text().splitlines()[0])["target"]["endpoint"] == shown
    assert json.loads(summary.read_text())["target"]["endpoint"] == shown
    assert run_cli("report", str(results)).stdout.splitlines()[0].endswith(f"→ {shown}")
