"""The APIs beyond chat: Responses, Anthropic Messages and embeddings, over real loopback
sockets against a scripted server whose own write instants are the truth."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from scripted_server import Received, Reply, scripted, sse

from llmbench_async import RunConfig, run
from llmbench_async.cli.flags import Flags, flags_to_config
from llmbench_async.errors import BadStreamError
from llmbench_async.wire.apis import ANTHROPIC_VERSION, api_spec

GAP = 0.05  # seconds between scripted events
NEAR = 25e6  # ns: the client sees an event within this of its write (half a gap)
KEY = "sk-test-secret-1234"


def _responses_script(got: Received) -> Reply:
    events = [(0.0, sse({"type": "response.created", "response": {"id": "resp_7"}}))]
    events.append((0.0, sse({"type": "response.output_item.added", "item": {}})))
    for word in ("plan", "more"):
        events.append((GAP, sse({"type": "response.reasoning_text.delta", "delta": word})))
    for word in ("Hello", " wide", " world"):
        events.append((GAP, sse({"type": "response.output_text.delta", "delta": word})))
    events.append((0.0, sse({"type": "response.output_text.done", "text": "Hello wide world"})))
    usage = {
        "input_tokens": 11,
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
    }
    done = {"type": "response.completed", "response": {"id": "resp_7", "usage": usage}}
    events.append((0.0, sse(done, "response.completed")))
    return Reply(events)


def test_responses_stream_timing_tokens_and_body() -> None:
    with scripted(_responses_script) as server:
        result = run(
            RunConfig(base_url=server.base_url, api="responses", model="m", n=2, api_key=KEY)
        )
    assert result.summary.ok == 2, result.summary.errors
    got = server.log[0]
    assert got.path == "/v1/responses"
    assert got.headers["authorization"] == f"Bearer {KEY}"
    body = got.json()
    assert body["input"] == [{"role": "user", "content": RunConfig().prompt}]
    assert body["max_output_tokens"] == 128 and body["stream"] is True
    for record, truth in zip(
        sorted(result.records, key=lambda r: r.index), server.log, strict=True
    ):
        # writes: created, item.added, 2 reasoning, 3 text, text.done, completed
        first_reasoning, first_text = truth.writes_ns[2], truth.writes_ns[4]
        assert record.first_token_ns is not None and record.first_content_ns is not None
        assert 0 <= record.first_token_ns - first_reasoning < NEAR  # TTFT: first reasoning
        assert 0 <= record.first_content_ns - first_text < NEAR  # TTFC: first output text
        assert record.output_events == 5 and len(record.token_gaps_ns) == 4
        assert record.output_tokens == 5 and record.token_source == "usage"
        assert record.input_tokens == 11 and record.reasoning_tokens == 2
        assert record.response_id == "resp_7"
        assert all(g >= GAP * 1e9 * 0.9 for g in record.token_gaps_ns)


def _messages_script(got: Received) -> Reply:
    start = {
        "type": "message_start",
        "message": {"id": "msg_9", "usage": {"input_tokens": 9, "output_tokens": 1}},
    }
    events = [(0.0, sse(start, "message_start"))]
    events.append((0.0, sse({"type": "content_block_start", "index": 0}, "content_block_start")))
    events.append((0.0, sse({"type": "ping"}, "ping")))
    thinking = {"type": "content_block_delta", "delta": {"type": "thinking_delta", "thinking": "h"}}
    events.append((GAP, sse(thinking, "content_block_delta")))
    for word in ("Hi", " there", " friend"):
        delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": word}}
        events.append((GAP, sse(delta, "content_block_delta")))
    stop = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    stop["usage"] = {"output_tokens": 4}
    events.append((0.0, sse(stop, "message_delta")))
    events.append((0.0, sse({"type": "message_stop"}, "message_stop")))
    return Reply(events)


def test_messages_stream_headers_timing_and_usage() -> None:
    with scripted(_messages_script) as server:
        result = run(
            RunConfig(base_url=server.base_url, api="messages", model="claude", n=2, api_key=KEY)
        )
    assert result.summary.ok == 2, result.summary.errors
    got = server.log[0]
    assert got.path == "/v1/messages"
    assert got.headers["x-api-key"] == KEY
    assert got.headers["anthropic-version"] == ANTHROPIC_VERSION
    assert "authorization" not in got.headers
    body = got.json()
    assert body["max_tokens"] == 128 and body["messages"][0]["role"] == "user"
    for record, truth in zip(
        sorted(result.records, key=lambda r: r.index), server.log, strict=True
    ):
        first_thinking, first_text = truth.writes_ns[3], truth.writes_ns[4]
        assert record.first_token_ns is not None and record.first_content_ns is not None
        assert 0 <= record.first_token_ns - first_thinking < NEAR
        assert 0 <= record.first_content_ns - first_text < NEAR
        assert record.output_events == 4 and record.output_tokens == 4
        assert record.input_tokens == 9 and record.response_id == "msg_9"


def test_messages_error_event_and_responses_failure_are_bad_streams() -> None:
    def script(got: Received) -> Reply:
        if got.path.endswith("messages"):
            error = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
            return Reply([(0.0, sse({"type": "message_start", "message": {}})), (0, sse(error))])
        failed = {"type": "response.failed", "response": {"error": {"message": "quota gone"}}}
        return Reply([(0.0, sse(failed))])

    with scripted(script) as server:
        for api, message in (("messages", "Overloaded"), ("responses", "quota gone")):
            result = run(
                RunConfig(base_url=server.base_url, api=api, model="m", n=1)  # type: ignore[arg-type]
            )
            (record,) = result.records
            assert record.error_kind == "bad_stream"
            assert message in (record.error_message or "")


def _embeddings_script(got: Received) -> Reply:
    inputs = got.json()["input"]
    data = [
        {"object": "embedding", "index": i, "embedding": [0.1, 0.2]} for i in range(len(inputs))
    ]
    words = sum(len(text.split()) for text in inputs)
    body = {
        "object": "list",
        "data": data,
        "usage": {"prompt_tokens": words, "total_tokens": words},
    }
    return Reply([(0.03, json.dumps(body).encode())], content_type="application/json")


def test_embeddings_batches_inputs_and_reports_inputs_per_second() -> None:
    with scripted(_embeddings_script) as server:
        result = run(
            RunConfig(
                base_url=server.base_url,
                api="embeddings",
                model="e",
                n=6,
                concurrency=2,
                batch=4,
                input_tokens=(20, 0),
            )
        )
    s = result.summary
    assert s.ok == 6, s.errors
    body = server.log[0].json()
    assert server.log[0].path == "/v1/embeddings" and "stream" not in body
    assert len(body["input"]) == 4 and all(len(t.split()) == 20 for t in body["input"])
    assert "ttft_ms" not in s.metrics  # embeddings do not stream: no TTFT
    assert all(r.inputs == 4 and r.input_tokens == 80 for r in result.records)
    assert s.total_inputs == 24 and s.total_input_tokens == 480
    assert s.inputs_per_s == pytest.approx(24 / s.duration_s)
    assert s.input_tokens_per_s == pytest.approx(480 / s.duration_s)
    for record in result.records:  # E2E covers the server's 30 ms wait
        assert record.e2e_ns >= 30e6
    # every batch is distinct (synthetic prompts per input, not per request)
    assert len({json.dumps(got.json()["input"]) for got in server.log}) == 6


def test_embeddings_count_mismatch_is_a_bad_stream() -> None:
    def script(got: Received) -> Reply:
        body = {"data": [{"embedding": [0.0]}], "usage": {"prompt_tokens": 1}}
        return Reply([(0.0, json.dumps(body).encode())], content_type="application/json")

    with scripted(script) as server:
        result = run(RunConfig(base_url=server.base_url, api="embeddings", model="e", n=1, batch=3))
    (record,) = result.records
    assert record.error_kind == "bad_stream"
    assert record.error_message == "expected 3 embeddings, got 1"


def test_bodies_per_api() -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    chat = api_spec("chat").body("m", messages, 5, True)
    assert chat["messages"] == messages and chat["stream_options"] == {"include_usage": True}
    completions = api_spec("completions").body("m", messages, 5, False)
    assert completions["prompt"] == "be brief\nhi" and "messages" not in completions
    assert api_spec("responses").body("m", messages, 5, True)["max_output_tokens"] == 5
    anthropic = api_spec("messages").body("m", messages, 5, True)
    assert anthropic["system"] == "be brief"
    assert anthropic["messages"] == [{"role": "user", "content": "hi"}]
    assert api_spec("embeddings").body("m", messages, 5, True) == {
        "model": "m",
        "input": ["be brief", "hi"],
    }
    with pytest.raises(ValueError, match="--api must be one of"):
        api_spec("rerank")


def test_event_parsing_edge_cases() -> None:
    responses = api_spec("responses")
    assert not responses.parse_event(b'{"type":"response.output_text.delta","delta":""}').output
    incomplete = responses.parse_event(
        b'{"type":"response.incomplete","response":{"incomplete_details":'
        b'{"reason":"max_output_tokens"},"usage":{"output_tokens":3}}}'
    )
    assert incomplete.finish_reason == "incomplete:max_output_tokens"
    assert incomplete.completion_tokens == 3
    tool = responses.parse_event(
        b'{"type":"response.function_call_arguments.delta","delta":"{\\"a\\""}'
    )
    assert tool.output and not tool.content
    messages = api_spec("messages")
    start = messages.parse_event(
        b'{"type":"message_start","message":{"id":"m","usage":{"input_tokens":3,'
        b'"cache_read_input_tokens":100,"output_tokens":1}}}'
    )
    assert start.prompt_tokens == 103 and start.completion_tokens is None
    tool_json = messages.parse_event(
        b'{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"{"}}'
    )
    assert tool_json.output and not tool_json.content
    signature = messages.parse_event(
        b'{"type":"content_block_delta","delta":{"type":"signature_delta","signature":"x"}}'
    )
    assert not signature.output
    with pytest.raises(BadStreamError):
        messages.parse_event(b"not json")
    assert (
        messages.event_text(
            b'{"type":"content_block_delta","delta":{"type":"text_delta","text":"yo"}}'
        )
        == "yo"
    )


def test_whole_bodies_per_api() -> None:
    body = api_spec("responses").parse_body(
        b'{"id":"r","status":"completed","output":[{"type":"message","content":'
        b'[{"type":"output_text","text":"abc"}]}],"usage":{"input_tokens":2,"output_tokens":1}}'
    )
    assert body.text == "abc" and body.has_output and body.completion_tokens == 1
    anthropic = api_spec("messages").parse_body(
        b'{"id":"m","type":"message","content":[{"type":"text","text":"hey"}],'
        b'"usage":{"input_tokens":4,"output_tokens":2}}'
    )
    assert anthropic.text == "hey" and anthropic.prompt_tokens == 4
    error = api_spec("messages").parse_body(
        b'{"type":"error","error":{"type":"invalid_request_error","message":"bad model"}}'
    )
    assert error.error == "bad model"
    with pytest.raises(BadStreamError):
        api_spec("embeddings").parse_body(b'{"data": 3}')


def test_non_streamed_messages_carry_usage() -> None:
    def script(got: Received) -> Reply:
        body = {
            "id": "msg_1",
            "type": "message",
            "content": [{"type": "text", "text": "one two"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 6, "output_tokens": 2},
        }
        return Reply([(0.0, json.dumps(body).encode())], content_type="application/json")

    with scripted(script) as server:
        result = run(
            RunConfig(base_url=server.base_url, api="messages", model="m", n=1, stream=False)
        )
    (record,) = result.records
    assert record.ok and record.output_tokens == 2 and record.input_tokens == 6
    assert server.log[0].json()["stream"] is False


@pytest.mark.parametrize(
    ("api", "flag_header", "flag_field", "headers", "field"),
    [
        ("chat", None, None, {"authorization": f"Bearer {KEY}"}, "max_tokens"),
        ("responses", None, None, {"authorization": f"Bearer {KEY}"}, "max_output_tokens"),
        ("messages", None, None, {"x-api-key": KEY}, "max_tokens"),
        ("chat", "api-key", "max_completion_tokens", {"api-key": KEY}, "max_completion_tokens"),
        ("messages", "Authorization", None, {"authorization": f"Bearer {KEY}"}, "max_tokens"),
        ("responses", "none", "max_tokens", {}, "max_tokens"),
    ],
)
def test_the_api_gives_the_defaults_and_the_flags_override_them(
    api: str,
    flag_header: str | None,
    flag_field: str | None,
    headers: dict[str, str],
    field: str,
) -> None:
    """One mechanism: the API's own key header and max-tokens field, unless
    --api-key-header / --max-tokens-field say otherwise (as sent on the wire)."""
    with scripted(_responses_script if api == "responses" else _any_script(api)) as server:
        config = flags_to_config(
            Flags(
                base_url=server.base_url,
                api=api,
                api_key=KEY,
                model="m",
                n=1,
                api_key_header=flag_header,
                max_tokens_field=flag_field,
            ),
            env={},
        )
        result = run(config)
    assert result.summary.ok == 1, result.summary.errors
    got = server.log[0]
    key_headers = {"authorization", "api-key", "x-api-key"}
    assert {k: v for k, v in got.headers.items() if k in key_headers} == headers
    assert got.headers.get("anthropic-version") == (
        ANTHROPIC_VERSION if api == "messages" else None
    )
    body = got.json()
    assert body[field] == 128
    others = {"max_tokens", "max_output_tokens", "max_completion_tokens"} - {field}
    assert not others & set(body)


def _any_script(api: str) -> Callable[[Received], Reply]:
    def script(got: Received) -> Reply:
        if api == "messages":
            end = sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}})
            stop = sse({"type": "message_stop"})
            text = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}
            return Reply([(0.0, sse(text)), (0.0, end), (0.0, stop)])
        chunk = {"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}]}
        return Reply([(0.0, sse(chunk)), (0.0, b"data: [DONE]\n\n")])

    return script
