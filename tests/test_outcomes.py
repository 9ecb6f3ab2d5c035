"""Check the answer, not only the status (docs/outcomes.md): through the command line, against
raw-socket servers written here, a 2xx counts as ok only when its stream or body ended with a
finish reason from the model asked for; whatever else it was is counted apart and named."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, run_cli
from rawserver import RawServer, Seen, response

Post = Callable[[Seen, int], bytes]


def _stream(events: list[bytes | dict[str, Any]]) -> bytes:
    """A 200 event stream: dicts as JSON `data:` events, bytes as they are (`[DONE]`…)."""
    body = b""
    for event in events:
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        body += b"data: " + data + b"\n\n"
    return response(200, body, "text/event-stream")


def _chat(model: str | None = "gpt-4o", finish: str | None = "stop", text: str = "hi") -> bytes:
    """A chat stream: one content chunk, one chunk with `finish` (None: left out), [DONE]."""
    named = {} if model is None else {"model": model}
    first = {"id": "c1", **named, "choices": [{"index": 0, "delta": {"content": text}}]}
    last = {"id": "c1", **named, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    return _stream([first, last, b"[DONE]"] if text else [last, b"[DONE]"])


@contextmanager
def _server(post: Post, models: tuple[str, ...] = ("gpt-4o",)) -> Iterator[str]:
    """A raw server: GET answers the model list, POST `post(request, n)` with n counting the
    POSTs from 0. Yields the base URL (…/v1)."""
    lock = threading.Lock()
    posts = [0]

    def handler(seen: Seen, _number: int) -> bytes:
        if seen.method == "GET":
            listed = {"object": "list", "data": [{"id": m, "object": "model"} for m in models]}
            return response(200, json.dumps(listed).encode())
        with lock:
            n = posts[0]
            posts[0] += 1
        return post(seen, n)

    with RawServer(handler) as srv:
        yield f"{srv.url}/v1"


def _run(base_url: str, tmp: Path, *args: str, n: int = 4) -> tuple[CliResult, dict[str, Any]]:
    """Run the CLI (one request at a time, no retries) and read its summary JSON."""
    out = tmp / "summary.json"
    result = run_cli(
        "--base-url", base_url, "-n", str(n), "--retries", "0", "--json", str(out), *args
    )
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(out.read_text()) if out.exists() else {}
    return result, document


def _codes(document: dict[str, Any]) -> dict[str, int]:
    return {w["code"]: w["count"] for w in document["notices"]}


# ---------------------------------------------------------------------------------------------
# incomplete: the stream ended without a finish reason


def test_a_stream_cut_short_with_done_is_incomplete_and_counted_apart(tmp: Path) -> None:
    """llama-cpp-python's shape: the stream stops and still ends with [DONE], no finish."""
    with _server(lambda _s, n: _chat(finish=None if n % 2 else "stop")) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o")
        gated, _ = _run(url, tmp, "-m", "gpt-4o", "--fail-if", "incomplete_rate<1%")
    assert result.code == 0, result.stderr  # some requests succeeded: the run is usable
    assert doc["requests"]["ok"] == 2 and doc["requests"]["failed"] == 2
    assert doc["errors"] == {"incomplete": 2}
    assert doc["incomplete_rate"] == 50.0
    assert _codes(doc) == {"incomplete": 2}
    assert doc["answers"]["finish_reasons"] == {"stop": 2}
    detail = doc["error_details"][0]["first_message"]
    assert detail == "the stream ended with [DONE] but no finish reason"
    lines = [line for line in result.stdout.splitlines() if "without a finish reason" in line]
    assert lines == [
        "!! 2 of 4 requests ended without a finish reason (incomplete: cut short "
        "by the server); not counted as ok"
    ]
    assert gated.code == 1  # the gate judges the incomplete rate
    assert "FAIL incomplete_rate<1%" in gated.stdout or "FAIL" in gated.stdout


@pytest.mark.parametrize(
    "reply",
    [
        # the body ends cleanly with neither a finish reason nor [DONE]
        _stream([{"model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "hi"}}]}]),
        # the server gave up on the answer (vLLM / SGLang)
        _chat(finish="abort"),
        # only a usage chunk, then [DONE]
        _stream([{"model": "gpt-4o", "choices": [], "usage": {"completion_tokens": 1}}, b"[DONE]"]),
    ],
    ids=["no-finish-no-done", "abort", "usage-only"],
)
def test_every_stream_without_a_real_finish_is_incomplete(reply: bytes, tmp: Path) -> None:
    with _server(lambda _s, _n: reply) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", n=2)
    assert result.code == 3  # every request failed: the target is unusable
    assert doc["errors"] == {"incomplete": 2}
    assert "every request failed; incomplete (2)" in result.stderr + result.stdout


def test_a_whole_body_without_finish_reason_is_incomplete(tmp: Path) -> None:
    def post(_seen: Seen, n: int) -> bytes:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": "hi"}}
        if n % 2 == 0:
            choice["finish_reason"] = "length"
        body = {"id": "c", "model": "gpt-4o", "choices": [choice]}
        return response(200, json.dumps(body).encode())

    with _server(post) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "--no-stream")
    assert result.code == 0, result.stderr
    assert doc["requests"]["ok"] == 2 and doc["errors"] == {"incomplete": 2}
    assert doc["answers"]["finish_reasons"] == {"length": 2}
    assert doc["error_details"][0]["first_message"] == "the answer ended without a finish reason"


# ---------------------------------------------------------------------------------------------
# wrong_model: the model that answered


def test_another_model_answering_is_wrong_model_with_counts(tmp: Path) -> None:
    with _server(lambda _s, _n: _chat(model="tiny-llama")) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o")
        accepted, accepted_doc = _run(url, tmp, "-m", "gpt-4o", "--accept-model", "Tiny-Llama")
        anyone, any_doc = _run(url, tmp, "-m", "gpt-4o", "--accept-model", "any")
    assert result.code == 3  # every request answered by another model
    assert doc["requests"]["ok"] == 0 and doc["errors"] == {"wrong_model": 4}
    assert doc["answers"]["served_models"] == {"tiny-llama": 4}
    assert doc["wrong_model_rate"] == 100.0
    warning = (
        "!! 4 of 4 requests answered by another model than 'gpt-4o': tiny-llama 4; "
        "not counted as ok (--accept-model NAME accepts one)"
    )
    assert warning in result.stdout.splitlines()
    assert "Served by:        tiny-llama 4" in result.stdout
    assert accepted.code == 0 and accepted_doc["requests"]["ok"] == 4, accepted.stdout
    assert anyone.code == 0 and any_doc["requests"]["ok"] == 4
    assert any_doc["notices"] == []


def test_only_some_requests_from_another_model(tmp: Path) -> None:
    with _server(lambda _s, n: _chat(model="gpt-4o" if n < 3 else "other")) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "--fail-if", "wrong_model_rate<=0")
    assert result.code == 1  # the gate failed; the run itself was usable
    assert doc["answers"]["served_models"] == {"gpt-4o": 3, "other": 1}
    assert _codes(doc) == {"wrong_model": 1}


@pytest.mark.parametrize(
    "served",
    ["gpt-4o-2024-08-06", "openai/gpt-4o", "GPT-4o", "gpt-4o-latest", "gpt-4o@20240806", None],
)
def test_a_snapshot_prefix_or_no_name_is_the_same_model(served: str | None, tmp: Path) -> None:
    with _server(lambda _s, _n: _chat(model=served)) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", n=2)
    assert result.code == 0, result.stdout
    assert doc["requests"]["ok"] == 2 and doc["notices"] == []
    assert doc["answers"]["served_models"] == ({served: 2} if served else {})


def _changing_model(api: str, later: str) -> bytes:
    """A stream of `api` whose first event names gpt-4o and whose final one names `later`."""
    if api == "responses":
        made = {"id": "r", "model": "gpt-4o", "status": "in_progress"}
        done = {"id": "r", "model": later, "status": "completed"}
        return _stream(
            [
                {"type": "response.created", "response": made},
                {"type": "response.output_text.delta", "delta": "hi"},
                {"type": "response.completed", "response": done},
            ]
        )
    first = {"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "text": "hi"}]}
    last = {"id": "c", "model": later, "choices": [{"index": 0, "finish_reason": "stop"}]}
    if api == "chat":
        first["choices"] = [{"index": 0, "delta": {"content": "hi"}}]
    return _stream([first, last, b"[DONE]"])


@pytest.mark.parametrize("api", ["chat", "completions", "responses"])
def test_a_model_that_changes_mid_stream_is_judged_by_the_other_name(api: str, tmp: Path) -> None:
    """The first event names the model asked for, a later one another: wrong_model; a later
    snapshot of the same name is still the same model."""
    with _server(
        lambda _s, n: _changing_model(api, "evil" if n % 2 else "gpt-4o-2024-08-06")
    ) as url:
        _result, doc = _run(url, tmp, "-m", "gpt-4o", "--api", api, n=4)
    assert doc["errors"] == {"wrong_model": 2}, doc["error_details"]
    assert doc["requests"]["ok"] == 2
    assert doc["answers"]["served_models"]["evil"] == 2


@pytest.mark.parametrize("served", ["gpt-4o-mini", "gpt-4", "gpt-4o-2024-08-06-mini"])
def test_a_different_name_is_another_model(served: str, tmp: Path) -> None:
    with _server(lambda _s, _n: _chat(model=served)) as url:
        _result, doc = _run(url, tmp, "-m", "gpt-4o", n=1)
    assert doc["errors"] == {"wrong_model": 1}


def test_a_hostile_model_name_is_bounded_and_printable(tmp: Path) -> None:
    served = "evil\x1b[31m\n" + "x" * 5000
    with _server(lambda _s, _n: _chat(model=served)) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "-o", str(tmp / "r.jsonl"), n=1)
    (name,) = doc["answers"]["served_models"]
    assert len(name) <= 201 and "\x1b" not in name and "\n" not in name
    assert "\x1b" not in result.stdout
    line = [json.loads(x) for x in (tmp / "r.jsonl").read_text().splitlines()][1]
    assert line["model"] == name and line["error_kind"] == "wrong_model"


# ---------------------------------------------------------------------------------------------
# stream terminators: [DONE] after any API's final event


def _responses_stream(done: bool, completed: bool = True, after: bytes = b"") -> bytes:
    response_obj = {"id": "resp_1", "model": "gpt-4o", "status": "in_progress"}
    events: list[bytes | dict[str, Any]] = [
        {"type": "response.created", "response": response_obj},
        {"type": "response.output_text.delta", "delta": "hi"},
    ]
    if completed:
        final = {**response_obj, "status": "completed", "usage": {"output_tokens": 1}}
        events.append({"type": "response.completed", "response": final})
    if after:
        events.append(after)
    if done:
        events.append(b"[DONE]")
    return _stream(events)


def _messages_stream(done: bool) -> bytes:
    events: list[bytes | dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "gpt-4o", "usage": {}}},
        {"type": "ping"},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {}},
        {"type": "message_stop"},
    ]
    return _stream([*events, b"[DONE]", b""] if done else events)


def _completions_stream() -> bytes:
    chunk = {"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "text": "hi"}]}
    end = {
        "id": "c",
        "model": "gpt-4o",
        "choices": [{"index": 0, "text": "", "finish_reason": "length"}],
    }
    return _stream([chunk, end, b"", b"[DONE]", b"[DONE]"])


@pytest.mark.parametrize(
    ("api", "reply", "finish"),
    [
        ("responses", _responses_stream(done=True), "completed"),
        ("responses", _responses_stream(done=False), "completed"),
        ("messages", _messages_stream(done=True), "max_tokens"),
        ("messages", _messages_stream(done=False), "max_tokens"),
        ("completions", _completions_stream(), "length"),
    ],
    ids=["responses-done", "responses", "messages-done", "messages", "completions-done"],
)
def test_done_after_the_final_event_is_accepted_by_every_api(
    api: str, reply: bytes, finish: str, tmp: Path
) -> None:
    """LiteLLM ends every stream with the chat-style `data: [DONE]`."""
    with _server(lambda _s, _n: reply) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "--api", api, n=2)
    assert result.code == 0, result.stdout + result.stderr
    assert doc["requests"]["ok"] == 2, doc["error_details"]
    assert doc["answers"] == {"finish_reasons": {finish: 2}, "served_models": {"gpt-4o": 2}}


def test_a_responses_stream_with_done_but_no_completed_event_is_incomplete(tmp: Path) -> None:
    with _server(lambda _s, _n: _responses_stream(done=True, completed=False)) as url:
        _result, doc = _run(url, tmp, "-m", "gpt-4o", "--api", "responses", n=1)
    assert doc["errors"] == {"incomplete": 1}


def test_output_after_the_final_event_is_a_bad_stream(tmp: Path) -> None:
    late = json.dumps({"type": "response.output_text.delta", "delta": "late"}).encode()
    with _server(lambda _s, _n: _responses_stream(done=True, after=late)) as url:
        _result, doc = _run(url, tmp, "-m", "gpt-4o", "--api", "responses", n=1)
    assert doc["errors"] == {"bad_stream": 1}
    assert doc["error_details"][0]["first_message"] == "output after the stream's final event"


def test_an_error_event_after_the_final_event_still_fails(tmp: Path) -> None:
    error = json.dumps({"error": {"message": "upstream died"}}).encode()
    reply = _stream(
        [
            {"model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "hi"}}]},
            {"model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            b"[DONE]",
            error,
        ]
    )
    with _server(lambda _s, _n: reply) as url:
        _result, doc = _run(url, tmp, "-m", "gpt-4o", n=1)
    assert doc["errors"] == {"bad_stream": 1}
    assert "upstream died" in doc["error_details"][0]["first_message"]


# ---------------------------------------------------------------------------------------------
# 404 on a path the server does not have


def test_a_404_on_the_path_while_models_lists_the_model_names_the_url(tmp: Path) -> None:
    def post(_seen: Seen, _n: int) -> bytes:
        return response(404, b'{"detail":"Not Found"}')

    with _server(post, models=("tiny-llama",)) as url:
        result, _doc = _run(url, tmp, "-m", "tiny-llama", "--api", "responses", n=2)
        missing, _ = _run(url, tmp, "-m", "gpt-4o", n=1)
    assert result.code == 3
    assert f"{url}/responses returned 404 (HTTP 404)" in result.stderr
    assert f"{url}/models lists model 'tiny-llama'" in result.stderr
    assert "--api" in result.stderr and "--endpoint" in result.stderr
    assert "not found; available" not in result.stderr
    assert missing.code == 3
    assert "model 'gpt-4o' not found; available: tiny-llama" in missing.stderr


# ---------------------------------------------------------------------------------------------
# embeddings


def _embeddings(vectors: list[Any], model: str = "e5") -> bytes:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    body = {"object": "list", "model": model, "data": data, "usage": {"prompt_tokens": 64}}
    return response(200, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        (
            [[[0.1, 0.2], [0.3, 0.4]]] * 4,
            "embedding 0 is a list of lists (one vector per token?), not one flat vector",
        ),
        ([[0.1, 0.2]] * 3, "expected 4 embeddings, got 3"),
        ([[0.1, 0.2]] * 3 + [[]], "embedding 3 is an empty list, not a list of numbers"),
        ([[0.1, 0.2]] * 3 + [[0.1, "x"]], "embedding 3 is not all numbers, not one flat vector"),
        ([[0.1, 0.2]] * 3 + [[0.1, 0.2, 0.3]], "embeddings differ in length: 2 and 3 (item 3)"),
        ([[0.1, 0.2]] * 3 + [{"v": 1}], "embedding 3 is a dict, not a list of numbers"),
        ([[0.1, 0.2]] * 3 + [[True, False]], "embedding 3 is not all numbers, not one flat vector"),
    ],
    ids=["per-token", "count", "empty", "text", "lengths", "object", "bools"],
)
def test_embeddings_that_are_not_one_flat_vector_per_input_are_bad(
    vectors: list[Any], message: str, tmp: Path
) -> None:
    with _server(lambda _s, _n: _embeddings(vectors)) as url:
        result, doc = _run(url, tmp, "-m", "e5", "--api", "embeddings", "--batch", "4", n=1)
    assert result.code == 3
    assert doc["errors"] == {"bad_stream": 1}
    assert doc["error_details"][0]["first_message"] == message


def test_non_finite_embedding_numbers_are_bad(tmp: Path) -> None:
    body = b'{"data":[{"embedding":[0.1,NaN]}],"model":"e5"}'
    with _server(lambda _s, _n: response(200, body)) as url:
        _result, doc = _run(url, tmp, "-m", "e5", "--api", "embeddings", n=1)
    assert doc["error_details"][0]["first_message"] == "embedding 0 holds a non-finite number"


def test_embeddings_count_input_tokens_per_input_and_show_only_their_settings(tmp: Path) -> None:
    with _server(lambda _s, _n: _embeddings([[0.5, 0.25]] * 4)) as url:
        result, doc = _run(
            url, tmp, "-m", "e5", "--api", "embeddings", "--batch", "4", "--input-tokens", "16"
        )
    assert result.code == 0, result.stdout
    assert doc["requests"]["ok"] == 4 and doc["notices"] == []
    assert "Input tokens:     16.0 per input (server's count; asked for ~16)" in result.stdout
    header = result.stdout.splitlines()[1]
    assert "embeddings" in header and "max_tokens" not in header and "stream" not in header
    assert "Output tokens/s" not in result.stdout
    assert "Finish reasons" not in result.stdout
    assert doc["answers"]["served_models"] == {"e5": 4}
    assert doc["embeddings"]["input_tokens_per_input"] == 16.0


# ---------------------------------------------------------------------------------------------
# warnings on successes: short under --ignore-eos, no output


def test_short_outputs_under_ignore_eos_and_empty_outputs_are_one_line_each(tmp: Path) -> None:
    def post(_seen: Seen, n: int) -> bytes:
        if n == 0:
            return _chat(finish="length")
        return _chat(finish="stop", text="" if n == 1 else "hi")

    with _server(post) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "--ignore-eos", "--max-tokens", "32")
    assert result.code == 0, result.stdout
    assert doc["requests"]["ok"] == 4
    assert _codes(doc) == {"short_output": 3, "empty_output": 1}
    lines = result.stdout.splitlines()
    assert (
        "!! 3 of 4 ok requests stopped before max_tokens (32) despite --ignore-eos "
        "(finish reason stop 3)" in lines
    )
    assert "!! 1 of 4 ok requests returned no output tokens" in lines
    assert sum("ok requests" in line for line in lines) == 2


# ---------------------------------------------------------------------------------------------
# the results file


def test_the_results_file_carries_the_answer_and_old_files_still_report(tmp: Path) -> None:
    results = tmp / "r.jsonl"
    with _server(lambda _s, n: _chat(finish="stop" if n else None)) as url:
        _run(url, tmp, "-m", "gpt-4o", "-o", str(results), n=2)
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    requests = sorted((x for x in lines if x["type"] == "request"), key=lambda x: x["index"])
    assert {(r["finish_reason"], r["model"], r["error_kind"]) for r in requests} == {
        (None, "gpt-4o", "incomplete"),
        ("stop", "gpt-4o", None),
    }
    assert all(r["response_id"] == "c1" for r in requests)
    again = run_cli("report", str(results), "--json", str(tmp / "again.json"))
    assert again.code == 0, again.stderr
    doc = json.loads((tmp / "again.json").read_text())
    assert doc["errors"] == {"incomplete": 1} and _codes(doc) == {"incomplete": 1}
    assert doc["answers"]["served_models"] == {"gpt-4o": 2}

    old = tmp / "old.jsonl"  # a file written before these fields existed
    kept = []
    for line in lines:
        line.pop("finish_reason", None)
        line.pop("model", None)
        if line.get("error_kind") == "incomplete":
            line["error_kind"] = None
            line["error_message"] = None
        kept.append(json.dumps(line))
    old.write_text("\n".join(kept) + "\n")
    report = run_cli("report", str(old), "--json", str(tmp / "old.json"))
    assert report.code == 0, report.stderr
    old_doc = json.loads((tmp / "old.json").read_text())
    assert old_doc["requests"]["ok"] == 2 and old_doc["notices"] == []
    assert old_doc["answers"] == {"finish_reasons": {}, "served_models": {}}


# ---------------------------------------------------------------------------------------------
# the built-in mock keeps every default run ok


@pytest.mark.parametrize(
    ("api", "stream", "finish"),
    [
        ("chat", True, "stop"),
        ("chat", False, "stop"),
        ("completions", True, "stop"),
        ("completions", False, "stop"),
        ("responses", True, "completed"),
        ("responses", False, "completed"),
        ("messages", True, "end_turn"),
        ("messages", False, "end_turn"),
        ("embeddings", False, None),
    ],
)
def test_the_mock_answers_every_api_with_a_finish_reason_and_its_model(
    api: str, stream: bool, finish: str | None, instant_mock_url: str, tmp: Path
) -> None:
    args = ["--api", api, "-c", "2"] + ([] if stream else ["--no-stream"])
    result, doc = _run(instant_mock_url, tmp, *args, n=6)
    assert result.code == 0, result.stdout + result.stderr
    assert doc["requests"]["ok"] == 6 and doc["notices"] == []
    assert doc["answers"]["served_models"] == {"mock-model": 6}
    assert doc["answers"]["finish_reasons"] == ({finish: 6} if finish else {})


# ---------------------------------------------------------------------------------------------
# whole bodies of every API


def _body(api: str, finish: bool) -> bytes:
    """A whole response of `api` that names its finish reason, or leaves it out."""
    if api == "responses":
        text = {"type": "output_text", "text": "hi"}
        obj: dict[str, Any] = {
            "id": "resp_1",
            "model": "gpt-4o",
            "output": [{"type": "message", "content": [text]}],
        }
        if finish:
            obj |= {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}
    elif api == "messages":
        obj = {"id": "msg_1", "model": "gpt-4o", "content": [{"type": "text", "text": "hi"}]}
        if finish:
            obj["stop_reason"] = "max_tokens"
    else:
        choice: dict[str, Any] = {"index": 0, "text": "hi"}
        if finish:
            choice["finish_reason"] = "length"
        obj = {"id": "c", "model": "gpt-4o", "choices": [choice]}
    return response(200, json.dumps(obj).encode())


@pytest.mark.parametrize(
    ("api", "finish"),
    [
        ("completions", "length"),
        ("responses", "incomplete:max_output_tokens"),
        ("messages", "max_tokens"),
    ],
)
def test_whole_bodies_of_every_api_need_their_finish_reason(
    api: str, finish: str, tmp: Path
) -> None:
    with _server(lambda _s, n: _body(api, finish=n % 2 == 0)) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "--api", api, "--no-stream", "--ignore-eos")
    assert result.code == 0, result.stdout
    assert doc["requests"]["ok"] == 2 and doc["errors"] == {"incomplete": 2}
    assert doc["answers"]["finish_reasons"] == {finish: 2}
    assert _codes(doc) == {"incomplete": 2}  # the token limit's reason is not short


def test_markdown_junit_and_html_carry_the_same_warning_lines(tmp: Path) -> None:
    markdown, junit, page = tmp / "r.md", tmp / "r.xml", tmp / "r.html"
    served = "tiny|<b>llama"
    with _server(lambda _s, n: _chat(model="gpt-4o" if n else served)) as url:
        outputs = ["--markdown", str(markdown), "--junit", str(junit), "--html", str(page)]
        result, doc = _run(url, tmp, "-m", "gpt-4o", *outputs, n=2)
    (notice,) = doc["notices"]
    assert notice["code"] == "wrong_model" and f"{served} 1" in notice["text"]
    assert f"!! {notice['text']}" in result.stdout.splitlines()
    text = markdown.read_text()
    assert "**Served by:** gpt-4o 1, tiny\\|&lt;b&gt;llama 1" in text
    assert "> ⚠️ 1 of 2 requests answered by another model than 'gpt-4o'\\: tiny\\|&lt;b&gt;" in text
    assert "<b>llama" not in text
    assert f"warning: {notice['text']}" in ET.parse(junit).getroot().find(".//system-out").text
    html_text = page.read_text()
    assert "tiny|&lt;b&gt;llama 1" in html_text and "<b>llama" not in html_text


def test_comparing_embeddings_runs_ignores_output_settings(
    instant_mock_url: str, tmp: Path
) -> None:
    """max_tokens and streaming do not apply to embeddings: not a difference between runs."""
    runs = []
    for name, extra in (
        ("a", ["--max-tokens", "16"]),
        ("b", ["--max-tokens", "64", "--no-stream"]),
    ):
        path = tmp / f"{name}.jsonl"
        args = ["--base-url", instant_mock_url, "--api", "embeddings", "-n", "4", "-o", str(path)]
        result = run_cli(*args, *extra)
        assert result.code == 0, result.stderr
        runs.append(str(path))
    compared = run_cli("compare", *runs, "--strict")
    assert "max tokens" not in compared.stdout and "streaming" not in compared.stdout
    assert compared.code == 0, compared.stdout + compared.stderr


def test_an_azure_deployment_answers_with_the_model_behind_it(tmp: Path) -> None:
    with _server(lambda _s, _n: _chat(model="gpt-4o-2024-08-06")) as url:
        host = url.removesuffix("/v1")
        endpoint = f"{host}/openai/deployments/prod/chat/completions?api-version=2024-10-21"
        result, doc = _run(url, tmp, "--endpoint", endpoint, "-m", "prod", n=2)
    assert result.code == 0, result.stdout + result.stderr
    assert doc["requests"]["ok"] == 2 and doc["notices"] == []
    assert doc["answers"]["served_models"] == {"gpt-4o-2024-08-06": 2}


def test_a_sweep_names_each_levels_warnings(tmp: Path) -> None:
    markdown = tmp / "s.md"
    with _server(lambda _s, n: _chat(finish="stop" if n % 2 else None)) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "-c", "1,2", "--markdown", str(markdown))
    assert result.code == 0, result.stdout + result.stderr
    levels = doc["levels"]
    assert [level["errors"] for level in levels] == [{"incomplete": 2}] * 2
    labels = [level["level"]["label"] for level in levels]
    for label in labels:
        line = f"!! {label}: 2 of 4 requests ended without a finish reason"
        assert any(x.startswith(line) for x in result.stdout.splitlines()), result.stdout
        expected = f"> ⚠️ {label}\\: 2 of 4 requests ended without a finish reason"
        assert expected in markdown.read_text()


@pytest.mark.parametrize(
    "tail",
    [b"\n\n", b"", b"\n\n: keep-alive\n\ndata:\n\n"],
    ids=["closed-after-finish", "unterminated-last-event", "keep-alives-after"],
)
def test_a_finish_reason_without_done_is_complete(tail: bytes, tmp: Path) -> None:
    first = {"model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    last = {"model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    body = b"data: " + json.dumps(first).encode() + b"\n\ndata: " + json.dumps(last).encode()
    reply = response(200, body + tail, "text/event-stream")
    with _server(lambda _s, _n: reply) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", n=2)
    assert result.code == 0, result.stdout + result.stderr
    assert doc["requests"]["ok"] == 2 and doc["answers"]["finish_reasons"] == {"stop": 2}


def test_hostile_finish_reasons_and_names_stay_bounded(tmp: Path) -> None:
    """A server inventing a long, control-laden finish reason and a new model name for every
    answer: each name is cut and made printable, and the tallies keep at most 50 names."""

    def post(_seen: Seen, n: int) -> bytes:
        return _chat(model=f"gpt-4o-{n:03d}x", finish="\x1b[2J" + "s" * 5000)

    with _server(post) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "-c", "4", "--accept-model", "any", n=60)
    assert result.code == 0, result.stdout + result.stderr
    (reason,) = doc["answers"]["finish_reasons"]
    assert reason.startswith("?[2Jsss") and len(reason) <= 65
    models = doc["answers"]["served_models"]
    assert len(models) == 51 and models["(other)"] == 10 and sum(models.values()) == 60
    assert "\x1b" not in result.stdout
    served = next(x for x in result.stdout.splitlines() if x.startswith("  Served by:"))
    assert served.endswith(", and 41 more (41)") and len(served) < 300


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("failed", "the answer ended with finish reason 'failed'"),
        ("cancelled", "the answer ended with finish reason 'cancelled'"),
        ("in_progress", "the stream ended with its final event but no finish reason"),
        ("queued", "the stream ended with its final event but no finish reason"),
    ],
)
def test_a_responses_completed_event_whose_response_did_not_finish_is_incomplete(
    status: str, message: str, tmp: Path
) -> None:
    """`response.completed` carries the response: its own `status` is what happened."""
    made = {"id": "r", "model": "gpt-4o", "status": "in_progress"}
    events: list[bytes | dict[str, Any]] = [
        {"type": "response.created", "response": made},
        {"type": "response.output_text.delta", "delta": "hi"},
        {"type": "response.completed", "response": {**made, "status": status}},
    ]
    with _server(lambda _s, _n: _stream(events)) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", "--api", "responses", n=2)
    assert result.code == 3, result.stderr
    assert doc["errors"] == {"incomplete": 2}
    assert doc["error_details"][0]["first_message"] == message


@pytest.mark.parametrize("finish", ["cancelled", "canceled", "failed", "Error", "ABORT"])
def test_a_finish_reason_saying_the_server_gave_up_is_incomplete(finish: str, tmp: Path) -> None:
    with _server(lambda _s, n: _chat(finish=finish if n % 2 else "stop")) as url:
        result, doc = _run(url, tmp, "-m", "gpt-4o", n=4)
    assert result.code == 0, result.stderr  # half succeeded
    assert doc["errors"] == {"incomplete": 2}
    assert doc["answers"]["finish_reasons"] == {"stop": 2, finish: 2}


@pytest.mark.parametrize(
    "name", ["a\x1b[31mb\x07", "m" * 1000, "line\nbreak", "bidi\u202eevil"], ids=repr
)
def test_a_long_or_unprintable_name_echoed_exactly_is_the_same_model(name: str, tmp: Path) -> None:
    """The served name is kept bounded and printable; the name asked for is compared in the
    same form, so a server echoing it exactly is not `wrong_model`."""
    with _server(lambda _s, _n: _chat(model=name), models=(name,)) as url:
        result, doc = _run(url, tmp, "-m", name, n=2)
    assert result.code == 0, result.stderr
    assert doc["requests"]["ok"] == 2 and doc["errors"] == {}
    with _server(lambda _s, _n: _chat(model=name + "x"), models=(name,)) as url:
        _result, doc = _run(url, tmp, "-m", name, n=2)
    if len(name) < 200:  # past the bound, names that differ only there cannot be told apart
        assert doc["errors"] == {"wrong_model": 2}


def test_hostile_names_in_a_results_file_are_shown_inert_by_report(tmp: Path) -> None:
    """A results file edited (or written by another tool) with escape sequences in the
    served model and finish reason: `report` reads them back as the client keeps them,
    bounded and printable, so no escape reaches the terminal or the Markdown."""
    results = tmp / "run.jsonl"
    with _server(lambda _s, _n: _chat()) as url:
        made, _doc = _run(url, tmp, "-m", "gpt-4o", "-o", str(results), n=2)
    assert made.code == 0, made.stderr
    lines = []
    for line in results.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "request":
            record["model"] = "\x1b]0;title\x07<img onerror=x>\n# Heading"
            record["finish_reason"] = "\x1b[2J" + "r" * 500
            record["response_id"] = "\x1b[31m" + "i" * 5000
        lines.append(json.dumps(record))
    results.write_text("\n".join(lines) + "\n")
    markdown = tmp / "r.md"
    res = run_cli("report", str(results), "--markdown", str(markdown))
    assert res.code == 0, res.stderr
    shown = res.stdout + res.stderr + markdown.read_text()
    assert "\x1b" not in shown and "\x07" not in shown
    assert "<img" not in markdown.read_text()
    assert not any(line.startswith("# Heading") for line in shown.splitlines())
    assert "r" * 100 not in shown  # a finish reason is kept as at most 64 characters
