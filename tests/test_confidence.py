"""How sure each percentile is, through the CLI against the mock: every percentile of the
summary JSON has its 95 % interval, the console marks a wide one with `~` and a legend,
Markdown shows the p99's interval, the gate judges a bound (`ttft.p99.upper<1s`), and
`compare` calls a change inside both runs' intervals "same" (report/confidence.py,
results/intervals.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import StartMock, run_cli

from llmbench_async.report.confidence import LEGEND, convergence_lines, steady_lines
from llmbench_async.results.gate import ThresholdError, parse_threshold
from llmbench_async.results.stats import describe


@pytest.fixture(scope="module")
def runs(shared_mocks: StartMock, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Saved runs: a.jsonl and a2.jsonl from the same mock (TTFT 50 ± 15 ms), b.jsonl from
    one whose TTFT is 150 ± 15 ms; each with its summary JSON (n=60, 4 in flight). The
    spread is wide against what a busy machine may shift one run by (a few ms), which no
    interval of one run can know of."""
    out = tmp_path_factory.mktemp("runs")
    fast = shared_mocks(ttft_ms=50, itl_ms=1, tokens=4, jitter_ms=15, seed=1).base_url
    slow = shared_mocks(ttft_ms=150, itl_ms=1, tokens=4, jitter_ms=15, seed=2).base_url
    for name, url in (("a", fast), ("a2", fast), ("b", slow)):
        res = run_cli(
            *("--base-url", url, "-c", "4", "-n", "60", "-q"),
            *("-o", str(out / f"{name}.jsonl"), "--json", str(out / f"{name}.json")),
        )
        assert res.code == 0, res
    return out


def test_every_percentile_in_the_json_has_its_interval(runs: Path) -> None:
    doc = json.loads((runs / "a.json").read_text())
    for key, stats in doc["metrics"].items():
        if stats is None:
            assert key not in doc["intervals"]
            continue
        for stat in ("p50", "p90", "p95", "p99"):
            found = doc["intervals"][key][stat]
            assert found["value"] == stats[stat] and found["n"] == stats["count"]
            assert found["method"] == "exact"
            assert found["open"] is (found["lower"] is None or found["upper"] is None)
            if found["lower"] is not None:
                assert stats["min"] <= found["lower"] <= found["value"]
            if found["upper"] is not None:
                assert found["value"] <= found["upper"] <= stats["max"]
    ttft = doc["intervals"]["ttft_ms"]
    assert not ttft["p50"]["open"]
    assert ttft["p99"]["upper"] is None and ttft["p99"]["lower"] is not None  # 60 < 368


def test_console_marks_a_wide_p99_of_20_samples(shared_mocks: StartMock) -> None:
    url = shared_mocks(ttft_ms=20, itl_ms=1, tokens=4, jitter_ms=3, seed=1).base_url
    res = run_cli("--base-url", url, "-c", "4", "-n", "20")
    assert res.code == 0, res
    lines = res.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["count", "mean"])
    cells = lines[head].split()
    ttft = lines[head + 1].removeprefix("TTFT (ms)").split()
    by_stat = dict(zip(cells, ttft, strict=True))
    assert by_stat["p99"].endswith("~") and by_stat["p95"].endswith("~")
    assert not by_stat["count"].endswith("~") and not by_stat["max"].endswith("~")
    assert LEGEND in lines


def test_no_mark_on_narrow_intervals(shared_mocks: StartMock) -> None:
    """400 samples of a steady TTFT: the p50's interval (ranks 180 to 221) is closed and
    within 10 %, so it carries no mark. The tail's are not asserted: a busy machine delaying
    a tenth of the requests by a few ms may widen them. The legend comes with a mark."""
    url = shared_mocks(ttft_ms=20, itl_ms=0, tokens=1, seed=3).base_url
    res = run_cli("--base-url", url, "-c", "16", "-n", "400")
    assert res.code == 0, res
    lines = res.stdout.splitlines()
    head = next(line for line in lines if line.split()[:2] == ["count", "mean"]).split()
    ttft = next(line for line in lines if line.startswith("TTFT (ms)"))
    cells = dict(zip(head, ttft.removeprefix("TTFT (ms)").split(), strict=True))
    assert not cells["p50"].endswith("~"), ttft
    marked = any("~" in line for line in lines[lines.index(ttft) - 1 : lines.index(ttft) + 6])
    assert (LEGEND in lines) == marked


def test_markdown_junit_html_show_the_p99_interval(runs: Path, tmp_path: Path) -> None:
    md, junit, html = tmp_path / "r.md", tmp_path / "r.xml", tmp_path / "r.html"
    res = run_cli(
        *("report", str(runs / "a.jsonl"), "--markdown", str(md)),
        *("--junit", str(junit), "--html", str(html)),
    )
    assert res.code == 0, res
    text = md.read_text()
    assert "| p99 95 % interval |" in text
    doc = json.loads((runs / "a.json").read_text())
    low = doc["intervals"]["ttft_ms"]["p99"]["lower"]
    row = next(line for line in text.splitlines() if line.startswith("| TTFT (ms) |"))
    assert row.endswith(", open] |") and f"[{low:.2f}" in row
    assert 'name="ttft_ms.p99" value="' in junit.read_text()
    assert ", open]" in junit.read_text().split('name="ttft_ms.p99"')[1].split("/>")[0]
    page = html.read_text()
    cell = page.split('data-key="intervals.ttft_ms.p99">')[1].split("</td>")[0]
    assert cell == f"[{low:.2f}, open]"


def test_gate_judges_a_bound_not_the_point(runs: Path, shared_mocks: StartMock) -> None:
    url = shared_mocks(ttft_ms=20, itl_ms=1, tokens=4, jitter_ms=3, seed=1).base_url
    passes = run_cli(
        *("--base-url", url, "-c", "4", "-n", "20", "-q"),
        *("--fail-if", "ttft.p50.upper<1s", "--fail-if", "ttft.p99.lower>1ms"),
        *("--fail-if", "ttft.p99<1s"),
    )
    assert passes.code == 0, passes
    # the p99 of 20 samples has no upper bound: a limit on it cannot be met
    fails = run_cli(
        "--base-url", url, "-c", "4", "-n", "20", "-q", "--fail-if", "ttft.p99.upper<1s"
    )
    assert fails.code == 1, fails
    assert "ttft.p99.upper<1s (observed open (too few samples)" in fails.stderr
    # the bound, not the point: the p50 lies below 30 ms, its interval's lower bound too
    lower = run_cli(
        "--base-url", url, "-c", "4", "-n", "20", "-q", "--fail-if", "ttft.p50.lower>30ms"
    )
    assert lower.code == 1, lower
    # a saved run is judged the same way by `report`
    again = run_cli("report", str(runs / "a.jsonl"), "--fail-if", "ttft.p50.upper<1s")
    assert again.code == 0, again


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("ttft.mean.upper<1s", ".upper is the bound of a percentile's 95 % interval"),
        ("error_rate.lower<1%", "error_rate is a run-level metric"),
    ],
)
def test_bound_of_something_else_is_a_usage_error(
    shared_mocks: StartMock, expr: str, says: str
) -> None:
    url = shared_mocks(ttft_ms=20, itl_ms=1, tokens=4, jitter_ms=3, seed=1).base_url
    res = run_cli("--base-url", url, "-n", "2", "--fail-if", expr)
    assert res.code == 2 and res.stderr.count("\n") == 1, res
    assert says in res.stderr


def test_compare_same_within_noise_and_a_real_regression(runs: Path) -> None:
    a, a2, b = (str(runs / f"{name}.jsonl") for name in ("a", "a2", "b"))
    tolerances = [f"--max-regression={m}=0%" for m in ("ttft.p50", "ttft.p95", "e2e.p50")]
    same = run_cli("compare", a, a2, *tolerances)
    assert same.code == 0, same
    rows = {line.split()[0]: line for line in same.stdout.splitlines() if " (ms) " in line}
    for metric in ("ttft.p50", "ttft.p95", "e2e.p50"):
        assert " same " in rows[metric] and "ok (within 0%)" in rows[metric], rows[metric]
    assert " same" in rows["ttft.p99"]
    slower = run_cli("compare", a, b, "--max-regression", "10%")
    assert slower.code == 1, slower
    assert "ttft.p50 +" in slower.stderr and "e2e.p50 +" in slower.stderr
    line = next(x for x in slower.stdout.splitlines() if x.startswith("ttft.p50 "))
    assert "worse" in line and "REGRESSION" in line
    # a p99 of 60 samples has no upper bound: twice as slow is still within its noise
    line = next(x for x in slower.stdout.splitlines() if x.startswith("ttft.p99 "))
    assert " ≈ " in line and " same " in line and "ttft.p99" not in slower.stderr
    text = run_cli("compare", a, a2).stdout
    assert "≈ same within noise: the two runs' 95 % intervals of this percentile overlap" in text


def test_compare_of_summaries_with_and_without_intervals(runs: Path, tmp_path: Path) -> None:
    """Summary JSONs carry their intervals; one saved before they existed falls back to the
    fixed rule, and the comparison says so."""
    a, b = runs / "a.json", runs / "b.json"
    worse = run_cli("compare", str(a), str(b), "--max-regression", "10%")
    assert worse.code == 1 and "ttft.p50" in worse.stderr, worse
    old = tmp_path / "old.json"
    doc = json.loads(a.read_text())
    del doc["intervals"]
    old.write_text(json.dumps(doc))
    res = run_cli("compare", str(old), str(runs / "a2.json"))
    assert res.code == 0, res
    assert "!! BASE holds no percentile intervals (a summary JSON saved before" in res.stdout


def test_renderers_of_steady_state_and_convergence_stay_safe() -> None:
    """Values read back from a results file are data from outside: odd shapes render as a
    dash, names are escaped for the terminal."""
    whole = {"ttft_ms": describe([1.0, 2.0, 3.0])}
    lines = steady_lines(
        {
            "target_in_flight": 2,
            "window": {"start_s": "x", "end_s": 1.5},
            "requests": 3,
            "requests_per_s": None,
            "metrics": {"ttft_ms": {"p50": 2.0, "p99": True}, "\x1b[2J": {"p50": 1}},
        },
        whole,
    )
    assert lines[1] == "Steady state (2 in flight): – s → 1.50 s, 3 requests, – req/s"
    assert lines[3].split() == ["TTFT", "(ms)", "2.00", "2.00", "2.98", "–"]
    assert steady_lines({"window": None, "reason": "\x1b[31mred"}, whole)[1].count("\x1b") == 0
    conv = convergence_lines(
        {"converged": False, "targets": {"\x1b[1mttft.p99": 5}, "relative_half_width_pct": []}
    )
    assert "\x1b" not in conv[1] and "open (goal ±5.00 %)" in conv[1]
    assert steady_lines(None, whole) == [] and convergence_lines(None) == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ttft.p99.upper<1s", "ttft.p99.upper<1s"),
        ("TTFT.P99.9.Lower >= 5ms", "ttft.p99.9.lower>=5ms"),
        ("time_to_first_token.p50.upper<=0.5s", "ttft.p50.upper<=0.5s"),
    ],
)
def test_bound_grammar(text: str, shown: str) -> None:
    threshold = parse_threshold(text)
    assert str(threshold) == shown and threshold.ref.bound in ("upper", "lower")


@pytest.mark.parametrize(
    "text",
    ["ttft.p99.upper.upper<1s", "ttft.upper<1s", "ttft.p99.lower.p50<1s", "ttft.max.lower<1"],
)
def test_bound_grammar_refuses(text: str) -> None:
    with pytest.raises(ThresholdError):
        parse_threshold(text)


def test_no_interval_warning_only_for_old_summaries(runs: Path, tmp_path: Path) -> None:
    """A results file has its intervals (from its records), and a summary JSON of this
    version holds its own: no side lacks them, so no warning."""
    res = run_cli("compare", str(runs / "a.jsonl"), str(runs / "b.json"))
    assert res.code == 0 and "holds no percentile intervals" not in res.stdout, res


def test_html_shows_the_steady_state_and_convergence(
    shared_mocks: StartMock, tmp_path: Path
) -> None:
    url = shared_mocks(ttft_ms=20, itl_ms=1, tokens=4, jitter_ms=3, seed=1).base_url
    page, out = tmp_path / "r.html", tmp_path / "s.json"
    res = run_cli(
        *("--base-url", url, "-c", "4", "-n", "40", "-q", "--window", "100ms"),
        *("--until-stable", "e2e.p50:50%", "--html", str(page), "--json", str(out)),
    )
    assert res.code == 0, res
    doc, html = json.loads(out.read_text()), page.read_text()
    assert '<table id="steady">' in html and 'data-key="steady_state">Steady state (4 in' in html
    cell = html.split('data-key="steady_state.metrics.ttft_ms.p50">')[1].split("</td>")[0]
    assert float(cell) == pytest.approx(doc["steady_state"]["metrics"]["ttft_ms"]["p50"], 0.01)
    assert 'data-key="convergence">Converged (--until-stable) after' in html
