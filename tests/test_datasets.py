"""Datasets: format detection, streaming reads across chunk boundaries, length filters,
seeded reservoir sampling, one-line errors naming the line, bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from llmbench_async.config import ConfigError
from llmbench_async.loadgen import datasets
from llmbench_async.loadgen.datasets import (
    DatasetSpec,
    detect_format,
    estimate_tokens,
    iter_objects,
    load_dataset,
)
from llmbench_async.loadgen.workload import Conversation, PromptItem

DATA = Path(__file__).parent / "data"
SHAREGPT = DATA / "sharegpt.json"
OPENAI = DATA / "openai.jsonl"
CONVERSATIONS = DATA / "conversations.jsonl"


def test_formats_are_detected() -> None:
    assert detect_format(SHAREGPT) == "sharegpt"
    assert detect_format(OPENAI) == "openai-jsonl"
    assert detect_format(CONVERSATIONS) == "conversations"


def test_sharegpt_gives_conversations_with_replies_and_system() -> None:
    prompts, convs = load_dataset(DatasetSpec(SHAREGPT))
    assert prompts == ()
    # a3 has no human turn: skipped
    assert [c.users[0][:10] for c in convs] == ["What is th", "Write a ha", "Hi"]
    first = convs[0]
    assert first == Conversation(
        ("What is the capital of France?", "And of Italy?"), ("Paris.", "Rome."), "You are terse."
    )
    assert convs[2].replies[1] is None and convs[2].reply(1) is None


def test_openai_jsonl_gives_requests() -> None:
    prompts, convs = load_dataset(DatasetSpec(OPENAI))
    assert convs == ()
    assert len(prompts) == 4
    assert prompts[0] == PromptItem(text="Summarise the plot of Hamlet in one sentence.")
    assert prompts[1].max_tokens == 16 and prompts[1].messages is not None


def test_conversations_format() -> None:
    _, convs = load_dataset(DatasetSpec(CONVERSATIONS))
    assert [len(c.users) for c in convs] == [3, 2, 1]
    assert convs[1].system == "You are a chef."
    assert convs[0].replies[2] is None


def test_length_filters_use_the_characters_over_4_estimate() -> None:
    assert (
        estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    )
    _, convs = load_dataset(DatasetSpec(SHAREGPT, min_input=5))
    assert [c.users[0][:4] for c in convs] == ["What", "Writ"]  # "Hi" is ~1 token
    _, convs = load_dataset(DatasetSpec(SHAREGPT, min_input=5, max_output=10))
    assert [c.users[0][:4] for c in convs] == ["What"]  # the haiku reply is ~20 tokens
    prompts, _ = load_dataset(DatasetSpec(OPENAI, max_input=8))
    assert [p.text for p in prompts] == [None, "List three prime numbers."]
    with pytest.raises(ConfigError, match=r"no entry of .* is usable after the filters"):
        load_dataset(DatasetSpec(SHAREGPT, min_input=10_000))


def test_reservoir_sample_is_seeded_and_uniform(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(1000)))
    one = load_dataset(DatasetSpec(path, seed=1, keep=50))[0]
    assert one == load_dataset(DatasetSpec(path, seed=1, keep=50))[0]
    other = load_dataset(DatasetSpec(path, seed=2, keep=50))[0]
    assert one != other
    picked = [int((p.text or "")[1:]) for p in one]
    assert len(set(picked)) == 50
    assert max(picked) > 500  # not just the head of the file
    # over many seeds, the first and second half are picked about equally often
    halves = [0, 0]
    for seed in range(40):
        for p in load_dataset(DatasetSpec(path, seed=seed, keep=20))[0]:
            halves[int((p.text or "")[1:]) >= 500] += 1
    assert abs(halves[0] - halves[1]) < 0.15 * sum(halves)


def test_reading_is_the_same_across_any_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = list(iter_objects(SHAREGPT))
    monkeypatch.setattr(datasets, "_CHUNK_CHARS", 7)
    assert list(iter_objects(SHAREGPT)) == whole
    assert [line for line, _ in whole] == [2, 12, 19, 25]  # each object's first line
    assert [line for line, _ in iter_objects(OPENAI)] == [1, 2, 4, 5]


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_bad_files_get_one_line_errors_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(datasets, "_CHUNK_CHARS", chunk)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": "c",,}\n')
    cases = [
        (bad_json, None, r"bad.jsonl line 3: not valid JSON \(Expecting property name"),
    ]
    no_list = tmp_path / "nolist.json"
    no_list.write_text('[\n  {"conversations": []},\n  {"id": 2}\n]\n')
    cases.append((no_list, "sharegpt", r"nolist.json line 3: expected \"conversations\""))
    not_object = tmp_path / "numbers.jsonl"
    not_object.write_text('{"prompt": "x"}\n42\n')
    cases.append((not_object, "openai-jsonl", r"numbers.jsonl line 2: expected a JSON object"))
    empty_prompt = tmp_path / "empty.jsonl"
    empty_prompt.write_text('{"prompt": ""}\n')
    cases.append((empty_prompt, "openai-jsonl", r"empty.jsonl line 1: expected \"prompt\""))
    truncated = tmp_path / "cut.json"
    truncated.write_text('[{"conversations": [{"from": "human", "value": "hel')
    cases.append((truncated, "sharegpt", r"cut.json line 1: not valid JSON \(Unterminated"))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"prompt": "caf\xe9"}\n')
    cases.append((latin, "openai-jsonl", r"latin.jsonl near line 1: not UTF-8 text"))
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"text": "x"}\n')
    cases.append((unknown, None, r"cannot tell the format of .* from line 1"))
    for path, fmt, pattern in cases:
        with pytest.raises(ConfigError, match=pattern) as caught:
            load_dataset(DatasetSpec(path, format=fmt))
        assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_dataset(DatasetSpec(tmp_path / "missing.json"))


def test_a_big_sharegpt_array_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    entry = {
        "conversations": [{"from": "human", "value": "word " * 60}, {"from": "gpt", "value": "ok"}]
    }
    with path.open("w") as fh:
        fh.write("[\n")
        fh.write(",\n".join(json.dumps({**entry, "id": i}) for i in range(40_000)))
        fh.write("\n]\n")
    size = path.stat().st_size
    assert size > 12_000_000
    tracemalloc.start()
    try:
        _, convs = load_dataset(DatasetSpec(path, keep=10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(convs) == 10
    assert peak < size / 3, (peak, size)  # a chunk and the sample, never the file
