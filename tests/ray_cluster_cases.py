"""`--ray` on Ray's own multi-node test cluster (a head and two nodes, one CPU each).

Not collected by a plain `pytest` (the name does not start with test_): test_ray_backend.py
runs this file in a private network namespace with only `lo` up, so every Ray connection
stays on 127.0.0.1. The cluster is shared by the cases, which run in file order; the last
one kills a node.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import start_cli

from llmbench_async import RunConfig, run
from llmbench_async.loadgen.ray_backend import import_ray
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.records import read_results
from llmbench_async.results.stats import summarize

ray = import_ray()  # sets Ray's environment first (no `uv run` in its workers)
from ray.cluster_utils import Cluster  # noqa: E402

SECRET = f"sk-ray-secret-{os.getpid()}-4f9c2e7a"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    fast_health = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}
    lean = {"num_cpus": 1, "include_dashboard": False, "include_log_monitor": False}
    c = Cluster(initialize_head=True, head_node_args={**lean, "_system_config": fast_health})
    for _ in range(2):
        c.add_node(**lean)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def assert_exact_merge(records_path: Path, summary: Any) -> None:
    from_file = summarize(read_results(records_path).records)
    assert from_file.metrics == summary.metrics
    assert from_file.samples == summary.samples
    assert (from_file.ok, from_file.total, from_file.duration_s) == (
        summary.ok,
        summary.total,
        summary.duration_s,
    )


def test_exact_merge_over_three_nodes(
    cluster: Cluster, fast_mock: MockProcess, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    config = RunConfig(
        base_url=fast_mock.base_url,
        api_key=SECRET,
        n=60,
        concurrency=6,
        ray_address=cluster.address,
        output=out,
    )
    result = run(config)
    assert result.summary.ok == 60
    assert sorted(r.index for r in result.records) == list(range(60))
    assert_exact_merge(out, result.summary)
    # one actor per node (STRICT_SPREAD): the records carry three distinct nodes
    nodes = {r.extra["node_id"] for r in result.records}
    assert len(nodes) == 3
    ray_block = result.client_stats["ray"]
    assert ray_block["nodes"] == 3 and ray_block["lost"] == 0
    assert [a["requests"] for a in ray_block["actors"]] == [20, 20, 20]
    assert all(a["peak_in_flight"] == 2 for a in ray_block["actors"])
    # one host's latencies: the mock's TTFT of 50 ms
    assert 49 <= result.summary.metrics["ttft_ms"].p50 <= 65
    assert ray_block["start_spread_ms"] < 100
    assert result.summary.duration_s < 5


def test_key_stays_out_of_ray(cluster: Cluster) -> None:
    """After a run with SECRET (the case above), neither Ray's session logs nor the cluster
    state it keeps in the GCS (what `ray list actors/jobs/placement-groups` shows) hold it."""
    logs = glob.glob("/tmp/ray/session_*/logs/**/*", recursive=True)
    assert any("worker" in os.path.basename(p) for p in logs)
    for path in logs:
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                assert SECRET.encode() not in fh.read(), path
    from ray._private import state

    ray.init(address=cluster.address, logging_level="WARNING")
    try:
        actors = state.actors()
        tables = [actors, state.state.job_table(), state.state.placement_group_table()]
        tables += [state.workers(), state.nodes()]
    finally:
        ray.shutdown()
    assert any(a["ActorClassName"].endswith("LoadActor") for a in actors.values())
    dump = repr(tables)
    assert SECRET not in dump and SECRET[-12:] not in dump


def wait_for_lines(proc: subprocess.Popen[str], path: Path, count: int) -> None:
    """Until the run has written `count` lines (Ray's start-up takes seconds, minutes on a
    loaded machine: actor processes import Ray and this package)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        if proc.poll() is not None:
            stderr = proc.communicate()[1][-800:]
            raise AssertionError(f"the run ended early ({proc.returncode}): {stderr}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{path} did not reach {count} lines: {proc.communicate()[1][-800:]}")


def _records_in(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if '"type":"request"' in line)


def interrupt_mid_run(
    address: str, mock: MockProcess, tmp_path: Path, grace_s: float, wait_for: int
) -> tuple[subprocess.CompletedProcess[str], int, Path, dict[str, Any]]:
    """A CLI run of 6 slots over the three nodes (two per actor), Ctrl-C once `wait_for`
    records are in: the result, the records in the file at the signal, the file, the JSON.
    A bare `--ray` (auto) finds the cluster by $RAY_ADDRESS."""
    out, summary_json = tmp_path / "r.jsonl", tmp_path / "s.json"
    proc = start_cli(
        *("--base-url", mock.base_url, "--model", "mock-model", "-n", "3000", "-c", "6"),
        *("--ray", "--grace", str(grace_s), "-o", str(out), "--json", str(summary_json)),
        env={"RAY_ADDRESS": address},
    )
    wait_for_lines(proc, out, 1 + wait_for)
    before = _records_in(out)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=90)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return done, before, out, json.loads(summary_json.read_text())


def assert_stopped_and_kept(done: subprocess.CompletedProcess[str], out: Path) -> None:
    assert done.returncode == 130, done.stderr[-800:]
    assert "stopping the Ray actors" in done.stderr
    assert "interrupted by SIGINT" in done.stdout
    saved = read_results(out)
    assert saved.footer is not None and saved.footer["interrupted_by"] == "SIGINT"
    indices = [r.index for r in saved.records]
    assert len(set(indices)) == len(indices) < 3000
    assert all(r.ok for r in saved.records)  # a cancelled request leaves no record


def test_ctrl_c_lets_every_actor_finish_its_requests_in_flight(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Requests of ~1.2 s, --grace 30: at the signal each of the 6 slots has one request in
    flight; every one of them finishes and is recorded, none is cancelled."""
    with MockProcess(MockConfig(ttft_ms=200, itl_ms=20, tokens=50)) as mock:
        done, before, out, doc = interrupt_mid_run(cluster.address, mock, tmp_path, 30.0, 12)
    assert_stopped_and_kept(done, out)
    after = _records_in(out)
    assert after >= before + 6, (before, after)
    assert read_results(out).footer["cancelled"] == 0  # type: ignore[index]
    assert doc["requests"]["cancelled"] == 0 and doc["requests"]["total"] == after
    assert doc["client"]["ray"]["lost"] == 0  # stopped, not lost


def test_ctrl_c_cancels_what_outlasts_the_grace(cluster: Cluster, tmp_path: Path) -> None:
    """Requests of ~3 s, --grace 0.5: the 6 requests in flight at the signal (two on each
    actor) outlast the grace, so exactly 6 are cancelled and counted, none recorded."""
    with MockProcess(MockConfig(ttft_ms=100, itl_ms=60, tokens=50)) as mock:
        done, before, out, doc = interrupt_mid_run(cluster.address, mock, tmp_path, 0.5, 6)
    assert_stopped_and_kept(done, out)
    assert _records_in(out) == doc["requests"]["total"] < before + 6
    assert read_results(out).footer["cancelled"] == 6  # type: ignore[index]
    assert doc["requests"]["cancelled"] == 6
    assert doc["client"]["ray"]["lost"] == 0


def test_a_node_killed_mid_run(cluster: Cluster, fast_mock: MockProcess, tmp_path: Path) -> None:
    out, summary_json = tmp_path / "r.jsonl", tmp_path / "s.json"
    proc = start_cli(
        *("--base-url", fast_mock.base_url, "--model", "mock-model", "-n", "300", "-c", "6"),
        *("--ray", cluster.address, "-o", str(out), "--json", str(summary_json)),
    )
    wait_for_lines(proc, out, 30)
    victim = cluster.list_all_nodes()[-1]  # a worker node, not the head
    cluster.remove_node(victim, allow_graceful=False)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-800:]
    doc = json.loads(summary_json.read_text())
    ray_block = doc["client"]["ray"]
    dead = [a for a in ray_block["actors"] if a["error"]]
    assert len(dead) == 1 and ray_block["lost_nodes"]
    # the survivors finished their shares; what the dead one owed is counted as lost
    assert all(a["requests"] == a["planned"] for a in ray_block["actors"] if not a["error"])
    assert ray_block["lost"] == dead[0]["planned"] - dead[0]["requests"] > 0
    assert doc["requests"]["ok"] + ray_block["lost"] == 300
    assert f"requests lost with node {dead[0]['node']}" in stdout
    # the summary of the run is the one `report` computes from its results file
    from_file = summarize(read_results(out).records)
    assert doc["requests"]["total"] == from_file.total
    assert doc["metrics"]["e2e_ms"] == json.loads(json.dumps(from_file.metrics["e2e_ms"].to_json()))
