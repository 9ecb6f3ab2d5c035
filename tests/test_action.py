"""The GitHub Action (action.yml): its `run:` steps, run the way the runner runs them.

Each `run:` step goes through bash with `${{ inputs.* }}` and `${{ github.action_path }}`
replaced as the runner replaces them, GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY
and GITHUB_PATH set, and the lines a step appends to GITHUB_PATH put on PATH for the next
step. `uses:` steps (setting up uv) are left out: uv is already here. The install step
installs from this repository, as the action installs from its own checkout."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from installed import (
    REPO,
    SECRET,
    Shell,
    assert_no_secret,
    bash,
    build_wheel,
    clean_env,
    free_port,
    mock_server,
    uv_offline_or_online,
)

ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def render(text: str, inputs: Mapping[str, str]) -> str:
    """Replace the expressions the runner would; any other expression fails the test."""

    def one(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr == "github.action_path":
            return str(REPO)
        name = expr.removeprefix("inputs.")
        assert name != expr and name in ACTION["inputs"], f"unexpected expression {expr}"
        return inputs[name]

    return EXPRESSION.sub(one, text)


@dataclass
class Runner:
    """A job's workspace and the runner's files, for several uses of the action."""

    workspace: Path
    files: Path
    env: dict[str, str]

    def step_env(self) -> dict[str, str]:
        path = self.files / "path"
        added = [line for line in path.read_text().splitlines() if line] if path.exists() else []
        env = dict(self.env)
        env["PATH"] = ":".join([*reversed(added), env["PATH"]])
        return env

    def run_steps(self, given: Mapping[str, str], *, only: str | None = None) -> list[Shell]:
        """Run the action's `run:` steps (or only the one with this id) with these inputs."""
        inputs = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()}
        inputs.update(given)
        for name in ("output", "summary"):
            (self.files / name).write_text("")
        results = []
        for step in ACTION["runs"]["steps"]:
            if "uses" in step or (only is not None and step.get("id") != only):
                continue
            assert step["shell"] == "bash"
            env = self.step_env()
            env.update({k: render(str(v), inputs) for k, v in step.get("env", {}).items()})
            results.append(bash(render(step["run"], inputs), self.workspace, env, timeout=300))
        return results

    def outputs(self) -> dict[str, str]:
        lines = (self.files / "output").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line)

    def summary(self) -> str:
        return (self.files / "summary").read_text()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    base = tmp_path_factory.mktemp("runner")
    uv_mode = uv_offline_or_online(build_wheel(base / "dist"), base / "warm")
    files, workspace = base / "runner", base / "workspace"
    files.mkdir()
    workspace.mkdir()
    env = clean_env(base / "home", uv_mode)
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_ACTION_PATH=str(REPO),
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_OUTPUT=str(files / "output"),
        GITHUB_STEP_SUMMARY=str(files / "summary"),
        GITHUB_PATH=str(files / "path"),
    )
    # the tool reaches PATH only through GITHUB_PATH, as on a runner
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if p != str(base / "home" / "bin"))
    runner = Runner(workspace, files, env)
    (installed,) = runner.run_steps({"python-version": PYTHON}, only="install")
    assert installed.code == 0, installed.text
    yield runner


def test_action_declares_what_the_readme_documents() -> None:
    assert ACTION["runs"]["using"] == "composite"
    readme = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")  # the Action's page
    workflow = re.search(r"<!-- ci-workflow: github -->\n```yaml\n(.*?)\n```", readme, re.S)
    assert workflow is not None
    steps = yaml.safe_load(workflow.group(1))["jobs"]["llm-latency"]["steps"]
    (use,) = [s for s in steps if str(s.get("uses", "")).endswith("/llmbench-async@v1")]
    assert use["uses"] == "OWNER/llmbench-async@v1"
    assert set(use["with"]) <= set(ACTION["inputs"])
    for name in ACTION["inputs"]:
        assert f"`{name}`" in readme, name
    for name in ACTION["outputs"]:
        assert f"`{name}`" in readme, name
    # the key travels only through the environment of the run step
    run_step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "run")
    assert run_step["env"]["OPENAI_API_KEY"] == "${{ inputs.api-key }}"
    assert "api-key" not in run_step["run"] and "OPENAI_API_KEY" not in run_step["run"]


def test_install_step_puts_the_tool_on_path(runner: Runner) -> None:
    added = (runner.files / "path").read_text().split()
    assert added and (Path(added[-1]) / "llmbench-async").is_file()
    assert REPO not in Path(added[-1]).parents


def _inputs(base: str, **more: str) -> dict[str, str]:
    inputs = {
        "base-url": base,
        "model": "my-model",
        "api-key": SECRET,
        "n": "20",
        "concurrency": "4",
        "thresholds": "ttft.p95<800ms\n# a comment line\n\nerror_rate<1%\n",
        "output-dir": "out/llm",
        "python-version": PYTHON,
    }
    inputs.update(more)
    return inputs


def _metric(outputs: Mapping[str, str], name: str) -> float:
    return float(outputs[name])


def test_action_runs_writes_files_outputs_and_summary(runner: Runner) -> None:
    port = free_port()
    fast = ("--model", "my-model", "--ttft-ms", "30", "--itl-ms", "1", "--tokens", "8")
    slow = ("--model", "my-model", "--ttft-ms", "150", "--itl-ms", "1", "--tokens", "8")
    auth = ("--auth-key", SECRET)  # the key must arrive, or every request gets 401
    out = runner.workspace / "out" / "llm"
    tool = Path((runner.files / "path").read_text().split()[-1]) / "llmbench-async"
    with mock_server(tool, port, *fast, *auth, env=runner.env) as base:
        (first,) = runner.run_steps(_inputs(base, baseline="perf/base.json"), only="run")
        assert first.code == 0, first.text
        outputs: dict[str, Any] = runner.outputs()
        assert (
            "llmbench-async: no baseline at perf/base.json yet: saved this run "
            "(out/llm/summary.json) as the baseline"
        ) in first.stderr
        for name in ("summary.json", "results.jsonl", "junit.xml", "summary.md"):
            assert (out / name).is_file(), name
        assert outputs["exit-code"] == "0" and outputs["run-exit-code"] == "0"
        assert outputs["compare-exit-code"] == "0"
        saved = (runner.workspace / "perf" / "base.json").read_bytes()
        assert saved == (out / "summary.json").read_bytes()
        assert outputs["summary"] == "out/llm/summary.json"
        assert 25 <= _metric(outputs, "ttft-p50-ms") <= _metric(outputs, "ttft-p99-ms") < 800
        assert _metric(outputs, "error-rate") == 0 and _metric(outputs, "requests-per-s") > 0
        assert "ttft.p95<800ms" in runner.summary() and "a comment" not in first.stdout
        (out / "summary.json").rename(runner.workspace / "perf" / "base.json")
    with mock_server(tool, port, *slow, *auth, env=runner.env) as base:
        given = _inputs(base, baseline="perf/base.json", **{"max-regression": "10% e2e.p99=50%"})
        (second,) = runner.run_steps(given, only="run")
        assert second.code == 1, second.text
        outputs = runner.outputs()
        assert (outputs["run-exit-code"], outputs["compare-exit-code"]) == ("0", "1")
        assert outputs["exit-code"] == "1"
        assert "### llmbench-async compare: ❌" in runner.summary()
        assert "::error title=llmbench-async::llmbench-async exited 1" in second.stdout
        # fail: false keeps the step green and the verdict in the output
        broken = _inputs(base, thresholds="ttft.p50<1ms", fail="false")
        (third,) = runner.run_steps(broken, only="run")
        assert third.code == 0, third.text
        assert runner.outputs()["exit-code"] == "1"
    assert_no_secret(first.text, second.text, third.text, runner.files, runner.workspace)


def test_action_extra_args_and_usage_errors(runner: Runner) -> None:
    given = _inputs("http://127.0.0.1:9", **{"extra-args": "--max-tokens 0", "fail": "true"})
    (bad,) = runner.run_steps(given, only="run")
    assert bad.code == 2, bad.text
    assert runner.outputs()["exit-code"] == "2"
    assert "llmbench-async: error: " in bad.stderr and SECRET not in bad.text


def test_logged_command_line_masks_secrets() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("action", REPO / "ci" / "action.py")
    assert spec is not None and spec.loader is not None
    action = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(action)
    args = ["llmbench-async", "--base-url", f"https://u:{SECRET}@h/v1", "--api-key", SECRET]
    line = action.shown([*args, "-H", f"X-Token: {SECRET}", "-n", "5"])
    assert SECRET not in line
    assert line == (
        "llmbench-async --base-url 'https://***@h/v1' --api-key '***' -H 'X-Token: ***' -n 5"
    )
