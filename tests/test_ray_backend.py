"""`--ray`: config checks, the one-line error without the extra, and the cluster cases.

The cluster cases (ray_cluster_cases.py) run once, in a pytest of their own inside a
private network namespace with only `lo` up (`unshare`), so Ray binds to 127.0.0.1 and
never to the machine's interfaces. Each case's result is then asserted here by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from llmbench_async import RunConfig
from llmbench_async.config import ConfigError
from llmbench_async.loadgen.ray_backend import actor_count

HERE = Path(__file__).parent
CASES = (
    "test_exact_merge_over_three_nodes",
    "test_key_stays_out_of_ray",
    "test_ctrl_c_lets_every_actor_finish_its_requests_in_flight",
    "test_ctrl_c_cancels_what_outlasts_the_grace",
    "test_a_node_killed_mid_run",
)
# brings `lo` up in the new network namespace (what `ip link set lo up` does)
_LO_UP = (
    "import fcntl, socket, struct\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "flags = struct.unpack('16sH', fcntl.ioctl(s, 0x8913, struct.pack('16sH', b'lo', 0))[:18])[1]\n"
    "fcntl.ioctl(s, 0x8914, struct.pack('16sH', b'lo', flags | 1))\n"
)


def config(**changes: object) -> RunConfig:
    return RunConfig(base_url="http://127.0.0.1:9/v1", **changes)  # type: ignore[arg-type]


def test_ray_flags_are_checked() -> None:
    for changes, message in [
        ({"ray_actors": 2}, "--ray-actors needs --ray"),
        ({"ray_address": "local", "ray_per_node": 0}, "--ray-per-node must be at least 1"),
        ({"ray_address": "local", "ray_actors": 2, "ray_per_node": 1}, "exclude each other"),
        ({"ray_address": "a b"}, "--ray must be auto, local"),
    ]:
        with pytest.raises(ConfigError, match=message):
            config(**changes)


def test_a_bare_ray_means_auto_wherever_it_stands() -> None:
    """`--ray` takes an optional value: bare (last, or before another option) it is `auto`,
    so `--ray-per-node` is accepted and its own rule applies; given, the address is kept."""
    base = ("--base-url", "http://127.0.0.1:9/v1", "--model", "m", "-n", "1")
    for args in (("--ray", "--ray-per-node", "0"), ("--ray-per-node", "0", "--ray")):
        result = run_cli(*base, *args)
        assert result.code == 2
        assert result.stderr == "llmbench-async: error: --ray-per-node must be at least 1 (got 0)\n"
    result = run_cli(*base, "--prompt", "--ray", "--ray-actors", "2")  # a prompt, not --ray
    assert result.stderr == "llmbench-async: error: --ray-actors needs --ray\n"
    result = run_cli(*base, "--ray", "ray://a b:10001")
    assert result.stderr.startswith("llmbench-async: error: --ray must be auto, local")
    assert "'ray://a b:10001'" in result.stderr


def test_actor_count_follows_nodes_concurrency_and_flags() -> None:
    # default: one actor per node, never more than the concurrency or the requests
    assert actor_count(config(ray_address="auto", concurrency=8), 3) == (3, 3)
    assert actor_count(config(ray_address="auto", concurrency=2), 3) == (2, 2)
    assert actor_count(config(ray_address="auto", n=1, concurrency=8), 3) == (1, 1)
    assert actor_count(config(ray_address="auto", concurrency=8, ray_per_node=2), 3) == (6, 3)
    assert actor_count(config(ray_address="auto", concurrency=5, ray_per_node=2), 3) == (5, 3)
    assert actor_count(config(ray_address="auto", concurrency=8, ray_actors=4), 1)[0] == 4


def test_ray_without_the_extra_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class _NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _NoRay())\n"
    )
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    result = run_cli(
        *("--base-url", "http://127.0.0.1:9/v1", "--model", "m", "-n", "1", "--ray", "local"),
        env={"PYTHONPATH": path},
    )
    assert result.code == 2
    assert result.stderr == (
        "llmbench-async: error: --ray needs the ray package: uv sync --extra ray\n"
    )


def _netns_command() -> list[str]:
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "-r", "--net"]
    return [
        *unshare,
        sys.executable,
        "-c",
        _LO_UP + "import pytest, sys\nsys.exit(pytest.main(sys.argv[1:]))",
    ]


@pytest.fixture(scope="module")
def cluster_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], str]]:
    junit = tmp_path_factory.mktemp("ray") / "junit.xml"
    proc = subprocess.run(
        [
            *_netns_command(),
            str(HERE / "ray_cluster_cases.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",  # one process: the cases share one cluster, in file order
            f"--junitxml={junit}",
            f"--rootdir={HERE.parent}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=HERE.parent,
        env={
            **os.environ,
            "RAY_worker_register_timeout_seconds": "300",
            "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",  # `uv run pytest` would make Ray rebuild us
        },
        stdin=subprocess.DEVNULL,
    )
    outcomes: dict[str, str] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            outcomes[case.get("name", "")] = "failed" if failed else "passed"
    yield outcomes, (proc.stdout + proc.stderr)[-6000:]


@pytest.mark.parametrize("case", CASES)
def test_ray_cluster(case: str, cluster_results: tuple[dict[str, str], str]) -> None:
    outcomes, output = cluster_results
    assert outcomes.get(case) == "passed", output
