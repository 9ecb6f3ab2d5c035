"""Redaction (redact.py) as a property: the key, an escaped form of it or any piece of 8 or
more of its characters, anywhere in a server's message of any length, never survives any
error path's excerpt, nor any output sink."""

from __future__ import annotations

import json
import string
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmbench_async.errors import BadStreamError, RequestError, classify_exception
from llmbench_async.records import RequestRecord
from llmbench_async.redact import MIN_PIECE, needs_scrub, safe_excerpt, scrub, secret_forms
from llmbench_async.session.results_file import ResultsWriter, texts_are_enough
from llmbench_async.wire.client import MESSAGE_LIMIT
from llmbench_async.wire.protocol import error_message_from_body, parse_chunk, parse_completion_body

KEY_CHARS = string.ascii_letters + string.digits + "-_"
FILLER = string.ascii_letters + string.digits + " -_.:,/%\\\"'{}[]\n\t"


def _grams(secret: str) -> set[str]:
    return {secret[i : i + MIN_PIECE] for i in range(len(secret) - MIN_PIECE + 1)}


def _json_escape(text: str, mask: list[bool]) -> str:
    return "".join(f"\\u{ord(c):04x}" if m else c for c, m in zip(text, mask, strict=False))


@st.composite
def echoes(draw: st.DrawFn) -> tuple[str, str]:
    """(key, a message holding the key or a long-enough piece of it, escaped or not)."""
    key = draw(st.text(KEY_CHARS, min_size=12, max_size=64))
    start = draw(st.integers(0, len(key) - MIN_PIECE))
    end = draw(st.integers(start + MIN_PIECE, len(key)))
    piece = key[start:end]
    form = draw(st.sampled_from(["plain", "json", "url", "url-lower", "json-some"]))
    if form == "json":
        piece = _json_escape(piece, [True] * len(piece))
    elif form == "json-some":
        piece = _json_escape(piece, draw(st.lists(st.booleans(), min_size=len(piece))))
    elif form.startswith("url"):
        piece = urllib.parse.quote(piece, safe="")
        piece = "".join(f"%{ord(c):02X}" for c in piece) if form == "url" else piece.lower()
    before = draw(st.text(FILLER, max_size=600))
    after = draw(st.text(FILLER, max_size=600))
    return key, before + piece + after


def assert_clean(text: str, key: str) -> None:
    for gram in _grams(key):
        assert gram not in text, (gram, text)


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(echoes(), st.integers(0, 400))
def test_safe_excerpt_never_keeps_a_piece_of_the_key(echo: tuple[str, str], limit: int) -> None:
    key, message = echo
    out = safe_excerpt(message, (key,), limit)
    assert len(out) <= limit
    assert "\n" not in out
    assert_clean(out, key)


@SETTINGS
@given(echoes())
def test_every_error_path_redacts(echo: tuple[str, str]) -> None:
    """Each function that turns a server's bytes or an exception into a message, then the
    client's final excerpt of it (as wire/client.py stores it in the record)."""
    key, message = echo
    secrets = (key,)

    def final(text: str) -> str:
        return safe_excerpt(text, secrets, MESSAGE_LIMIT)

    as_json = json.dumps({"error": {"message": message}})
    outputs = [
        # an HTTP error body: JSON and plain text; a /models failure uses the same function
        error_message_from_body(as_json.encode(), secrets=secrets),
        error_message_from_body(message.encode(), secrets=secrets),
        final(error_message_from_body(message.encode())),
        # a stream `error` event
        final(f"error event in stream: {parse_chunk(as_json.encode()).error}"),
        # an exception's message
        final(classify_exception(ConnectionResetError(message)).message),
        final(RequestError(classify_exception(ValueError(message)).kind, message).message),
    ]
    for malformed in (b'{"choices": [' + message.encode(), message.encode() + b"}"):
        # a malformed stream event, whose excerpt is cut before the client redacts
        try:
            parse_chunk(malformed)
        except BadStreamError as exc:
            outputs.append(final(classify_exception(exc).message))
        try:
            parse_completion_body(malformed)
        except BadStreamError as exc:
            outputs.append(final(str(exc)))
    for out in outputs:
        assert_clean(out, key)


@settings(max_examples=60, deadline=None)
@given(echoes())
def test_the_results_file_scrubs_every_line(
    tmp_path_factory: pytest.TempPathFactory, echo: tuple[str, str]
) -> None:
    key, message = echo
    path = tmp_path_factory.mktemp("w") / "r.jsonl"
    writer = ResultsWriter(path, {"note": message}, 0, (key,))
    writer.write(RequestRecord(index=0, scheduled_ns=0, send_ns=0, end_ns=1, error_message=message))
    writer.close()
    assert_clean(path.read_text(), key)


def test_scrub_masks_url_credentials_and_short_secrets() -> None:
    assert scrub("cannot reach http://u:p4ss@h:1/v1", ()) == "cannot reach http://***@h:1/v1"
    assert scrub("key abcde here", ("abcde",)) == "key *** here"
    assert scrub("nothing", ("a-long-secret-value",)) == "nothing"


def test_control_characters_cannot_reach_the_terminal() -> None:
    out = safe_excerpt("a\x1b[31mred\x07\u202eevil\r\nz", (), 100)
    assert out == "a?[31mred??evil z"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        echoes(),
        st.tuples(st.text(KEY_CHARS, min_size=4, max_size=40), st.text(FILLER, max_size=200)),
    ),
    st.booleans(),
)
def test_needs_scrub_is_false_only_when_scrub_changes_nothing(
    echo: tuple[str, str], with_other: bool
) -> None:
    key, text = echo
    secrets = (key, "another-secret-0123") if with_other else (key,)
    if not needs_scrub(text, secrets):
        assert scrub(text, secrets) == text
    for piece in _grams(key):  # a plain piece of the key is always caught
        assert needs_scrub(f"id {piece} end", secrets)


@settings(max_examples=150, deadline=None)
@given(echoes(), st.lists(st.integers(0, 10**15), min_size=4, max_size=40))
def test_a_results_line_of_many_numbers_keeps_no_piece_of_the_key(
    tmp_path_factory: pytest.TempPathFactory, echo: tuple[str, str], numbers: list[int]
) -> None:
    """The writer scrubs a record's texts alone only when that masks all a whole-line
    scrub would: keys with 8 digits in a row (which a number may hold) or a piece in a
    field name are scrubbed from the whole line."""
    key, message = echo
    path = tmp_path_factory.mktemp("w") / "r.jsonl"
    writer = ResultsWriter(path, {}, 0, (key,))
    for text in (message, None):
        writer.write(
            RequestRecord(
                index=numbers[0], scheduled_ns=numbers[1], send_ns=numbers[2],
                end_ns=numbers[3], token_gaps_ns=tuple(numbers[4:]), error_message=text,
                response_id=text, model="m",
            )
        )  # fmt: skip
    writer.close()
    assert_clean(path.read_text(), key)


def test_texts_alone_are_scrubbed_only_for_keys_no_number_or_name_can_hold() -> None:
    assert texts_are_enough(secret_forms(["sk-proj-Qx7vLm2RtY9wZk4PbN8sHd3F"]))
    assert not texts_are_enough(("sk-12345678-abc",))  # 8 digits: a number may hold them
    assert not texts_are_enough(('ab"cdefghij',))  # a quote: may span a name and a text
