"""`compare` through the real CLI: settings that differ (warned, or exit 2 with --strict), and
sweep summaries compared level by level against a mock whose capacity is limited."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from llmbench_async.mock import MockConfig, MockProcess


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same sweep (-c 1,2) against a free mock (a.json) and one that serves one request
    at a time with a slower first token (b.json), plus two single runs of unlike settings."""
    out = tmp_path_factory.mktemp("sweeps")
    mocks = {
        "a": MockConfig(ttft_ms=20, itl_ms=1, tokens=4),
        "b": MockConfig(ttft_ms=60, itl_ms=1, tokens=4, capacity=1),
    }
    for name, config in mocks.items():
        with MockProcess(config) as mock:
            res = run_cli(
                *("--base-url", mock.base_url, "-c", "1,2", "-n", "6", "-q"),
                *("--json", str(out / f"{name}.json")),
            )
            assert res.code == 0, res
            if name == "a":
                for tag, extra in (("chat", ("-c", "2")), ("compl", ("--api", "completions"))):
                    res = run_cli(
                        *("--base-url", mock.base_url, "-n", "4", "-q", *extra),
                        *("--json", str(out / f"{tag}.json")),
                    )
                    assert res.code == 0, res
    return out


def test_sweeps_are_compared_level_by_level(sweeps: Path) -> None:
    a, b = str(sweeps / "a.json"), str(sweeps / "b.json")
    res = run_cli("compare", a, b, "--max-regression", "10%")
    assert res.code == 1, res
    assert "── level c=1" in res.stdout and "── level c=2" in res.stdout
    (line,) = res.stderr.splitlines()
    assert line.startswith("llmbench-async: error: NEW is worse than BASE beyond tolerance: c=1: ")
    assert "c=2: ttft.p50 +" in line
    same = run_cli("compare", a, a, "--max-regression", "0%")
    assert (same.code, same.stderr) == (0, ""), same
    assert same.stdout.count("compare: no metric worse than BASE beyond its tolerance") == 2


def test_sweep_and_single_run_do_not_compare(sweeps: Path) -> None:
    res = run_cli("compare", str(sweeps / "a.json"), str(sweeps / "chat.json"))
    assert res.code == 2 and res.stderr.count("\n") == 1
    assert "is a sweep summary and the other file a single run" in res.stderr


def test_unlike_runs_are_warned_and_strict_exits_2(sweeps: Path) -> None:
    chat, compl = str(sweeps / "chat.json"), str(sweeps / "compl.json")
    res = run_cli("compare", chat, compl)
    assert res.code == 0, res
    warned = [line for line in res.stdout.splitlines() if line.startswith("!! ")]
    assert warned[:3] == [
        "!! API differs: BASE chat, NEW completions",
        f"!! endpoint differs: BASE {_endpoint(chat)}/chat/completions, "
        f"NEW {_endpoint(chat)}/completions",
        "!! load differs: BASE concurrency 2, NEW concurrency 1",
    ]
    quiet = run_cli("compare", chat, compl, "-q")
    assert quiet.code == 0
    assert quiet.stderr.splitlines()[0] == (
        "llmbench-async: warning: BASE and NEW are not alike: API differs: BASE chat, "
        "NEW completions"
    )
    strict = run_cli("compare", chat, compl, "--strict", "-q")
    assert strict.code == 2
    assert strict.stderr.splitlines()[-1] == (
        "llmbench-async: error: --strict: BASE and NEW differ in 3 setting(s); not compared"
    )
    assert run_cli("compare", chat, chat, "--strict").code == 0


def _endpoint(summary: str) -> str:
    import json

    endpoint = str(json.loads(Path(summary).read_text())["target"]["endpoint"])
    return endpoint.rsplit("/", 2)[0]
