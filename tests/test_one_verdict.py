"""One verdict in every output, for the cases a first pass missed: a rate sweep's cap on
requests in flight and the SLO its levels were judged on, stated by the console, JSON,
Markdown, JUnit, HTML and the step summary alike; an unjudged sweep claims no verdict in any
of them. Through the CLI, against the built-in mock."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import CLI, cli_env, output_flags, output_paths, run_cli


def _html_text(path: Path) -> str:
    return re.sub(r"<[^>]+>", " ", path.read_text()).replace("&lt;", "<")


def _md_text(text: str) -> str:
    return text.replace("\\", "").replace("&lt;", "<")


def test_rate_sweep_states_its_cap_and_slo_everywhere(
    tmp_path: Path, instant_mock_url: str
) -> None:
    paths = output_paths(tmp_path)
    step = tmp_path / "step.md"
    res = run_cli(
        "--base-url", instant_mock_url, "--rate", "20,40", "--max-concurrency", "3", "-n", "4",
        "--fail-if", "e2e.p99<30s", *output_flags(paths), env={"GITHUB_STEP_SUMMARY": str(step)},
    )  # fmt: skip
    assert res.code in (0, 1), res.stderr  # 1: a level fell behind its rate (a loaded machine)
    load = "sweep rate=20, rate=40 · at most 3 in flight · 4 requests per level"
    slo = "SLO: e2e.p99<30s; achieved ≥ 90 % of arrivals"
    doc = json.loads(paths["json"].read_text())
    assert doc["load"] == load and doc["slo"] == slo
    system_out = ET.fromstring(paths["xml"].read_bytes()).findtext(".//system-out") or ""
    page = _html_text(paths["html"])
    for text in (res.stdout, system_out, page, _md_text(paths["md"].read_text())):
        assert load in text and slo in text, text
    assert load in _md_text(step.read_text()) and slo in _md_text(step.read_text())
    # the chart marks a lower bound as such, not as a capacity found
    data = re.search(r'id="llmbench-data">(.*?)</script>', paths["html"].read_text(), re.S)
    assert data is not None
    sweep = json.loads(data.group(1).replace("<\\/", "</"))["sweep"]
    cap = doc["capacity"]  # a lower bound unless a level fell behind on a loaded machine
    assert sweep["capacity"] == cap["label"] and sweep["capacity_bound"] == cap["bound"]
    assert cap["bound"] == "lower" or any(lvl["level"]["passed"] is False for lvl in doc["levels"])


def test_unjudged_sweep_claims_no_verdict_in_any_output(
    tmp_path: Path, instant_mock_url: str
) -> None:
    paths = output_paths(tmp_path)
    res = run_cli("--base-url", instant_mock_url, "-c", "1,2", "-n", "2", *output_flags(paths))
    assert res.code == 0, res.stderr
    doc = json.loads(paths["json"].read_text())
    assert doc["capacity"] is None and doc["slo"] is None
    table = re.search(r'<table id="sweep">.*?</table>', paths["html"].read_text(), re.S)
    assert table is not None
    for text in (res.stdout, paths["md"].read_text(), table.group(0)):
        assert "SLO" not in text and "pass" not in text, text


def test_compare_html_states_the_verdict_the_console_prints(
    tmp_path: Path, instant_mock_url: str
) -> None:
    runs = []
    for name, conc in (("base", "1"), ("new", "2")):
        path = tmp_path / f"{name}.json"
        res = run_cli(
            "--base-url", instant_mock_url, "-c", conc, "-n", "4", "-q", "--json", str(path)
        )
        assert res.code == 0, res.stderr
        runs.append(str(path))
    html, md = tmp_path / "c.html", tmp_path / "c.md"
    res = run_cli(
        "compare",
        *runs,
        "--max-regression",
        "e2e.p50=0%",
        "--html",
        str(html),
        "--markdown",
        str(md),
    )
    verdict = res.stdout.strip().splitlines()[-1].removeprefix("compare: ")
    assert verdict and verdict in _md_text(md.read_text())
    page = _html_text(html)
    assert verdict in page, page
    row = re.search(r"<td>e2e\.p50</td>.*?</tr>", html.read_text(), re.S)
    assert row is not None
    verdict_cell = re.findall(r"<td>([^<]*)</td>", row.group(0))[-1]
    assert verdict_cell.startswith(("ok (within 0%)", "REGRESSION: worse by more than 0%")), row


def test_run_html_states_each_threshold_limit_and_the_tally(
    tmp_path: Path, instant_mock_url: str
) -> None:
    paths = output_paths(tmp_path)
    res = run_cli(
        "--base-url", instant_mock_url, "-n", "4", "--fail-if", "ttft.p95<0.001ms",
        "--fail-if", "error_rate<1%", *output_flags(paths),
    )  # fmt: skip
    assert res.code == 1
    tally = "1 of 2 thresholds failed"
    assert tally in res.stdout and tally in paths["md"].read_text()
    table = re.search(r'<table id="thresholds">.*?</table>', paths["html"].read_text(), re.S)
    assert table is not None
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in table.group(0).split("<tr>")]
    picked = [[row[i] for i in (0, 2, 3, 4)] for row in cells[2:4]]
    assert picked[0] == ["ttft.p95&lt;0.001ms", "ms", "&lt; 0.001", "FAIL"]
    assert picked[1] == ["error_rate&lt;1%", "%", "&lt; 1", "pass"]
    assert tally in _html_text(paths["html"])


def test_report_of_a_sweeps_output_name_points_at_its_level_files(
    tmp_path: Path, instant_mock_url: str
) -> None:
    results = tmp_path / "r.jsonl"
    res = run_cli("--base-url", instant_mock_url, "-c", "1,2", "-n", "2", "-q", "-o", str(results))
    assert res.code == 0, res.stderr
    report = run_cli("report", str(results))
    assert report.code == 2
    line = report.stderr.strip()
    assert "\n" not in line and f"cannot read {results}: No such file or directory" in line
    assert f"(a sweep writes one file per level: {tmp_path / 'r.c1.jsonl'}, " in line, line


def test_sweep_compare_markdown_counts_its_shared_levels(
    tmp_path: Path, instant_mock_url: str
) -> None:
    sides = []
    for name, levels in (("base", "1,2"), ("new", "2,4")):
        path = tmp_path / f"{name}.json"
        args = ("-c", levels, "-n", "2", "-q", "--json", str(path))
        res = run_cli("--base-url", instant_mock_url, *args)
        assert res.code == 0, res.stderr
        sides.append(str(path))
    md = tmp_path / "c.md"
    res = run_cli("compare", *sides, "--markdown", str(md))
    assert res.code == 0, res.stderr
    text = md.read_text()
    assert text.startswith("## llmbench-async compare: sweeps, 1 shared level\n"), text
    assert "level c=1 is only in BASE" in text and "level c=1 is only in BASE" in res.stdout


def test_run_html_names_the_served_models_finish_reasons_and_size_as_the_console(
    tmp_path: Path, instant_mock_url: str
) -> None:
    paths = output_paths(tmp_path)
    res = run_cli("--base-url", instant_mock_url, "-n", "3", *output_flags(paths))
    assert res.code == 0, res.stderr
    served = re.search(r"Served by:\s+(.+)", res.stdout)
    reasons = re.search(r"Finish reasons:\s+(.+)", res.stdout)
    size = re.search(r"Request size:\s+(.+)", res.stdout)
    assert served is not None and reasons is not None and size is not None, res.stdout
    line = (
        f"Served by: {served.group(1)} · Finish reasons: {reasons.group(1)}"
        f" · Request size: {size.group(1)}"
    )
    assert f'data-key="answers">{line}<' in paths["html"].read_text()
    assert f"**Served by:** {served.group(1)}" in paths["md"].read_text()


def test_two_outputs_to_one_file_are_refused_before_the_run(tmp_path: Path) -> None:
    same = tmp_path / "out.json"
    for first, second in (("-o", "--json"), ("--json", "--markdown"), ("--junit", "--html")):
        res = run_cli("--base-url", "http://127.0.0.1:9/v1", "-m", "m", first, str(same), second,
                      str(tmp_path / "." / "out.json"))  # fmt: skip
        assert res.code == 2
        line = res.stderr.strip()
        assert "\n" not in line and "both name" in line and "give each its own file" in line
        assert not same.exists()


def test_embeddings_markdown_claims_no_output_rate(tmp_path: Path, instant_mock_url: str) -> None:
    paths = output_paths(tmp_path)
    res = run_cli(
        "--base-url", instant_mock_url, "--api", "embeddings", "--batch", "2", "-n", "2",
        *output_flags(paths),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    assert "Output tokens/s" not in res.stdout
    md = paths["md"].read_text()
    assert "2 ok, 0 failed" in md and "output tok/s" not in md, md


def test_an_interrupted_sweep_says_so_in_every_output(tmp_path: Path) -> None:
    paths = output_paths(tmp_path)
    step = tmp_path / "step.md"
    cmd = [
        *CLI,
        "--mock",
        "-c",
        "1,2",
        "-n",
        "50",
        "--fail-if",
        "ttft.p95<5s",
        *output_flags(paths),
    ]
    env = cli_env({"GITHUB_STEP_SUMMARY": str(step)})
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    said = re.compile(r"c=1: interrupted by SIGINT: the figures cover the \d+ requests that "
                      r"finished; no later level ran")  # fmt: skip
    doc = json.loads(paths["json"].read_text())
    assert any(said.fullmatch(w) for w in doc["warnings"]), doc["warnings"]
    system_out = ET.fromstring(paths["xml"].read_bytes()).findtext(".//system-out") or ""
    for text in (out, system_out, _html_text(paths["html"]), _md_text(paths["md"].read_text()),
                 _md_text(step.read_text())):  # fmt: skip
        assert said.search(text), text
