"""parse_chunk / parse_completion_body / error_message_from_body on real server shapes."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench_async.errors import BadStreamError
from llmbench_async.wire.protocol import (
    Chunk,
    CompletionBody,
    error_message_from_body,
    parse_chunk,
    parse_completion_body,
)
from llmbench_async.wire.servertiming import ServerFacts


def chat(delta: Any, finish: str | None = None, **extra: Any) -> bytes:
    """A chat.completion.chunk as vLLM / OpenAI send it."""
    body = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return json.dumps(body).encode()


def flags(chunk: Chunk) -> tuple[bool, bool, bool]:
    return chunk.done, chunk.output, chunk.content


# --- streamed chunks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"[DONE]", b" [DONE]", b"[DONE]\n", b"\t[DONE] \r\n"],
)
def test_done(data: bytes) -> None:
    assert parse_chunk(data) == Chunk(True, False, False, None, None, None, None, None, None)


@pytest.mark.parametrize(
    "delta",
    [
        {"role": "assistant"},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "", "refusal": None},  # OpenAI's first chunk
        {},
        {"content": None},
        {"content": None, "reasoning_content": None, "tool_calls": []},
        {"content": "", "reasoning": ""},
    ],
)
def test_no_output_deltas(delta: dict[str, Any]) -> None:
    chunk = parse_chunk(chat(delta))
    assert flags(chunk) == (False, False, False)
    assert chunk.response_id == "chatcmpl-123"
    assert chunk.error is None


def test_content_chunk() -> None:
    chunk = parse_chunk(chat({"content": " world"}))
    model = "meta-llama/Llama-3.1-8B-Instruct"
    assert chunk == Chunk(False, True, True, "chatcmpl-123", None, None, None, None, None, model)


def test_whitespace_content_is_output() -> None:
    assert flags(parse_chunk(chat({"content": "\n"}))) == (False, True, True)


def test_openai_chunk_with_null_usage() -> None:
    """With stream_options.include_usage OpenAI sends "usage": null on every chunk."""
    chunk = parse_chunk(chat({"content": "Hi"}, usage=None, system_fingerprint="fp_1"))
    assert flags(chunk) == (False, True, True)
    assert chunk.completion_tokens is None


@pytest.mark.parametrize(
    "delta",
    [
        {"reasoning_content": "Let me think"},  # vLLM (older), DeepSeek
        {"content": None, "reasoning_content": "Let me think"},
        {"reasoning": "Let me think"},  # vLLM (newer), OpenRouter
        {"role": "assistant", "content": "", "reasoning": " so"},
    ],
)
def test_reasoning_is_output_but_not_content(delta: dict[str, Any]) -> None:
    assert flags(parse_chunk(chat(delta))) == (False, True, False)


@pytest.mark.parametrize(
    "delta",
    [
        {  # OpenAI: the first tool-call chunk names the function
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city'}}]},
        {"function_call": {"arguments": '"Paris"}'}},  # legacy functions API
    ],
)
def test_tool_calls_are_output_but_not_content(delta: dict[str, Any]) -> None:
    assert flags(parse_chunk(chat(delta))) == (False, True, False)


def test_finish_chunk_with_empty_delta() -> None:
    chunk = parse_chunk(chat({}, finish="stop"))
    assert flags(chunk) == (False, False, False)
    assert chunk.finish_reason == "stop"


def test_last_content_chunk_with_finish_reason() -> None:
    chunk = parse_chunk(chat({"content": "."}, finish="length"))
    assert flags(chunk) == (False, True, True)
    assert chunk.finish_reason == "length"


def test_openai_usage_chunk_with_empty_choices() -> None:
    data = (
        b'{"id":"chatcmpl-B9","object":"chat.completion.chunk","created":1727000000,'
        b'"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_f85bea6784","choices":[],'
        b'"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,'
        b'"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
        b'"completion_tokens_details":{"reasoning_tokens":3,"audio_tokens":0,'
        b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}'
    )
    chunk = parse_chunk(data)
    model = "gpt-4o-mini-2024-07-18"
    cached = ServerFacts(0, None)  # prompt_tokens_details.cached_tokens: 0, no timing
    assert chunk == Chunk(False, False, False, "chatcmpl-B9", None, 12, 9, 3, None, model, cached)


def test_litellm_usage_chunk_with_an_empty_delta_choice() -> None:
    data = (
        b'{"id":"chatcmpl-2f1","created":1727000000,"model":"llama3","object":"chat.completion'
        b'.chunk","system_fingerprint":null,"choices":[{"index":0,"delta":{}}],"usage":'
        b'{"completion_tokens":20,"prompt_tokens":10,"total_tokens":30,'
        b'"completion_tokens_details":null,"prompt_tokens_details":null}}'
    )
    chunk = parse_chunk(data)
    assert flags(chunk) == (False, False, False)
    assert (chunk.completion_tokens, chunk.prompt_tokens, chunk.reasoning_tokens) == (20, 10, None)


def test_vllm_continuous_usage_on_a_content_chunk() -> None:
    usage = {"prompt_tokens": 5, "total_tokens": 8, "completion_tokens": 3}
    chunk = parse_chunk(chat({"content": "x"}, usage=usage))
    assert flags(chunk) == (False, True, True)
    assert (chunk.completion_tokens, chunk.prompt_tokens) == (3, 5)


def test_completions_text_chunk() -> None:
    data = (
        b'{"id":"cmpl-7a","object":"text_completion","created":1718000000,"model":"m",'
        b'"choices":[{"index":0,"text":" Paris","logprobs":null,"finish_reason":null,'
        b'"stop_reason":null}],"usage":null}'
    )
    expected = Chunk(False, True, True, "cmpl-7a", None, None, None, None, None, "m")
    assert parse_chunk(data) == expected


def test_completions_empty_text_final_chunk() -> None:
    data = b'{"id":"cmpl-7a","object":"text_completion","choices":[{"index":0,"text":"",'
    data += b'"finish_reason":"length"}]}'
    chunk = parse_chunk(data)
    assert flags(chunk) == (False, False, False)
    assert chunk.finish_reason == "length"


def test_multiple_choices_output_if_any_choice_has_output() -> None:
    data = {
        "id": "chatcmpl-n2",
        "choices": [
            {"index": 0, "delta": {}, "finish_reason": None},
            {"index": 1, "delta": {"reasoning_content": "hm"}, "finish_reason": "stop"},
            {"index": 2, "delta": {"content": "a"}, "finish_reason": None},
        ],
    }
    chunk = parse_chunk(json.dumps(data).encode())
    assert flags(chunk) == (False, True, True)
    assert chunk.finish_reason == "stop"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"error":{"message":"The server had an error\\nwhile processing","type":'
            b'"server_error","param":null,"code":null}}',
            "The server had an error while processing",
        ),
        (b'{"error":"Internal error"}', "Internal error"),
        (
            b'{"object":"error","message":"max_tokens is too large","type":"BadRequestError",'
            b'"param":null,"code":400}',
            "max_tokens is too large",
        ),
        (b'{"error":{"type":"overloaded_error"}}', "overloaded_error"),
        (b'{"error":{"code":529}}', "529"),
        (b'{"error":{"message":{"detail":"x"}}}', '{"detail":"x"}'),
        (b'{"error":{"message":""}}', '{"message":""}'),
        (b'{"error":5}', "5"),
        (b'{"error":"   "}', "unknown error"),
    ],
)
def test_error_chunks(data: bytes, message: str) -> None:
    chunk = parse_chunk(data)
    assert chunk.error == message
    assert flags(chunk) == (False, False, False)


def test_error_message_is_one_short_line() -> None:
    data = json.dumps({"error": {"message": "boom\n" * 1000}}).encode()
    error = parse_chunk(data).error
    assert error is not None
    assert "\n" not in error
    # kept long enough for the client to redact secrets before it cuts to 200 characters
    assert len(error) <= 4000
    assert error.endswith("...")


@pytest.mark.parametrize("data", [b'{"error":null,"choices":[]}', b'{"error":{}}', b"{}"])
def test_empty_error_values_are_not_errors(data: bytes) -> None:
    assert parse_chunk(data).error is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b" ",
        b"[DONE",
        b"DONE",
        b"data: {}",
        b'{"choices": [',
        b"[1, 2]",
        b'"text"',
        b"null",
        b"42",
        b"true",
        b"\xff\xfe{}",
        b'{"a": "\xe9"}',  # latin-1, not UTF-8
        b"[" * 100_000,  # nested deeper than the recursion limit
    ],
)
def test_malformed_data_raises_bad_stream_error(data: bytes) -> None:
    with pytest.raises(BadStreamError, match=r"^malformed stream event: ") as info:
        parse_chunk(data)
    message = str(info.value)
    assert "\n" not in message
    assert len(message) < 200


def test_malformed_message_shows_a_truncated_excerpt() -> None:
    with pytest.raises(BadStreamError) as info:
        parse_chunk(b'{"choices": [{"delta": {"content": "' + b"x" * 10_000)
    message = str(info.value)
    assert '{"choices": [{"delta"' in message
    assert len(message) < 200


@pytest.mark.parametrize(
    "data",
    [
        {"choices": "nope"},
        {"choices": None},
        {"choices": {"0": {"delta": {"content": "x"}}}},
        {"choices": [1, None, "a", []]},
        {"choices": [{"delta": "content"}]},
        {"choices": [{"delta": None, "text": None}]},
        {"choices": [{"delta": ["content"]}]},
        {"choices": [{"delta": {"content": 5}}]},
        {"choices": [{"delta": {"content": ["a"]}}]},
        {"choices": [{"delta": {"content": {"text": "a"}}}]},
        {"choices": [{"delta": {"reasoning_content": 1, "tool_calls": {"a": 1}}}]},
        {"choices": [{"delta": {"tool_calls": "call"}}]},
        {"choices": [{"delta": {"function_call": "f"}}]},
        {"choices": [{"text": 7, "finish_reason": 3}]},
        {"choices": [], "usage": None},
        {"choices": [], "usage": []},
        {"choices": [], "usage": "12"},
        {
            "choices": [],
            "usage": {
                "completion_tokens": "12",
                "prompt_tokens": True,
                "completion_tokens_details": [],
            },
        },
        {"choices": [], "usage": {"completion_tokens_details": {"reasoning_tokens": 1.5}}},
        {"id": 5, "object": 3},
        {"object": "error"},
        {"error": []},
        {"error": {"message": None, "code": {"a": 1}}},
    ],
)
def test_odd_types_do_not_crash(data: dict[str, Any]) -> None:
    chunk = parse_chunk(json.dumps(data).encode())
    assert not chunk.done
    assert not chunk.output
    assert not chunk.content
    assert chunk.response_id is None
    assert chunk.finish_reason is None
    assert (chunk.completion_tokens, chunk.prompt_tokens, chunk.reasoning_tokens) == (
        None,
        None,
        None,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    *("id", "choices", "delta", "content", "text", "usage", "error", "message"),
                    *("reasoning", "tool_calls", "finish_reason", "completion_tokens", "object"),
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_is_a_chunk_or_bad_stream_error(value: Any) -> None:
    data = json.dumps(value).encode()
    if isinstance(value, dict):
        chunk = parse_chunk(data)
        assert chunk.content <= chunk.output
        assert chunk.error is None or "\n" not in chunk.error
    else:
        with pytest.raises(BadStreamError):
            parse_chunk(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_are_a_chunk_or_bad_stream_error(data: bytes) -> None:
    with contextlib.suppress(BadStreamError):
        parse_chunk(data)


# --- non-streaming bodies ---------------------------------------------------------------


def test_chat_completion_body() -> None:
    body = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1718000000,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "reasoning_content": "hm"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 4,
            "total_tokens": 15,
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    }
    assert parse_completion_body(json.dumps(body).encode()) == CompletionBody(
        response_id="chatcmpl-9",
        output_text_chars=8,
        has_output=True,
        completion_tokens=4,
        prompt_tokens=11,
        reasoning_tokens=1,
        error=None,
        finish_reason="stop",
        model="m",
    )


def test_text_completion_body_with_several_choices() -> None:
    body = {
        "id": "cmpl-1",
        "object": "text_completion",
        "choices": [
            {"index": 0, "text": " Paris", "finish_reason": "stop"},
            {"index": 1, "text": " Lyon", "finish_reason": "stop"},
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    parsed = parse_completion_body(json.dumps(body).encode())
    assert (parsed.output_text_chars, parsed.has_output) == (11, True)
    assert (parsed.completion_tokens, parsed.prompt_tokens, parsed.reasoning_tokens) == (2, 3, None)


def test_tool_call_only_body_has_output_without_text() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}],
    }
    body = {"id": "x", "choices": [{"index": 0, "message": message}]}
    parsed = parse_completion_body(json.dumps(body).encode())
    assert (parsed.output_text_chars, parsed.has_output) == (0, True)


def test_empty_body_choices_have_no_output() -> None:
    body = {"id": "x", "choices": [{"message": {"role": "assistant", "content": ""}}]}
    parsed = parse_completion_body(json.dumps(body).encode())
    assert (parsed.output_text_chars, parsed.has_output, parsed.error) == (0, False, None)
    assert parsed.completion_tokens is None


def test_error_bodies() -> None:
    body = b'{"error":{"message":"model overloaded","type":"server_error"}}'
    assert parse_completion_body(body).error == "model overloaded"
    body = b'{"object":"error","message":"bad","type":"BadRequestError","code":400}'
    assert parse_completion_body(body).error == "bad"


@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b"[]", b"null", b"\xff"])
def test_malformed_body_raises_bad_stream_error(body: bytes) -> None:
    with pytest.raises(BadStreamError, match=r"^malformed response body: "):
        parse_completion_body(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"choices": 1, "usage": [], "id": []}',
        b'{"choices": [null, {"message": "hi"}, {"message": {"content": 3}}, {"text": []}]}',
        b'{"choices": [{"message": {"tool_calls": {}, "function_call": []}}]}',
    ],
)
def test_odd_body_types_do_not_crash(body: bytes) -> None:
    parsed = parse_completion_body(body)
    assert (parsed.output_text_chars, parsed.has_output, parsed.response_id) == (0, False, None)


# --- error bodies of non-2xx responses --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on '
            b'requests per min (RPM): Limit 3, Used 3.","type":"requests","param":null,'
            b'"code":"rate_limit_exceeded"}}',
            "Rate limit reached for gpt-4o-mini in organization org-x on requests per min "
            "(RPM): Limit 3, Used 3.",
        ),
        (
            b'{"object":"error","message":"The model `gpt-5` does not exist.",'
            b'"type":"NotFoundError","param":null,"code":404}',
            "The model `gpt-5` does not exist.",
        ),
        (b'{"error": "Unauthorized"}', "Unauthorized"),
        (b'{"message": "Internal server error"}', "Internal server error"),
        (b'{"detail":"Not Found"}', "Not Found"),
        (
            b'{"detail":[{"loc":["body","model"],"msg":"field required"}]}',
            '[{"loc":["body","model"],"msg":"field required"}]',
        ),
        (
            b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
            "<html> <head><title>502 Bad Gateway</title></head> <body> "
            "<center><h1>502 Bad Gateway</h1></center> </body> </html>",
        ),
        (b"upstream connect error\n", "upstream connect error"),
        (b"", "empty response body"),
        (b"  \n ", "empty response body"),
        (b'{"foo": 1}', '{"foo": 1}'),
        (b"[1, 2]", "[1, 2]"),
        (b"bad \xff bytes", "bad \ufffd bytes"),
    ],
)
def test_error_message_from_body(body: bytes, message: str) -> None:
    assert error_message_from_body(body) == message


def test_error_message_from_body_truncates() -> None:
    assert error_message_from_body(b"x" * 1000) == "x" * 197 + "..."
    assert error_message_from_body(b"x" * 1000, limit=10) == "xxxxxxx..."
    assert error_message_from_body(b"x" * 1000, limit=2) == "xx"
    assert error_message_from_body(b"x" * 1000, limit=0) == ""
    long_error = json.dumps({"error": {"message": "y " * 500}}).encode()
    assert len(error_message_from_body(long_error, limit=50)) == 50


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_error_message_from_body_never_raises(body: bytes) -> None:
    message = error_message_from_body(body, limit=40)
    assert isinstance(message, str)
    assert len(message) <= 40
    assert "\n" not in message


def test_safe_excerpt_redacts_before_it_cuts() -> None:
    from llmbench_async.wire.protocol import safe_excerpt

    secret = "sk-abcdefghijklmnopqrstuvwxyz0123456789"
    # the secret straddles the cut: cutting first would leave its first characters visible
    text = "x" * 190 + secret
    shown = safe_excerpt(text, (secret,), 200)
    assert len(shown) <= 200
    assert "sk-abcdefg" not in shown and "abcdefghij" not in shown
    assert safe_excerpt(f"key {secret} leaked", (secret,), 200) == "key *** leaked"


def test_malformed_event_message_redacts_before_the_excerpt() -> None:
    from llmbench_async.wire.protocol import malformed_event_message

    secret = "sk-abcdefghijklmnopqrstuvwxyz0123456789"
    message = malformed_event_message(b"{not json " + secret.encode(), (secret,))
    assert message.startswith("malformed stream event: invalid JSON")
    assert "abcdefghij" not in message


def test_flat_and_anthropic_error_chunks_carry_the_message() -> None:
    flat = parse_chunk(b'{"message": "overloaded", "code": 529}')
    assert flat.error == "overloaded"
    anthropic = parse_chunk(
        b'{"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}'
    )
    assert anthropic.error == "busy"
