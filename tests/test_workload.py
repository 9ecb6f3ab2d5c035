"""Workloads: prompt files, synthetic lengths, body options — checked through the mock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmbench_async import MockProcess, RunConfig, run
from llmbench_async.config import ConfigError, parse_header
from llmbench_async.loadgen.workload import (
    PromptItem,
    SyntheticInput,
    Workload,
    load_prompt_file,
    parse_input_tokens,
)


def _wl(**kw: object) -> Workload:
    base: dict[str, object] = dict(
        api="chat", model="m", prompts=(PromptItem(text="hi"),), max_tokens=8, stream=True
    )
    base.update(kw)
    return Workload(**base)  # type: ignore[arg-type]


def test_txt_prompt_file_cycles(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("first prompt\n\nsecond prompt\nthird\n")
    items = load_prompt_file(f)
    assert [i.text for i in items] == ["first prompt", "second prompt", "third"]
    wl = _wl(prompts=items)
    contents = [json.loads(wl.body(i))["messages"][0]["content"] for i in range(4)]
    assert contents == ["first prompt", "second prompt", "third", "first prompt"]


def test_jsonl_prompt_file_with_messages_and_max_tokens(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text(
        '{"prompt": "plain text", "max_tokens": 3}\n'
        '{"messages": [{"role": "system", "content": "be brief"},'
        ' {"role": "user", "content": "hello"}]}\n'
    )
    items = load_prompt_file(f)
    wl = _wl(prompts=items)
    first, second = json.loads(wl.body(0)), json.loads(wl.body(1))
    assert first["messages"] == [{"role": "user", "content": "plain text"}]
    assert first["max_tokens"] == 3
    assert [m["role"] for m in second["messages"]] == ["system", "user"]
    assert second["max_tokens"] == 8
    # completions API: messages are joined into the prompt
    assert json.loads(_wl(api="completions", prompts=items).body(1))["prompt"] == (
        "be brief\nhello"
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.jsonl", "{not json}\n", "line 1: not valid JSON"),
        ("p.jsonl", '{"prompt": ""}\n', 'expected "prompt"'),
        ("p.jsonl", '["a"]\n', "expected an object"),
        ("p.jsonl", '{"prompt": "x", "max_tokens": 0}\n', "max_tokens must be"),
        ("p.txt", "\n\n", "holds no prompt"),
    ],
)
def test_bad_prompt_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_prompt_file(f)
    assert "\n" not in str(info.value)


def test_unreadable_prompt_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_prompt_file(tmp_path / "missing.txt")


def test_sampling_is_seeded() -> None:
    items = tuple(PromptItem(text=str(i)) for i in range(10))
    a = [_wl(prompts=items, sample=True, seed=1).body(i) for i in range(20)]
    b = [_wl(prompts=items, sample=True, seed=1).body(i) for i in range(20)]
    c = [_wl(prompts=items, sample=True, seed=2).body(i) for i in range(20)]
    assert a == b and a != c


def test_body_options() -> None:
    body = json.loads(_wl(ignore_eos=True, extra_body={"temperature": 0.2}).body(0))
    assert body["ignore_eos"] is True and body["temperature"] == 0.2
    assert body["stream_options"] == {"include_usage": True}


def test_parse_input_tokens_and_headers() -> None:
    assert parse_input_tokens("512") == SyntheticInput(512, 0)
    assert parse_input_tokens("512:64") == SyntheticInput(512, 64)
    for bad in ("x", "0", "5:-1", "5:y"):
        with pytest.raises(ConfigError, match="--input-tokens"):
            parse_input_tokens(bad)
    assert parse_header("X-Team: infra") == ("X-Team", "infra")
    for bad in ("novalue", ": v", "Bad Name: v"):
        with pytest.raises(ConfigError, match="--header"):
            parse_header(bad)


def test_synthetic_length_measured_by_server_usage(fast_mock: MockProcess) -> None:
    result = run(
        RunConfig(base_url=fast_mock.base_url, n=6, concurrency=3, input_tokens=(300, 0), seed=5)
    )
    counted = [r.input_tokens for r in result.records]
    assert all(c is not None and abs(c - 300) <= 30 for c in counted)  # within 10%
    # every request gets different words (no accidental prefix caching), reproducibly
    wl = _wl(prompts=(), synthetic=SyntheticInput(300, 0), seed=5)
    bodies = [wl.body(i) for i in range(6)]
    assert len(set(bodies)) == 6 and bodies == [wl.body(i) for i in range(6)]


def test_prompt_file_through_the_run(fast_mock: MockProcess, tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "one two three", "max_tokens": 2}\n')
    result = run(RunConfig(base_url=fast_mock.base_url, n=2, prompt_file=f))
    assert [r.output_tokens for r in result.records] == [2, 2]
    assert [r.input_tokens for r in result.records] == [3, 3]


def test_shared_prefixes_are_fixed_per_group_and_suffixes_unique() -> None:
    wl = _wl(prompts=(), synthetic=SyntheticInput(50), prefix_tokens=30, prefix_groups=3, seed=2)
    texts = [json.loads(wl.body(i))["messages"][0]["content"].split() for i in range(9)]
    assert all(len(words) == 50 for words in texts)  # the prefix is part of the asked length
    prefixes = [" ".join(words[:30]) for words in texts]
    assert prefixes[0] == prefixes[3] == prefixes[6]  # request i uses group i mod 3
    assert len({prefixes[0], prefixes[1], prefixes[2]}) == 3
    assert len({" ".join(words[30:]) for words in texts}) == 9  # every suffix is its own
    assert [wl.tags(i)["group"] for i in range(4)] == [0, 1, 2, 0]
    # a fixed prompt goes behind the prefix too; the same seed gives the same prefixes
    fixed = _wl(prefix_tokens=5, prefix_groups=2, seed=2)
    again = _wl(prefix_tokens=5, prefix_groups=2, seed=2)
    assert fixed.body(1) == again.body(1) != fixed.body(0)
    assert json.loads(fixed.body(0))["messages"][0]["content"].endswith(" hi")


def test_prefix_longer_than_the_asked_prompt_is_an_error() -> None:
    with pytest.raises(ConfigError, match="must be less than --input-tokens"):
        RunConfig(input_tokens=(100, 0), prefix_tokens=100)
    with pytest.raises(ConfigError, match="--prefix-groups must be at least 1"):
        RunConfig(prefix_tokens=10, prefix_groups=0)


def test_embeddings_bodies_batch_distinct_inputs_and_bodies_per_api() -> None:
    wl = _wl(api="embeddings", prompts=(), synthetic=SyntheticInput(4), batch=3)
    first, second = json.loads(wl.body(0)), json.loads(wl.body(1))
    assert set(first) == {"model", "input"} and len(first["input"]) == 3
    assert not set(first["input"]) & set(second["input"])
    assert wl.tags(0) == {"inputs": 3}
    responses = json.loads(_wl(api="responses", ignore_eos=True).body(0))
    assert responses["input"] == [{"role": "user", "content": "hi"}]
    assert responses["max_output_tokens"] == 8 and responses["ignore_eos"] is True
    messages = json.loads(_wl(api="messages", extra_body={"temperature": 0}).body(0))
    assert messages["max_tokens"] == 8 and messages["temperature"] == 0
