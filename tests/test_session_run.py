"""session/run.py: one run end to end through the Python API against the mock over
loopback: model discovery, the results file's header and lines, and a target that
refuses us."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import StartMock

from llmbench_async.config import RunConfig
from llmbench_async.errors import TargetError
from llmbench_async.session.run import run


def test_a_run_discovers_the_model_and_writes_a_self_describing_results_file(
    start_mock: StartMock, tmp_path: Path
) -> None:
    mock = start_mock(ttft_ms=5, itl_ms=1, tokens=4)
    out = tmp_path / "r.jsonl"
    config = RunConfig(
        base_url=mock.base_url, api_key="sk-session-0001", n=6, concurrency=2, output=out
    )
    result = run(config)
    assert result.model == "mock-model"  # the first id of GET /v1/models
    assert result.summary.ok == 6 and result.problem is None
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    header, requests = lines[0], [x for x in lines if x.get("type") == "request"]
    assert header["tool"] == "llmbench-async" and isinstance(header["t0_monotonic_ns"], int)
    assert header["target"]["endpoint"].endswith("/v1/chat/completions")
    assert header["target"]["api"] == "chat" and header["load"].startswith("closed loop")
    assert len(requests) == 6 and {r["index"] for r in requests} == set(range(6))
    assert "sk-session-0001" not in out.read_text()  # the key is never saved
    assert result.client_stats["peak_in_flight"] == 2


def test_a_refused_key_is_a_target_error_that_names_the_cause(start_mock: StartMock) -> None:
    mock = start_mock(auth_key="sk-right-0001")
    config = RunConfig(base_url=mock.base_url, api_key="sk-wrong-0002", n=2)
    with pytest.raises(TargetError) as caught:
        run(config)
    message = str(caught.value)
    assert "401" in message or "key" in message.lower()
    assert "sk-wrong-0002" not in message and "sk-right-0001" not in message
