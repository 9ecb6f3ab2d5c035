"""The HTML report in a real browser: Debian's headless Chromium opens it from file:// (no
network), and the test checks there are no console errors, that every chart drew on a
non-empty canvas, and that the numbers on the page are the summary JSON's. It saves
screenshots under test-artifacts/ (and the README's docs/report.png when
LLMBENCH_UPDATE_SCREENSHOT=1)."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from playwright.sync_api import BrowserContext, Page, sync_playwright
from test_server_metrics import prom  # noqa: F401  (the Prometheus-text server fixture)

from llmbench_async.metrics import format_number
from llmbench_async.mock import MockProcess
from llmbench_async.records import RequestRecord
from llmbench_async.report.html import run_html
from llmbench_async.report.summary import RunInfo, summary_json
from llmbench_async.results.stats import summarize
from llmbench_async.watch.timeseries import timeseries_from_records

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _local(url: str) -> bool:
    return url.startswith(("file:", "data:"))


def _open(browser: BrowserContext, path: Path) -> tuple[Page, list[str]]:
    """Open `path` from file://; return the page and every console error or page error."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if _local(r.url) else errors.append(f"network: {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.chartsDrawn !== undefined", timeout=15_000)
    return page, errors


# per chart: how many canvas pixels have one of its series' own colours (not axes, not grid)
_SERIES_INK = """() => window.llmbenchCharts.map(c => {
  const canvas = c.box.querySelector('canvas');
  const rgb = c.colors.map(h => [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16)));
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] < 200) continue;
    if (rgb.some(([r, g, b]) => Math.abs(d[i] - r) + Math.abs(d[i + 1] - g)
        + Math.abs(d[i + 2] - b) < 60)) ink++;
  }
  return [c.title, c.points, ink];
})"""


def _check_charts(page: Page, at_least: int) -> list[str]:
    drawn = int(page.evaluate("document.body.dataset.chartsDrawn"))
    inks = page.evaluate(_SERIES_INK)
    assert len(inks) == drawn >= at_least, inks
    assert page.locator(".chart canvas").count() == drawn
    blank = [(title, points, ink) for title, points, ink in inks if points == 0 or ink < 5]
    assert not blank, f"charts with no data or whose series drew nothing: {blank}"
    return [title for title, _, _ in inks]


# per histogram: the widths (CSS px) of the runs of bar-coloured pixels along a row just
# above the x axis, i.e. the bars as drawn
_BAR_WIDTHS = """() => window.llmbenchCharts.filter(c => c.title.includes('histogram')).map(c => {
  const canvas = c.box.querySelector('canvas'), u = c.chart, dpr = devicePixelRatio;
  const [r, g, b] = [1, 3, 5].map(i => parseInt(c.colors[0].slice(i, i + 2), 16));
  const y = Math.round(u.bbox.top + u.bbox.height - 2 * dpr);
  const row = canvas.getContext('2d').getImageData(0, y, canvas.width, 1).data;
  const runs = [];
  let run = 0;
  for (let x = Math.floor(u.bbox.left); x <= u.bbox.left + u.bbox.width + 1; x++) {
    const i = 4 * x;
    const hit = row[i + 3] > 200 && Math.abs(row[i] - r) + Math.abs(row[i + 1] - g)
      + Math.abs(row[i + 2] - b) < 60;
    if (hit) { run++; } else if (run) { runs.push(run / dpr); run = 0; }
  }
  return [c.title, runs];
})"""


def _legend_values(page: Page) -> list[list[str]]:
    return [
        [v.inner_text() for v in box.locator(".u-legend .u-value").all()]
        for box in page.locator(".chart").all()
    ]


def _check_legends_and_bars(page: Page) -> None:
    """Legends never read `--`: blank before the cursor is on a chart, values on hover; and
    every histogram bar is wider than 3 px."""
    before = _legend_values(page)
    assert before and all(v == "" for values in before for v in values), before
    for box in page.locator(".chart").all():
        over = box.locator(".u-over")
        over.scroll_into_view_if_needed()
        size = over.bounding_box()
        assert size is not None
        over.hover(position={"x": size["width"] * 0.5, "y": size["height"] * 0.5})
        values = [v.inner_text() for v in box.locator(".u-legend .u-value").all()]
        assert values and all(v and "--" not in v for v in values), values
    widths = page.evaluate(_BAR_WIDTHS)
    assert widths, "no histogram"
    for title, runs in widths:
        assert runs and min(runs) > 3, (title, runs)


def _cells(page: Page, prefix: str) -> list[tuple[str, str, str]]:
    return [
        tuple(row)
        for row in page.evaluate(
            """(prefix) => Array.from(document.querySelectorAll('[data-key]'))
            .filter(e => e.dataset.key.startsWith(prefix) && e.dataset.value !== undefined)
            .map(e => [e.dataset.key, e.dataset.value, e.textContent])""",
            prefix,
        )
    ]


def _lookup(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value[part]
    return value


def _expected_text(value: Any) -> str:
    return str(value) if isinstance(value, int) else format_number(float(value))


def _save_screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if name == "report.png" and os.environ.get("LLMBENCH_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "report.png")


def test_run_report_in_chromium(
    browser: BrowserContext,
    fast_mock: MockProcess,
    prom: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    html, summary = tmp_path / "report.html", tmp_path / "s.json"
    res = run_cli(
        "--base-url", fast_mock.base_url, "--rate", "25", "--duration", "3s", "--warmup", "1s",
        "--window", "250ms", "--fail-if", "ttft.p99<1s", "--fail-if", "e2e.p50<10ms",
        "--server-metrics", prom + "/metrics", "--scrape-interval", "0.2",
        "--json", str(summary), "--html", str(html), "-q",
    )  # fmt: skip
    assert res.code == 1, res.stderr  # the e2e.p50<10ms threshold fails on purpose
    doc = json.loads(summary.read_text())
    page, errors = _open(browser, html)
    titles = _check_charts(page, at_least=12)
    assert errors == []
    expected = ("TTFT histogram (ms)", "E2E CDF", "ITL CDF", "TPOT histogram (ms)")
    expected += ("Requests per second", "Latency per window (ms)", "Errors per window")
    assert set(expected) <= set(titles)
    assert any(t.startswith("Server: requests running") for t in titles)
    # every number in the tables and cards is the summary JSON's, shown as the console shows it
    cells = _cells(page, "metrics.") + _cells(page, "requests.") + _cells(page, "throughput.")
    cells += _cells(page, "client.") + _cells(page, "duration_s")
    assert len(cells) >= 7 * 8 + 5
    for key, raw, text in cells:
        want = _lookup(doc, key)
        assert float(raw) == pytest.approx(want, rel=1e-12, abs=0), key
        assert text == _expected_text(want), key
    verdicts = page.evaluate(
        "Array.from(document.querySelectorAll('#thresholds tr td:last-child'))"
        ".map(e => e.textContent)"
    )
    assert verdicts == ["pass" if v["passed"] else "FAIL" for v in doc["thresholds"]]
    assert verdicts == ["pass", "FAIL"]
    assert page.inner_text("[data-key=model]") == doc["target"]["model"]
    warm = doc["timeseries"]["marks"]
    assert warm and warm[0]["label"] == "warm-up" and 0.8 < warm[0]["end_s"] < 1.3
    _check_legends_and_bars(page)
    _save_screenshot(page, "report.png")
    page.close()


def test_sweep_and_compare_reports_in_chromium(
    browser: BrowserContext, fast_mock: MockProcess, tmp_path: Path
) -> None:
    sweep_html, sweep_json = tmp_path / "sweep.html", tmp_path / "sweep.json"
    res = run_cli(
        "--base-url", fast_mock.base_url, "-c", "1,2,4", "-n", "12", "--fail-if", "ttft.p99<1s",
        "--json", str(sweep_json), "--html", str(sweep_html), "-q",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    doc = json.loads(sweep_json.read_text())
    page, errors = _open(browser, sweep_html)
    titles = _check_charts(page, at_least=1 + 3 * 4)
    assert errors == [] and titles[0] == "Throughput vs latency p99 per level"
    shown = dict(
        zip(
            page.eval_on_selector_all(
                "#sweep tr td:first-child", "es => es.map(e => e.textContent)"
            ),
            _cells(page, "rps"),
            strict=True,
        )
    )
    for level in doc["levels"]:
        _, raw, _ = shown[level["level"]["label"]]
        assert float(raw) == level["throughput"]["requests_per_s"]
    # every level passed: the page says, as the console and JSON do, it is a lower bound
    assert page.inner_text("[data-key=capacity]") == doc["capacity_text"]
    assert doc["capacity_text"] == "capacity ≥ c=4 (not reached); every level passed"
    assert "sweep c=1, c=2, c=4 · 12 requests per level" in page.inner_text("main")
    _save_screenshot(page, "sweep.png")
    page.close()

    base, new = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out, c in ((base, "1"), (new, "3")):
        res = run_cli("--base-url", fast_mock.base_url, "-n", "15", "-c", c, "-o", str(out), "-q")
        assert res.code == 0, res.stderr
    cmp_html = tmp_path / "compare.html"
    res = run_cli("compare", str(base), str(new), "--html", str(cmp_html), "-q")
    assert res.code == 0, res.stderr
    page, errors = _open(browser, cmp_html)
    titles = _check_charts(page, at_least=6)
    assert errors == []
    assert "TTFT: BASE vs NEW (quantile plot)" in titles
    assert "TTFT p50 per window: BASE vs NEW" in titles
    shown = page.eval_on_selector_all("[data-key=warning]", "es => es.map(e => e.textContent)")
    assert "load differs: BASE concurrency 1, NEW concurrency 3" in shown
    _save_screenshot(page, "compare.png")
    page.close()


def _synthetic(n: int) -> list[RequestRecord]:
    rng = random.Random(11)
    records = []
    for i in range(n):
        send = int(i * 1e9 / 300)  # 300 requests/s for n / 300 seconds
        ttft = int(rng.lognormvariate(18.5, 0.3))
        gaps = tuple(int(rng.uniform(5e6, 15e6)) for _ in range(16))
        end = send + ttft + sum(gaps)
        kind = "http_5xx" if i % 97 == 0 else None
        records.append(
            RequestRecord(
                index=i,
                scheduled_ns=send,
                send_ns=send,
                end_ns=end,
                first_token_ns=send + ttft,
                last_token_ns=end,
                token_gaps_ns=gaps,
                output_tokens=17,
                error_kind=kind,
                status=500 if kind else 200,
            )
        )
    return records


def test_report_for_100k_requests_stays_under_1_mb() -> None:
    records = _synthetic(100_000)
    summary = summarize(records)
    info = RunInfo(
        tool_version="test",
        endpoint="http://127.0.0.1:1/v1/chat/completions",
        model="m",
        settings="synthetic",
        started_at="",
        timeseries=timeseries_from_records(records).to_json(),
    )
    page = run_html(summary_json(summary, info), summary, info.settings)
    assert len(page.encode()) < 1_000_000
    # self-contained: nothing is fetched when the page is viewed
    assert "<script src" not in page and "<link" not in page
    assert "default-src 'none'" in page
    # the exact percentiles are on the page
    assert f'data-value="{summary.metrics["ttft_ms"].p99!r}"' in page


def test_vendored_uplot_is_the_recorded_version() -> None:
    from importlib.resources import files

    from llmbench_async.report.html import UPLOT_VERSION

    vendor = files("llmbench_async").joinpath("vendor", "uplot")
    banner = vendor.joinpath("uPlot.iife.min.js").read_text(encoding="utf-8").splitlines()[0]
    assert f"(v{UPLOT_VERSION})" in banner
    assert "MIT" in vendor.joinpath("LICENSE").read_text(encoding="utf-8")


def test_html_into_a_missing_directory_fails_before_the_run(tmp_path: Path) -> None:
    res = run_cli("--mock", "-n", "1", "--html", str(tmp_path / "nope" / "r.html"))
    assert res.code == 2
    assert res.stderr.count("\n") == 1 and "--html" in res.stderr


def test_hostile_server_text_is_inert_in_the_browser(
    browser: BrowserContext, tmp_path: Path
) -> None:
    """A hostile model id and error bodies, and NaN/Inf from /metrics: the page opens with
    no script of the server's, no image, no error, and shows the model id as text."""
    from rawserver import RawServer
    from test_outbound import HOSTILE, _hostile

    page_path, summary = tmp_path / "hostile.html", tmp_path / "hostile.json"
    with RawServer(_hostile) as srv:
        res = run_cli(
            "--base-url", f"{srv.url}/v1", "-n", "6", "--retries", "0", "--server-metrics",
            "auto", "--scrape-interval", "0.2", "--html", str(page_path),
            "--json", str(summary), "-q",
        )  # fmt: skip
    assert res.code in (0, 3) and "Traceback" not in res.stderr, res.stderr
    page, errors = _open(browser, page_path)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.wait_for_timeout(300)
    assert errors == [] and dialogs == []
    assert page.eval_on_selector_all("img", "es => es.length") == 0
    assert page.eval_on_selector_all("script:not([type])", "es => es.length") == 2  # ours
    shown = page.inner_text("[data-key=model]")
    assert shown.startswith("red # fake heading <script>alert(1)</script><img src=x")
    assert json.loads(summary.read_text())["target"]["model"] == HOSTILE
    page.close()
