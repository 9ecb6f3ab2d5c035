"""wire/diagnosis.py: odd answers named for what they are, through the real command line
against servers written here: an HTML page, a whole completion to a streamed request, a
server error in a 200, and a redirect with the --base-url it implies."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from rawserver import RawServer, response

SECRET = "sk-diagnosis-0001"
WHOLE = json.dumps(
    {
        "id": "c",
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
).encode()


def _run(answer: bytes, tmp_path: Path) -> tuple[int, list[dict[str, object]], str]:
    out = tmp_path / "r.jsonl"
    with RawServer(lambda seen, n: answer) as server:
        done = run_cli(
            "--base-url", server.url, "--model", "m", "--api-key", SECRET, "-n", "2",
            "--retries", "0", "-q", "-o", str(out),
        )  # fmt: skip
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    return done.code, [x for x in lines if x.get("type") == "request"], done.stderr


def test_an_html_page_is_named_as_one(tmp_path: Path) -> None:
    page = f"<!DOCTYPE html><html><body>Sign in {SECRET}</body></html>".encode()
    code, records, stderr = _run(response(200, page, "text/html"), tmp_path)
    assert code == 3  # the target is unusable
    assert {r["error_kind"] for r in records} == {"not_sse"}
    message = str(records[0]["error_message"])
    assert "HTML page" in message and SECRET not in message and SECRET not in stderr


def test_a_whole_completion_to_a_stream_counts_with_a_note(tmp_path: Path) -> None:
    code, records, _ = _run(response(200, WHOLE), tmp_path)
    assert code == 0
    assert all(r["error_kind"] is None for r in records)
    assert all("whole completion" in str(r.get("note")) for r in records)


def test_a_server_error_inside_a_200_is_a_failure(tmp_path: Path) -> None:
    body = json.dumps({"error": {"message": "model overloaded", "type": "server_error"}})
    code, records, _ = _run(response(200, body.encode()), tmp_path)
    assert code == 3
    assert all(r["error_kind"] == "not_sse" for r in records)
    assert "model overloaded" in str(records[0]["error_message"])


def test_a_redirect_says_which_base_url_it_implies(tmp_path: Path) -> None:
    moved = response(
        301, b"", extra="Location: https://api.example.test/openai/v1/chat/completions\r\n"
    )
    code, records, _ = _run(moved, tmp_path)
    assert code == 3
    message = str(records[0]["error_message"])
    assert records[0]["error_kind"] == "redirect"
    assert "not followed" in message
    assert "try --base-url https://api.example.test/openai/v1" in message
