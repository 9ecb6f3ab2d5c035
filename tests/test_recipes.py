"""The documented install routes and CI commands, run exactly as they are printed.

The commands are copied out of README.md and docs/ (each block follows a
`<!-- ci-recipe: NAME -->` line), so the documentation and this test cannot drift. They run
in an empty directory outside this repository (a user's repository), with the wheel that
`uv build` makes, against the installed tool's own `mock-server`. The GitLab template's
script runs the same way."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

README = (REPO / "README.md").read_text(encoding="utf-8")
# the pages that hold recipes: the README, then docs/ (install.md, ci.md)
DOCS = "\n".join(
    p.read_text(encoding="utf-8") for p in [REPO / "README.md", *sorted(REPO.glob("docs/*.md"))]
)
FAST = ("--model", "my-model", "--ttft-ms", "20", "--itl-ms", "1", "--tokens", "8")
SLOW = ("--model", "my-model", "--ttft-ms", "120", "--itl-ms", "1", "--tokens", "8")


def recipe(name: str, kind: str = "ci-recipe") -> str:
    """The code block right after `<!-- {kind}: {name} -->` in README.md or docs/."""
    pattern = rf"<!-- {kind}: {re.escape(name)} -->\n```(\w+)\n(.*?)\n```"
    found = re.findall(pattern, DOCS, flags=re.S)
    assert len(found) == 1, f"README.md and docs/ have {len(found)} blocks marked {kind}: {name}"
    return str(found[0][1])


@dataclass(frozen=True)
class UserRepo:
    """An empty directory outside this repository with the wheel in dist/, and the
    environment a user's shell (or CI job) has."""

    root: Path
    tools: Path
    env: dict[str, str]

    def run(self, name: str, *, cwd: Path | None = None, **env: str) -> Shell:
        return bash(recipe(name), cwd or self.root, {**self.env, **env})

    def tool(self) -> Path:
        return self.tools / "bin" / "llmbench-async"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def uv_mode(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return uv_offline_or_online(wheel, tmp_path_factory.mktemp("uv-warm"))


def _user_repo(base: Path, wheel: Path, uv_mode: dict[str, str]) -> UserRepo:
    root, tools = base / "my-service", base / "home"
    (root / "dist").mkdir(parents=True)
    shutil.copy(wheel, root / "dist" / wheel.name)
    assert not (root / "pyproject.toml").exists() and REPO not in root.parents
    env = clean_env(tools, {**uv_mode, "OPENAI_API_KEY": SECRET})
    return UserRepo(root, tools, env)


@pytest.fixture
def user_repo(tmp_path: Path, wheel: Path, uv_mode: dict[str, str]) -> UserRepo:
    return _user_repo(tmp_path, wheel, uv_mode)


@pytest.fixture(scope="module")
def installed(
    tmp_path_factory: pytest.TempPathFactory, wheel: Path, uv_mode: dict[str, str]
) -> Iterator[UserRepo]:
    """A user's repository where the README's `uv tool install` route was followed."""
    repo = _user_repo(tmp_path_factory.mktemp("user"), wheel, uv_mode)
    res = repo.run("install-wheel")
    assert res.code == 0, res.text
    assert "Requests:         4 ok, 0 failed (4 total)" in res.stdout
    yield repo


def test_install_route_uv_tool(installed: UserRepo) -> None:
    tool = installed.tool()
    assert tool.is_file() and REPO not in tool.resolve().parents
    # the installed tool carries the mock server, and nothing of this repository is used
    res = bash("llmbench-async mock-server --help", installed.root, installed.env)
    assert res.code == 0 and "--capacity" in res.stdout


@pytest.mark.parametrize("route", ["uvx-wheel", "dev-dependency-wheel"])
def test_install_routes(user_repo: UserRepo, route: str) -> None:
    res = user_repo.run(route)
    assert res.code == 0, res.text
    assert "Requests:         4 ok, 0 failed (4 total)" in res.stdout
    if route == "dev-dependency-wheel":
        project = (user_repo.root / "pyproject.toml").read_text()
        assert "llmbench-async" in project and "[dependency-groups]" in project


def test_install_route_pipx(user_repo: UserRepo) -> None:
    """pipx, as a user has it; here pipx itself comes from PyPI through uvx (pip fetches the
    wheel's dependencies from PyPI too: this route needs PyPI, the others only uv's cache)."""
    shim = user_repo.tools / "pipx-shim"
    shim.mkdir(parents=True)
    (shim / "pipx").write_text('#!/bin/sh\nexec env -u UV_OFFLINE uvx pipx "$@"\n')
    (shim / "pipx").chmod(0o755)
    env = {
        "PATH": f"{user_repo.tools / 'pipx-bin'}:{shim}:{user_repo.env['PATH']}",
        "PIPX_HOME": str(user_repo.tools / "pipx-home"),
        "PIPX_BIN_DIR": str(user_repo.tools / "pipx-bin"),
    }
    res = user_repo.run("pipx-wheel", **env)
    assert res.code == 0, res.text
    assert (user_repo.tools / "pipx-bin" / "llmbench-async").exists()
    assert "Requests:         4 ok, 0 failed (4 total)" in res.stdout


def test_missing_extra_names_the_install_route(installed: UserRepo, user_repo: UserRepo) -> None:
    """The wheel installed without extras: --http2 needs h2, and the one-line error gives the
    command for the route the tool was installed by (uv tool, uvx, a uv project)."""
    tool = bash("llmbench-async --mock -n 1 --http2", installed.root, installed.env)
    assert tool.code == 2, tool.text
    assert tool.stderr.strip() == (
        "llmbench-async: error: --http2 needs the h2 package: "
        "uv tool install --with h2 llmbench-async"
    )
    wheel = '"$(ls dist/llmbench_async-*.whl)"'
    uvx = bash(
        f"uvx --from {wheel} llmbench-async --mock -n 1 --http2", user_repo.root, user_repo.env
    )
    assert uvx.code == 2, uvx.text
    assert uvx.stderr.strip().endswith(
        "--http2 needs the h2 package: uvx --with h2 llmbench-async ..."
    )
    project = bash(
        f"uv init -q --bare --name my-service && uv add -q --dev {wheel} && "
        "uv run llmbench-async --mock -n 1 --ray local",
        user_repo.root,
        user_repo.env,
    )
    assert project.code == 2, project.text
    assert project.stderr.strip().endswith(
        "--ray needs the ray package: uv add 'llmbench-async[ray]'"
    )


def _artefacts(root: Path) -> dict[str, object]:
    out = root / "llmbench"
    summary = json.loads((out / "summary.json").read_text())
    lines = (out / "results.jsonl").read_text().splitlines()
    junit = ET.parse(out / "junit.xml").getroot()
    return {
        "ok": summary["requests"]["ok"],
        "requests": sum('"type":"request"' in line for line in lines),
        "tests": int(junit.get("tests", "0")),
        "failures": int(junit.get("failures", "0")),
        "markdown": (out / "summary.md").read_text(),
    }


def test_ci_recipes_pass_fail_and_compare(installed: UserRepo) -> None:
    repo, port = installed, free_port()
    tool = repo.tool()
    with mock_server(tool, port, *FAST, "--auth-key", SECRET, env=repo.env) as base:
        run = repo.run("run", OPENAI_BASE_URL=base)
        assert run.code == 0, run.text
        got = _artefacts(repo.root)
        assert (got["ok"], got["requests"], got["tests"], got["failures"]) == (50, 50, 4, 0)
        assert "ttft.p95<800ms" in str(got["markdown"])
        first = repo.run("compare")  # the pipeline's first run: no baseline yet
        assert first.code == 0, first.text
        assert first.stderr.splitlines() == [
            "llmbench-async: no baseline at perf/baseline.json yet: saved this run "
            "(llmbench/summary.json) as the baseline"
        ]
        baseline = repo.root / "perf" / "baseline.json"
        assert baseline.read_bytes() == (repo.root / "llmbench" / "summary.json").read_bytes()
        baseline.unlink()
        assert repo.run("refresh-baseline").code == 0
        assert baseline.is_file()
        same = repo.run("compare")
        assert same.code == 0, same.text  # the baseline is this very run
    # the same endpoint, slowed down: thresholds still hold, the comparison fails
    with mock_server(tool, port, *SLOW, "--auth-key", SECRET, env=repo.env) as base:
        slow = repo.run("run", OPENAI_BASE_URL=base)
        assert slow.code == 0, slow.text
        compared = repo.run("compare")
        assert compared.code == 1, compared.text
        (line,) = compared.stderr.splitlines()
        assert line.startswith("llmbench-async: error: NEW is worse than BASE beyond tolerance:")
        # the p95 of 50 requests has no upper bound at 95 %: the p50 shows the regression
        assert "ttft.p50 +" in line and "!! " not in compared.stdout  # same settings
        assert (
            (repo.root / "llmbench" / "compare.md")
            .read_text()
            .startswith("### llmbench-async compare: ❌")
        )
    # a broken threshold: a fifth of the requests refused
    flags = (*FAST, "--fail-rate", "0.2", "--fail-status", "400", "--seed", "3")
    with mock_server(tool, port, *flags, env=repo.env) as base:
        broken = repo.run("run", OPENAI_BASE_URL=base)
        assert broken.code == 1, broken.text
        assert "thresholds failed: error_rate<1% (observed " in broken.stderr
        assert _artefacts(repo.root)["failures"] == 2  # error_rate and "no request failed"
    assert_no_secret(run.text, slow.text, compared.text, broken.text, repo.root)


def test_gitlab_template_job_runs(installed: UserRepo, wheel: Path) -> None:
    """The template's script, with the variables GitLab would set, in a fresh clone."""
    job = yaml.safe_load((REPO / "ci" / "gitlab-llmbench.yml").read_text())[".llmbench"]
    example = yaml.safe_load(recipe("gitlab", "ci-workflow"))
    assert example["llm-latency"]["extends"] == ".llmbench"
    assert set(example["llm-latency"]["variables"]) <= set(job["variables"])
    assert example["include"][0]["remote"].endswith("/v1/ci/gitlab-llmbench.yml")
    script = "\n".join(job["script"])
    port = free_port()
    # tokens 5 ms apart: no latency is 0, so no change is "from 0" (an infinite change)
    paced = ("--model", "my-model", "--ttft-ms", "20", "--itl-ms", "5", "--tokens", "8")
    with mock_server(installed.tool(), port, *paced, env=installed.env) as base:

        def job_run(**variables: str) -> Shell:
            env = {**installed.env, **job["variables"], **variables, "OPENAI_BASE_URL": base}
            return bash(script, installed.root, {**env, "LLMBENCH_INSTALL": str(wheel)})

        first = job_run(
            LLMBENCH_MODEL="my-model",
            LLMBENCH_N="20",
            LLMBENCH_THRESHOLDS="ttft.p95<800ms error_rate<1%",
            LLMBENCH_BASELINE="perf/gitlab-baseline.json",
        )
        assert first.code == 0, first.text
        assert (
            "llmbench-async: no baseline at perf/gitlab-baseline.json yet: saved this run "
            "(llmbench/summary.json) as the baseline"
        ) in first.stderr
        out = installed.root / "llmbench"
        saved = (installed.root / "perf" / "gitlab-baseline.json").read_bytes()
        assert saved == (out / "summary.json").read_bytes()
        assert json.loads((out / "summary.json").read_text())["requests"]["ok"] == 20
        (installed.root / "perf").mkdir(exist_ok=True)
        shutil.copy(out / "summary.json", installed.root / "perf" / "gitlab-baseline.json")
        broken = job_run(LLMBENCH_N="20", LLMBENCH_THRESHOLDS="ttft.p50<1ms")
        assert broken.code == 1, broken.text
        compared = job_run(
            LLMBENCH_N="20",
            LLMBENCH_BASELINE="perf/gitlab-baseline.json",
            LLMBENCH_MAX_REGRESSION="1000% ttft.p95=2000%",
        )
        assert compared.code == 0, compared.text
        assert "within 2000%" in (out / "compare.md").read_text()


def test_readme_install_lines_and_placeholders() -> None:
    """The first screen shows every route, with one placeholder for the repository."""
    first_screen = README[: README.index("## Quick start")]
    for line in (
        "uv tool install --compile-bytecode git+https://github.com/OWNER/llmbench-async@v1",
        "uvx --from git+https://github.com/OWNER/llmbench-async@v1 llmbench-async",
        "pipx install git+https://github.com/OWNER/llmbench-async@v1",
        "uv add --dev git+https://github.com/OWNER/llmbench-async@v1",
        "uses: OWNER/llmbench-async@v1",
    ):
        assert line in first_screen, line
    owners = set(re.findall(r"github\.com/([\w-]+)/llmbench-async", DOCS))
    owners |= set(re.findall(r"uses: ([\w-]+)/llmbench-async@", DOCS))
    assert owners == {"OWNER"}
    pyproject = (REPO / "pyproject.toml").read_text()
    assert set(re.findall(r"github\.com/([\w-]+)/llmbench-async", pyproject)) == {"OWNER"}


def test_wheel_carries_the_package_and_complete_metadata(wheel: Path) -> None:
    import zipfile

    package = REPO / "src" / "llmbench_async"
    src = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    assert "cli/options.py" in src and "mock/server.py" in src
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    assert {f"llmbench_async/{name}" for name in src} <= names  # the mock server included
    assert "llmbench_async/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata
    assert "Summary: A fast, honest load tester" in metadata
    assert "Requires-Python: >=3.11" in metadata
    assert metadata.count("Classifier: ") >= 10 and "Keywords: " in metadata
    for label in ("Homepage", "Repository", "Issues"):
        assert f"Project-URL: {label}, https://github.com/OWNER/llmbench-async" in metadata
    assert "\nllmbench-async = llmbench_async.cli:main" in (
        zipfile.ZipFile(wheel).read(metadata_name.replace("METADATA", "entry_points.txt")).decode()
    )
