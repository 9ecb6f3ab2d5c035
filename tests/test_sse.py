"""SSEDecoder: WHATWG event-stream rules, the size cap, and chunk-split invariance."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmbench_async.errors import BadStreamError
from llmbench_async.wire.sse import SSEDecoder

BOM = b"\xef\xbb\xbf"


def decode(
    stream: bytes, cuts: list[int] | None = None, max_event_bytes: int = 1 << 20
) -> list[bytes]:
    """Feed `stream` split at `cuts` (default: in one piece), then close; all events in order."""
    decoder = SSEDecoder(max_event_bytes)
    bounds = [0, *sorted(cuts or []), len(stream)]
    events: list[bytes] = []
    for start, end in pairwise(bounds):
        events += decoder.feed(stream[start:end])
    return events + decoder.close()


def bytewise(stream: bytes) -> list[bytes]:
    return decode(stream, list(range(1, len(stream))))


def reference(stream: bytes, max_event_bytes: int = 1 << 20) -> list[bytes] | None:
    """A slow, obviously-WHATWG decoder (lenient at EOF); None where the size cap is hit."""
    if stream.startswith(BOM):
        stream = stream[3:]
    events: list[bytes] = []
    data: list[bytes] | None = None
    for line in [*re.split(rb"\r\n|\r|\n", stream), b""]:
        if len(line) > max_event_bytes:
            return None
        if not line:
            if data is not None:
                events.append(b"\n".join(data))
            data = None
            continue
        name, colon, value = line.partition(b":")
        if not name:
            continue
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data = [*(data or []), value]
            if len(b"\n".join(data)) > max_event_bytes:
                return None
    return events


# --- spec cases -------------------------------------------------------------------------


def test_typical_openai_stream() -> None:
    stream = b'data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n'
    assert decode(stream) == [b'{"a":1}', b'{"a":2}', b"[DONE]"]
    assert bytewise(stream) == [b'{"a":1}', b'{"a":2}', b"[DONE]"]


def test_several_events_in_one_chunk_and_one_event_over_several_chunks() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\ndata: 2\n\ndata: ") == [b"1", b"2"]
    assert decoder.feed(b"3") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [b"3"]
    assert decoder.close() == []


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    stream = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert decode(stream) == [b"a\nb", b"c"]
    assert bytewise(stream) == [b"a\nb", b"c"]


def test_mixed_line_endings() -> None:
    assert decode(b"data: a\rdata: b\r\n\ndata: c\n\r") == [b"a\nb", b"c"]


def test_crlf_split_between_chunks_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # the LF completes the CRLF: not a blank line
    assert decoder.feed(b"\r") == [b"a"]
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r\n") == [b"b"]


def test_cr_at_chunk_end_then_empty_chunk_then_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [b"a"]


def test_lone_cr_then_data_in_next_chunk() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\rdata: b\r\r") == [b"a", b"b"]


def test_comments_and_other_fields_are_ignored() -> None:
    stream = (
        b": keep-alive\n\n"
        b":\n"
        b"event: message\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n: ping\n\n"
        b"event: only-an-event\nid: 8\n\n"
    )
    assert decode(stream) == [b"x"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode(b"data: one\ndata:two\ndata:  three\n\n") == [b"one\ntwo\n three"]


def test_only_one_space_after_colon_is_stripped() -> None:
    assert decode(b"data:   x  \n\n") == [b"  x  "]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode(b"event: ping\n\n\n\ndata: a\n\n") == [b"a"]


def test_empty_data_fields_dispatch_empty_or_newline_payloads() -> None:
    assert decode(b"data:\n\ndata\n\ndata\ndata\n\n") == [b"", b"", b"\n"]


def test_field_without_colon_is_a_name_with_empty_value() -> None:
    assert decode(b"data\ndata: x\n\n") == [b"\nx"]
    assert decode(b"datax\n\ndata x\n\n") == []  # other field names, not "data"


def test_field_names_are_case_sensitive() -> None:
    assert decode(b"Data: x\n\nDATA: y\n\n") == []


def test_data_is_returned_as_plain_bytes() -> None:
    (event,) = decode(b"data: \xff\xfe\x00\n\n")
    assert event == b"\xff\xfe\x00"
    assert type(event) is bytes


def test_leading_bom_is_skipped_once() -> None:
    assert decode(BOM + b"data: a\n\n") == [b"a"]
    assert bytewise(BOM + b"data: a\n\n") == [b"a"]
    # a second BOM makes the first line's field name "\ufeffdata": not a data field
    assert decode(BOM + BOM + b"data: a\n\ndata: b\n\n") == [b"b"]
    assert decode(b"data: a\n\n" + BOM + b"data: b\n\n") == [b"a"]


def test_final_event_without_blank_line_is_returned_by_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [b"a"]
    assert decoder.close() == [b"b"]
    assert decoder.feed(b"data: c") == []
    assert decoder.close() == [b"c"]  # an unterminated last line counts too
    assert decoder.close() == []


def test_close_resets_state() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\r")
    assert decoder.close() == [b"a"]
    assert decoder.feed(b"\ndata: b\n\n") == [b"b"]  # the LF is a new line, not the CRLF's


def test_close_without_pending_data_returns_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.close() == []
    decoder.feed(b": comment\nevent: x\n")
    assert decoder.close() == []


# --- size cap ---------------------------------------------------------------------------


def test_endless_line_without_newline_raises_with_bounded_memory() -> None:
    limit = 64 * 1024
    decoder = SSEDecoder(limit)
    piece = b"x" * 1000
    fed = 0
    with pytest.raises(BadStreamError, match=f"SSE event larger than {limit} bytes"):
        for _ in range(10_000):  # 10 MB if nothing stopped it
            decoder.feed(piece)
            fed += len(piece)
    assert fed <= limit  # raised on the piece that crossed the cap, not later


def test_huge_line_in_one_chunk_raises() -> None:
    with pytest.raises(BadStreamError, match="larger than 1000 bytes"):
        SSEDecoder(1000).feed(b": " + b"x" * 2000 + b"\n\n")


def test_default_cap_is_4_mib() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: " + b"x" * (4 * 1024 * 1024 - 6))  # a line of exactly the cap is fine
    with pytest.raises(BadStreamError, match="SSE event larger than 4194304 bytes"):
        decoder.feed(b"x")


def test_huge_multi_line_event_raises_with_bounded_memory() -> None:
    limit = 64 * 1024
    decoder = SSEDecoder(limit)
    piece = b"data: " + b"y" * 100 + b"\n"  # never a blank line
    fed = 0
    with pytest.raises(BadStreamError, match=f"SSE event larger than {limit} bytes"):
        for _ in range(100_000):
            decoder.feed(piece * 10)
            fed += 10 * 101
    assert fed <= limit + 10 * 101


def test_huge_multi_line_event_in_one_chunk_raises() -> None:
    with pytest.raises(BadStreamError):
        SSEDecoder(1000).feed(b"data: abc\n" * 500 + b"\n")


def test_cap_boundaries_are_exact() -> None:
    # joined data of exactly the cap passes; one more byte fails
    assert decode(b"data:aaa\ndata:bbb\ndata:cc\n\n", max_event_bytes=10) == [b"aaa\nbbb\ncc"]
    with pytest.raises(BadStreamError):
        decode(b"data:aaa\ndata:bbb\ndata:ccc\n\n", max_event_bytes=10)
    # a line of exactly the cap passes (pending at chunk end, or complete)
    assert decode(b"data:" + b"z" * 5, [3], max_event_bytes=10) == [b"zzzzz"]
    assert decode(b": " + b"c" * 8 + b"\n\n", max_event_bytes=10) == []
    with pytest.raises(BadStreamError):
        decode(b": " + b"c" * 9 + b"\n\n", [4], max_event_bytes=10)


def test_split_bom_does_not_count_towards_the_cap() -> None:
    assert decode(BOM + b"data\n\n", [2, 5], max_event_bytes=4) == [b""]


def test_decoder_is_usable_after_cap_error() -> None:
    decoder = SSEDecoder(10)
    with pytest.raises(BadStreamError):
        decoder.feed(b"x" * 11)
    assert decoder.feed(b"data: ok\n\n") == [b"ok"]


def test_invalid_cap_is_rejected() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(0)


# --- properties -------------------------------------------------------------------------

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Random bytes biased towards the pieces that matter to the grammar.
sse_ish = st.lists(
    st.sampled_from(
        [b"data", b"data:", b"data: ", b":", b" ", b"\n", b"\r", b"\r\n", b"x", b"ev", BOM]
    )
    | st.binary(max_size=4),
    max_size=40,
).map(b"".join)


@st.composite
def split_stream(draw: st.DrawFn, streams: st.SearchStrategy[bytes]) -> tuple[bytes, list[int]]:
    stream = draw(streams)
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=8))
    return stream, cuts


@FAST
@given(split_stream(st.binary(max_size=200) | sse_ish), st.integers(1, 40))
def test_random_bytes_raise_nothing_but_bad_stream_error(
    case: tuple[bytes, list[int]], max_event_bytes: int
) -> None:
    stream, cuts = case
    try:
        events = decode(stream, cuts, max_event_bytes)
    except BadStreamError:
        return
    assert all(type(event) is bytes for event in events)


@FAST
@given(split_stream(sse_ish), st.sampled_from([4, 16, 1 << 20]))
def test_any_split_matches_the_reference_decoder(
    case: tuple[bytes, list[int]], max_event_bytes: int
) -> None:
    stream, cuts = case
    expected = reference(stream, max_event_bytes)
    if expected is None:
        with pytest.raises(BadStreamError):
            decode(stream, cuts, max_event_bytes)
    else:
        assert decode(stream, cuts, max_event_bytes) == expected


data_value = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
noise_line = st.sampled_from([b": ping", b":", b"event: completion", b"id: 42", b"retry: 10"])


@st.composite
def event_streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A valid stream (one line-ending style) and the data of the events it holds."""
    eol = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    lines: list[bytes] = []
    expected: list[bytes] = []
    for _ in range(draw(st.integers(0, 6))):
        values = draw(st.lists(data_value, max_size=4))
        for value in values:
            lines += draw(st.lists(noise_line, max_size=1))
            spaced = draw(st.booleans()) or value.startswith(b" ")
            lines.append((b"data: " if spaced else b"data:") + value)
        lines += draw(st.lists(noise_line, max_size=1))
        lines.append(b"")
        if values:
            expected.append(b"\n".join(values))
    prefix = BOM if draw(st.booleans()) else b""
    return prefix + b"".join(line + eol for line in lines), expected


@FAST
@given(event_streams(), st.data())
def test_valid_streams_decode_the_same_however_split(
    case: tuple[bytes, list[bytes]], data: st.DataObject
) -> None:
    stream, expected = case
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    whole = decode(stream)
    assert whole == expected
    assert decode(stream, cuts) == whole
    decoder = SSEDecoder()  # every event is complete without close()
    events = [event for i in range(len(stream)) for event in decoder.feed(stream[i : i + 1])]
    assert events == expected
    assert decoder.close() == []
