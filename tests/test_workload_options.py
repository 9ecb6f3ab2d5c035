"""cli/workload_options.py: every workload flag reaches the run (no flag is declared and
then ignored), and each flag's rule about the others is one line naming it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from llmbench_async.cli.flags import Flags, flags_to_config
from llmbench_async.cli.workload_options import WorkloadOptions
from llmbench_async.errors import ConfigError
from llmbench_async.loadgen.images import synthetic_png

SAMPLE = "sample:sharegpt"
TRACE = Path("trace.jsonl")  # relative: each test runs in a folder that holds it
TOOLS = Path("tools.json")  # and this tool file, and images/ with one PNG

# each workload flag with a value that differs from its default, the flags it needs, and
# the RunConfig field (with its value) it must set
REACHES: dict[str, tuple[dict[str, Any], str, Any]] = {
    "burstiness": ({"burstiness": 0.5, "rate": "2", "arrival": "gamma"}, "burstiness", 0.5),
    "batch": ({"batch": 4, "api": "embeddings"}, "batch", 4),
    "turns": ({"turns": 3}, "turns", 3),
    "think_time": ({"think_time": "250ms", "turns": 2}, "think_time_s", 0.25),
    "replay_history": ({"replay_history": True, "dataset": Path(SAMPLE)}, "replay_history", True),
    "dataset": ({"dataset": Path(SAMPLE)}, "dataset", Path(SAMPLE)),
    "dataset_format": (
        {"dataset_format": "sharegpt", "dataset": Path(SAMPLE)},
        "dataset_format",
        "sharegpt",
    ),
    "min_input_tokens": (
        {"min_input_tokens": 5, "dataset": Path(SAMPLE)},
        "input_token_range",
        (5, None),
    ),
    "max_input_tokens": (
        {"max_input_tokens": 50, "dataset": Path(SAMPLE)},
        "input_token_range",
        (None, 50),
    ),
    "min_output_tokens": (
        {"min_output_tokens": 5, "dataset": Path(SAMPLE)},
        "output_token_range",
        (5, None),
    ),
    "max_output_tokens": (
        {"max_output_tokens": 50, "dataset": Path(SAMPLE)},
        "output_token_range",
        (None, 50),
    ),
    "prefix_tokens": ({"prefix_tokens": 64}, "prefix_tokens", 64),
    "prefix_groups": ({"prefix_groups": 3, "prefix_tokens": 64}, "prefix_groups", 3),
    "goodput": ({"goodput": ["ttft<200ms"]}, "goodput", ("ttft<200ms",)),
    # TRACE: a small Mooncake trace with sessions, written by the test
    "trace": ({"trace": TRACE}, "trace", TRACE),
    "trace_format": ({"trace": TRACE, "trace_format": "mooncake"}, "trace_format", "mooncake"),
    "trace_speed": ({"trace": TRACE, "trace_speed": 2.0}, "trace_speed", 2.0),
    "trace_window": ({"trace": TRACE, "trace_window": "0s:1s"}, "trace_window", (0.0, 1.0)),
    "trace_block_tokens": ({"trace": TRACE, "trace_block_tokens": 16}, "trace_block_tokens", 16),
    "max_requests": ({"trace": TRACE, "max_requests": 2}, "n", 2),
    "tools": ({"tools": TOOLS}, "tool_choice", "auto"),
    "tool_choice": ({"tools": TOOLS, "tool_choice": "required"}, "tool_choice", "required"),
    "response_format": ({"response_format": "json"}, "response_format", "json"),
    "images": ({"images": 2}, "images", 2),
    "image_size": ({"images": 1, "image_size": "8x4"}, "image_size", (8, 4)),
    "image_dir": ({"image_dir": Path("images")}, "image_dir", Path("images")),
    "session_header": (
        {"trace": TRACE, "session_header": "X-Session-ID"},
        "session_header",
        "X-Session-ID",
    ),
}


def test_the_table_covers_every_workload_flag() -> None:
    assert sorted(REACHES) == sorted(f.name for f in dataclasses.fields(WorkloadOptions))


@pytest.fixture
def in_trace_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = (
        json.dumps({"timestamp": 300 * k, "input_length": 8, "output_length": 4,
                    "session_id": f"s{k % 2}"})
        for k in range(4)
    )  # fmt: skip
    (tmp_path / TRACE).write_text("\n".join(rows) + "\n")
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    (tmp_path / TOOLS).write_text(json.dumps([tool]))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "one.png").write_bytes(synthetic_png(2, 2, 0))
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("in_trace_folder")
@pytest.mark.parametrize("name", sorted(REACHES))
def test_each_workload_flag_reaches_the_run(name: str) -> None:
    given, field, value = REACHES[name]
    config = flags_to_config(Flags(base_url="http://127.0.0.1:9", **given), env={})
    assert getattr(config, field) == value


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"burstiness": 0.5}, "--burstiness needs --arrival gamma"),
        ({"batch": 4}, "--batch applies to --api embeddings only"),
        ({"turns": 2, "api": "embeddings"}, "--turns does not apply to --api embeddings"),
        ({"dataset_format": "csv"}, "--dataset-format must be one of"),
        ({"dataset": Path(SAMPLE), "input_tokens": "128"}, "--dataset excludes"),
        ({"goodput": ["speed>fast"]}, "--goodput"),
        ({"min_input_tokens": 5}, "filter a --dataset"),
    ],
)
def test_each_conflict_is_one_line_naming_the_flag(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        flags_to_config(Flags(base_url="http://127.0.0.1:9", **given), env={})
    assert "\n" not in str(caught.value)
