"""Every text from outside reaches each output through its sink's escaper: a hostile model
id from /models, hostile error bodies, a huge error message in a results file and NaN/Inf
from /metrics, through the CLI, checked in every output kind."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import output_flags, output_paths, run_cli
from rawserver import RawServer, Seen, response, sse

from llmbench_async import outbound

# ANSI colour, an OSC title, a newline, a fake heading, HTML that would run, a table break,
# a code span, a link, and characters XML 1.0 forbids
HOSTILE = (
    "\x1b[31mred\x1b[0m\x1b]0;pwned\x07\n# fake heading\n"
    "<script>alert(1)</script><img src=x onerror=alert(2)>|cell|`tick`"
    "[click](http://evil.example)\x00\x0b\x7f\x9b2J\ufffe"
)
RAW_HTML = ("<script>", "<img", "onerror=alert(2)>")


def _stream(model: str) -> bytes:
    chunk = {"id": "r", "model": model, "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    end = {
        "id": "r",
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    return sse([json.dumps(chunk).encode(), json.dumps(end).encode(), b"[DONE]"])


def _hostile(seen: Seen, number: int) -> bytes:
    """/models lists the hostile id; every other request fails with a hostile error body,
    every third succeeds."""
    if seen.target.endswith("/models"):
        return response(200, json.dumps({"data": [{"id": HOSTILE}]}).encode())
    if seen.target.endswith("/metrics"):
        return response(
            200,
            b"vllm:num_requests_running NaN\nvllm:num_requests_waiting +Inf\n"
            b"vllm:kv_cache_usage_perc -Inf\n",
            "text/plain",
        )
    if number % 3 == 1:
        return _stream(HOSTILE)
    error = {"error": {"message": HOSTILE + " " + "x" * 5000, "type": HOSTILE}}
    return response(400, json.dumps(error).encode())


def _check_terminal(text: str) -> None:
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    assert "\x00" not in text and "\x0b" not in text
    assert not any(line.startswith("# fake") for line in text.splitlines())


def _check_markdown(text: str) -> None:
    for raw in RAW_HTML:
        assert raw not in text
    assert "](http" not in text  # no live link
    assert not any(line.lstrip("> ").startswith("# fake") for line in text.splitlines())
    assert "\x1b" not in text and "\x00" not in text
    # every table row keeps its column count: a `|` from outside is escaped
    for table in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
        rows = table.strip().splitlines()
        counts = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(counts) == 1, rows


def _strict_json(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _check_all(paths: dict[str, Path], console: str, summary_md: Path) -> None:
    _check_terminal(console)
    _check_markdown(paths["md"].read_text())
    _check_markdown(summary_md.read_text())
    ET.fromstring(paths["xml"].read_bytes())  # well-formed
    _strict_json(paths["json"].read_text())
    page = paths["html"].read_text()  # the page has its own <script>s: look for the server's
    for raw in ("<script>alert", "<img src=x", "onerror=alert(2)>"):
        assert raw not in page
    assert "\x1b" not in page
    for path in paths.values():  # every outside text is capped, never copied whole
        assert "x" * 600 not in path.read_text()


def test_hostile_server_texts_are_escaped_in_every_output(tmp_path: Path) -> None:
    paths = output_paths(tmp_path)
    step = tmp_path / "step.md"
    with RawServer(_hostile) as srv:
        res = run_cli(
            "--base-url", f"{srv.url}/v1", "-n", "6", "-c", "1", "--retries", "0",
            "--server-metrics", "auto", "--scrape-interval", "0.2", *output_flags(paths),
            "-o", str(tmp_path / "run.jsonl"),
            env={"GITHUB_STEP_SUMMARY": str(step)},
        )  # fmt: skip
    assert "Traceback" not in res.stderr
    assert res.code in (0, 3), res.stderr
    _check_terminal(res.stderr)
    _check_all(paths, res.stdout, step)
    doc = _strict_json(paths["json"].read_text())
    assert isinstance(doc, dict) and doc["requests"]["failed"] >= 1
    # the model id is kept as data in JSON (escaped only as JSON), flattened on the terminal
    assert doc["target"]["model"] == HOSTILE
    assert "model red]0;pwned?" not in res.stdout  # no OSC remains
    assert "# fake heading <script>" in res.stdout  # shown flat, inert on a terminal


def test_report_of_a_file_with_a_huge_hostile_error_message(tmp_path: Path) -> None:
    results = tmp_path / "run.jsonl"
    with RawServer(_hostile) as srv:
        res = run_cli(
            "--base-url", f"{srv.url}/v1", "-n", "3", "--retries", "0", "-o", str(results), "-q"
        )  # fmt: skip
    assert "Traceback" not in res.stderr
    lines = results.read_text().splitlines()
    huge = HOSTILE + "y" * 2_000_000  # a 2 MB message, as a hostile file may hold
    edited = []
    for line in lines:
        obj = json.loads(line)
        if obj.get("type") == "request" and obj.get("error_kind"):
            obj["error_message"] = huge
        edited.append(json.dumps(obj))
    results.write_text("\n".join(edited) + "\n")
    paths = output_paths(tmp_path)
    step = tmp_path / "step.md"
    rep = run_cli(
        "report", str(results), *output_flags(paths), env={"GITHUB_STEP_SUMMARY": str(step)}
    )
    assert "Traceback" not in rep.stderr and rep.code == 0, rep.stderr
    _check_all(paths, rep.stdout, step)
    for path in (*paths.values(), step):
        assert "y" * 600 not in path.read_text()
    assert len(rep.stdout) < 20_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[1;31mbold\x1b[0m", "bold"),
        ("a\nb\tc", "a b c"),
        ("\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x9b31mc1", "c1"),
        ("bidi\u202eevil", "bidi?evil"),
    ],
)
def test_terminal_removes_escapes_and_control(text: str, expected: str) -> None:
    assert outbound.terminal(text) == expected


def test_markdown_escapes_html_headings_tables_code_and_links() -> None:
    assert outbound.markdown("# h") == "\\# h"
    assert outbound.markdown("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    assert outbound.markdown("a|b") == "a\\|b"
    assert outbound.markdown("`c`") == "\\`c\\`"
    assert outbound.markdown("[a](http://e)") == "\\[a\\]\\(http\\://e\\)"
    assert outbound.markdown("- item") == "\\- item"
    assert outbound.markdown("1. item") == "1\\. item"
    assert outbound.markdown("1 item") == "1 item"


def test_xml_drops_what_xml_forbids_and_the_document_parses() -> None:
    text = "ok\x00\x01\x08\x0b\x0c\x0e\x1f\ud800\udfff\ufffe\uffff<&>\"'\t\n\r"
    clean = outbound.xml(text)
    element = ET.Element("p", value=clean)
    element.text = clean
    parsed = ET.fromstring(ET.tostring(element, encoding="unicode"))
    assert parsed.text is not None and parsed.text.startswith("ok<&>")


def test_json_is_strict() -> None:
    doc = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": {"d": math.nan}}
    assert json.loads(outbound.json_dumps(doc)) == {
        "a": None,
        "b": [None, None, 1.5],
        "c": {"d": None},
    }


def test_every_escaper_caps_its_text() -> None:
    big = "z" * 10_000
    for escape in (outbound.terminal, outbound.markdown, outbound.html, outbound.xml):
        out = escape(big)
        assert len(out) <= outbound.EXCERPT_LIMIT and out.endswith("...")


def test_report_of_a_file_with_hostile_header_and_footer_fields(
    tmp_path: Path, instant_mock_url: str
) -> None:
    """Every text a results file holds (version, start, model, endpoint, load, the signal
    that interrupted it) is outside text to `report`."""
    results = tmp_path / "run.jsonl"
    res = run_cli("--base-url", instant_mock_url, "-n", "2", "-o", str(results), "-q")
    assert res.code == 0, res.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    header, footer = lines[0], lines[-1]
    header.update(version=HOSTILE, started_at=HOSTILE, load=HOSTILE)
    header["target"] = {"endpoint": HOSTILE, "api": HOSTILE, "model": HOSTILE}
    footer["interrupted_by"] = HOSTILE
    results.write_text("\n".join(json.dumps(obj) for obj in [header, *lines[1:-1], footer]))
    paths = output_paths(tmp_path)
    step = tmp_path / "step.md"
    rep = run_cli(
        "report", str(results), *output_flags(paths), env={"GITHUB_STEP_SUMMARY": str(step)}
    )
    assert "Traceback" not in rep.stderr and rep.code == 0, rep.stderr
    _check_all(paths, rep.stdout, step)
    assert "interrupted by red" in rep.stdout
