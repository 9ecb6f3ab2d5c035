"""wire/assemble.py: what every request carries, as the server reads it off the socket:
the API's key header (or --api-key-header's), content negotiation, and the user's
--header replacing ours of the same name in any case."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from rawserver import OK_STREAM, RawServer, Seen, response

KEY = "sk-assemble-0001"
MESSAGES_OK = b"".join(
    b"event: %s\ndata: %s\n\n" % (name, json.dumps(data).encode())
    for name, data in [
        (b"message_start", {"type": "message_start", "message": {"id": "m", "model": "m"}}),
        (b"content_block_delta", {"type": "content_block_delta", "index": 0,
                                  "delta": {"type": "text_delta", "text": "hi"}}),
        (b"message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                            "usage": {"output_tokens": 1}}),
        (b"message_stop", {"type": "message_stop"}),
    ]
)  # fmt: skip


def _answer(seen: Seen, _n: int) -> bytes:
    if seen.target.endswith("/messages"):
        return response(200, MESSAGES_OK, "text/event-stream")
    return OK_STREAM


def _one_request(*flags: str) -> Seen:
    with RawServer(_answer) as server:
        done = run_cli(
            "--base-url", server.url, "--model", "m", "--api-key", KEY, "-n", "1", "-q", *flags
        )  # fmt: skip
    assert done.code == 0, done.stderr
    assert len(server.seen) == 1
    return server.seen[0]


def test_chat_sends_a_bearer_key_and_asks_for_a_stream() -> None:
    seen = _one_request()
    assert seen.method == "POST" and seen.target == "/v1/chat/completions"
    assert seen.header_values("Authorization") == [f"Bearer {KEY}"]
    assert seen.header_values("Accept") == ["text/event-stream"]
    assert seen.header_values("Content-Type") == ["application/json"]
    assert seen.header_values("Accept-Encoding") == ["identity"]
    body = json.loads(seen.body)
    assert body["model"] == "m" and body["stream"] is True


def test_messages_sends_its_own_key_header() -> None:
    seen = _one_request("--api", "messages")
    assert seen.header_values("x-api-key") == [KEY]
    assert seen.header_values("Authorization") == []


@pytest.mark.parametrize(
    ("flags", "header", "value"),
    [
        (("--api-key-header", "api-key"), "api-key", KEY),
        (("--api-key-header", "Authorization"), "Authorization", f"Bearer {KEY}"),
    ],
)
def test_api_key_header_moves_the_key(flags: tuple[str, ...], header: str, value: str) -> None:
    seen = _one_request(*flags)
    assert seen.header_values(header) == [value]
    others = [k for k, v in seen.headers if KEY in v and k.lower() != header.lower()]
    assert others == []  # the key goes in that header only


def test_no_key_header_sends_no_key() -> None:
    seen = _one_request("--api-key-header", "none")
    assert not any(KEY in v for _, v in seen.headers)


def test_a_user_header_replaces_ours_whatever_its_case() -> None:
    seen = _one_request("-H", "accept: application/x-ndjson", "-H", "X-Team: infra")
    assert seen.header_values("Accept") == ["application/x-ndjson"]  # one, the user's
    assert seen.header_values("X-Team") == ["infra"]
