"""Workloads: prompt files, synthetic lengths, body options — checked through the mock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmbench_async import MockProcess, RunConfig, run
from llmbench_async.config import ConfigError, parse_header
from llmbench_async.workload import (
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
