"""Text from outside with no space in it (an error message, a model name) wraps inside the
HTML report instead of widening the page past the window. Through the CLI, against a
raw-socket server, in headless chromium."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli
from playwright.sync_api import BrowserContext
from rawserver import RawServer, Seen, response, sse
from test_html import _open, browser  # noqa: F401  (the chromium fixture)

LONG = "E" * 600
OK = sse(
    [
        b'{"id":"r","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}',
        b'{"id":"r","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        b"[DONE]",
    ]
)


def _half_refused(seen: Seen, number: int) -> bytes:
    if number % 2:
        return response(400, b'{"error":{"message":"' + LONG.encode() + b'"}}')
    return OK


def test_a_long_unbroken_error_message_does_not_widen_the_page(
    browser: BrowserContext,  # noqa: F811
    tmp_path: Path,
) -> None:
    html = tmp_path / "r.html"
    with RawServer(_half_refused) as srv:
        res = run_cli(
            "--base-url", srv.url + "/v1", "-m", "m", "-n", "6", "-q", "--html", str(html)
        )
    assert res.code == 0, res.stderr
    assert "HTTP 400: " + LONG[:80] in html.read_text()  # shown, cut to its limit
    page, errors = _open(browser, html)
    assert errors == []
    width, window = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width <= window, f"the page is {width} px wide in a {window} px window"
