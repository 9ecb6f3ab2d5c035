"""--tools, --tool-choice and --response-format through the CLI against the built-in mock:
the truth log proves what each request asked for and whether the mock's answer was valid,
and each record's outcome must agree, both ways; bad tool files and schemas end in one line
and exit 2 (wire/structured.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import StartMock, run_cli
from hostile import good_reply, hostile_server

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city"],
        },
    },
}
CLOCK = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
REPLY = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"type": "number", "minimum": 0}},
    "required": ["answer", "score"],
    "additionalProperties": False,
}


def _write(path: Path, value: Any) -> Path:
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


def _rows(path: Path, kind: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("type", "request") == kind] if kind else rows


def _run(url: str, tmp: Path, api: str, *flags: str) -> tuple[list[dict[str, Any]], Any]:
    out, summary = tmp / f"{api}.jsonl", tmp / f"{api}.json"
    args = ["run", "--base-url", url, "-m", "mock-model", "--api", api, "-n", "10", "-c", "1"]
    result = run_cli(*args, "-q", "-o", str(out), "--json", str(summary), *flags)
    assert result.code == 0, result.stderr
    return _rows(out, "request"), json.loads(summary.read_text())


def _agree(records: list[dict[str, Any]], log: Path) -> tuple[int, int]:
    """Each record against the mock's own line: a valid answer is a success, an invalid one
    an invalid_output failure. (valid, invalid) counts."""
    truth = {row["id"]: row for row in _rows(log, "")}
    valid = invalid = 0
    for record in records:
        row = truth[record["response_id"]]
        if row["output_valid"]:
            valid += 1
            assert record["error_kind"] is None, record["error_message"]
        else:
            invalid += 1
            assert record["error_kind"] == "invalid_output"
            assert record["error_message"].startswith("invalid output: ")
    return valid, invalid


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_are_validated_both_ways(
    start_mock: StartMock, tmp_path: Path, api: str, stream: bool
) -> None:
    log = tmp_path / "truth.jsonl"
    mock = start_mock(
        ttft_ms=0, itl_ms=1, tokens=6, seed=3, invalid_output_rate=0.5, log_path=str(log)
    )
    tools = _write(tmp_path / "tools.json", [WEATHER, CLOCK])
    flags = ["--tools", str(tools), "--tool-choice", "get_weather"]
    records, summary = _run(
        mock.base_url, tmp_path, api, *flags, *([] if stream else ["--no-stream"])
    )
    valid, invalid = _agree(records, log)
    assert valid and invalid  # both ways, in one seeded run
    assert {row["tool"] for row in _rows(log, "")} == {"get_weather"}  # the named tool
    assert summary["invalid_output_rate"] == pytest.approx(100 * invalid / len(records))
    if api == "chat" and stream:  # the settings line says what was asked, read back too
        report = run_cli("report", str(tmp_path / "chat.jsonl"))
        assert "· 2 tools (get_weather)" in report.stdout
    if stream:  # every tool-call delta is output, the first (which names the tool) too
        assert {r["output_events"] for r in records} == {6}
        assert all(r["first_token_ns"] is not None for r in records)


@pytest.mark.parametrize(
    ("api", "fmt"), [("chat", "schema"), ("responses", "schema"), ("chat", "json")]
)
def test_response_format_is_validated_both_ways(
    start_mock: StartMock, tmp_path: Path, api: str, fmt: str
) -> None:
    log = tmp_path / "truth.jsonl"
    mock = start_mock(
        ttft_ms=0, itl_ms=1, tokens=5, seed=5, invalid_output_rate=0.5, log_path=str(log)
    )
    given = str(_write(tmp_path / "reply.json", REPLY)) if fmt == "schema" else "json"
    records, summary = _run(
        mock.base_url, tmp_path, api, "--response-format", given, "--goodput", "e2e<60s"
    )
    valid, invalid = _agree(records, log)
    assert valid and invalid
    assert {row["output"] for row in _rows(log, "")} == {"json"}
    # a good request is fast and valid: invalid ones are never good
    assert summary["throughput"]["good_fraction"] == pytest.approx(100 * valid / len(records))


def test_the_gate_reads_invalid_output_rate(start_mock: StartMock, tmp_path: Path) -> None:
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=4, seed=3, invalid_output_rate=0.5)
    tools = _write(tmp_path / "tools.json", [WEATHER])
    args = ["run", "--base-url", mock.base_url, "-m", "mock-model", "-n", "6", "-c", "1", "-q"]
    result = run_cli(*args, "--tools", str(tools), "--fail-if", "invalid_output_rate<=0")
    assert result.code == 1
    clean = start_mock(ttft_ms=0, itl_ms=0, tokens=4)
    args[2] = clean.base_url
    result = run_cli(*args, "--tools", str(tools), "--fail-if", "invalid_output_rate<=0")
    assert result.code == 0, result.stderr


@pytest.mark.parametrize(
    ("content", "flags", "says"),
    [
        ({"type": "function"}, [], "expected a non-empty JSON list"),
        ([], [], "expected a non-empty JSON list"),
        ([{"type": "function", "function": {"name": "a b"}}], [], "function.name"),
        ([{"type": "code_interpreter"}], [], '"type": "function"'),
        ([WEATHER, WEATHER], [], "defined twice"),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/x"}}}],
            [],
            "'$ref' is not supported",
        ),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "map"}}}],
            [],
            "type must be one of",
        ),
        ('[{"type": "function", "function": {"name": "f", "x": NaN}}]', [], "not valid JSON"),
        ("[" * 100 + "]" * 100, [], "nested deeper"),
        ("[" + " " * (600 << 10) + "]", [], "at most 512 KiB"),
        ([WEATHER], ["--tool-choice", "nope"], "--tool-choice must be one of"),
        ([WEATHER], ["--api", "completions"], "--tools works with --api"),
    ],
)
def test_malformed_tool_files_end_in_one_line(
    tmp_path: Path, content: Any, flags: list[str], says: str
) -> None:
    tools = _write(tmp_path / "tools.json", content)
    result = run_cli("run", "--mock", "-n", "1", "--tools", str(tools), *flags)
    assert result.code == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "flags", "says"),
    [
        ("[1, 2]", [], "expected a JSON schema object"),
        ({"type": "object", "if": {}}, [], "'if' is not supported"),
        ({"name": "x", "schema": {"type": "object", "required": "a"}}, [], "required must be"),
        ("{", [], "not valid JSON"),
        (REPLY, ["--api", "messages"], "--response-format works with --api chat or responses"),
        (None, ["--tool-choice", "required"], "--tool-choice needs --tools"),
    ],
)
def test_malformed_schemas_end_in_one_line(
    tmp_path: Path, content: Any, flags: list[str], says: str
) -> None:
    given = [] if content is None else ["--response-format", str(_write(tmp_path / "s", content))]
    result = run_cli("run", "--mock", "-n", "1", *given, *flags)
    assert result.code == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _tool_stream(calls: list[dict[str, Any]]) -> bytes:
    """A chat stream of one event holding `calls`, then the finish and [DONE]."""
    events = [
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": calls}}]},
        {
            "id": "c1",
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        },
    ]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return good_reply(body + b"data: [DONE]\n\n")


def _call(arguments: str, name: str = "get_weather", index: int = 0) -> dict[str, Any]:
    return {"index": index, "function": {"name": name, "arguments": arguments}}


def test_hostile_tool_calls_are_invalid_output_not_a_crash(tmp_path: Path) -> None:
    secret = "sk-tools-SECRET-0123456789abcdef"
    strict = {**WEATHER["function"], "parameters": {**REPLY, "additionalProperties": False}}
    tools = _write(tmp_path / "tools.json", [{"type": "function", "function": strict}])
    replies = [
        _tool_stream([_call('{"answer": "a", "score": NaN}')]),
        _tool_stream([_call("[" * 5000 + "]" * 5000)]),
        _tool_stream([_call("{}", index=i) for i in range(1000)]),
        _tool_stream([_call("{}", name="x" * 10_000)]),
        _tool_stream([_call(json.dumps({"answer": "a", "score": 1, secret: 1}))]),
        _tool_stream([_call('{"answer": "a", "score": 1}')]),  # valid
    ]
    out = tmp_path / "r.jsonl"
    with hostile_server(replies) as (url, _):
        args = ["run", "--base-url", url, "-m", "m", "--api-key", secret, "-n", "6", "-c", "1"]
        result = run_cli(*args, "--retries", "0", "-q", "--tools", str(tools), "-o", str(out))
    assert result.code == 0, result.stderr
    records = sorted(_rows(out, "request"), key=lambda r: r["index"])
    kinds = [r["error_kind"] for r in records]
    assert kinds == ["invalid_output"] * 5 + [None]
    messages = [r["error_message"] for r in records[:5]]
    assert "not valid JSON" in messages[0]
    assert "nested deeper than 64 levels" in messages[1]
    assert "128 tool calls" in messages[2]
    assert "unknown tool" in messages[3] and len(messages[3]) < 200
    assert "unexpected property" in messages[4]
    assert secret not in out.read_text() and secret[-16:] not in out.read_text()


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        (
            {
                "tools": (
                    {"type": "function", "function": {"name": "f", "parameters": {"$ref": "x"}}},
                )
            },
            "'$ref' is not supported",
        ),
        ({"tools": ({"function": {}},)}, '"type": "function"'),
        ({"response_format": {"if": {}}}, "'if' is not supported"),
        ({"response_format": "yaml"}, 'must be "json" or a JSON schema'),
        ({"tools": (WEATHER,), "api": "completions"}, "--tools works with --api"),
        ({"tool_choice": "required"}, "--tool-choice needs --tools"),
    ],
)
def test_a_python_api_config_gets_the_same_checks(settings: dict[str, Any], says: str) -> None:
    from llmbench_async.config import RunConfig
    from llmbench_async.errors import ConfigError
    from llmbench_async.loadgen.build import build_workload

    config = RunConfig(model="m", **settings)
    with pytest.raises(ConfigError, match=re.escape(says)):
        build_workload(config)
