"""The live Prometheus feed (`--prometheus-port`, watch/feed.py): scraped over HTTP while a
real run goes, its values against the run's own records (the JSONL), and its edges: a port
in use, a free port asked for with 0, the linger after the run, bad flags."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import StartMock, run_cli, start_cli, wait_for_records
from prometheus_client.parser import text_string_to_metric_families

from llmbench_async.records import RequestRecord
from llmbench_async.watch.feed import (
    E2E_BUCKETS_S,
    ITL_BUCKETS_S,
    TTFT_BUCKETS_S,
    LiveFeed,
    new_run_id,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples | None:
    """Every sample of the feed at `port` ((name, labels) → value); None if it is down."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def pick(samples: Samples, name: str, **labels: str) -> list[float]:
    """Values of `name` whose labels include `labels`."""
    return [
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == x for k, x in labels.items())
    ]


def records(path: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in lines if r["type"] == "request"]


def footer_written(path: Path) -> bool:
    return path.exists() and '"type":"footer"' in path.read_text().replace(" ", "")


def final_scrape(proc: subprocess.Popen[str], port: int, within_s: float = 15) -> Samples | None:
    """Scrape until the lingering process exits: the last answer is the one that read the
    final values (a scrape before the linger began does not end it, the next one does)."""
    last = None
    deadline = time.monotonic() + within_s
    while proc.poll() is None and time.monotonic() < deadline:
        got = scrape(port)
        last = got if got is not None else last
        time.sleep(0.1)
    return last


@pytest.fixture
def slow_mock(start_mock: StartMock) -> Iterator[str]:
    # ~0.1 s a request, one in five refused (400): both outcomes, several in flight
    mock = start_mock(
        ttft_ms=40, itl_ms=5, tokens=12, jitter_ms=3, fail_rate=0.2, fail_status=400, seed=7
    )
    yield mock.base_url


def test_feed_during_a_run_agrees_with_the_records(slow_mock: str, tmp_path: Path) -> None:
    port, out = free_port(), tmp_path / "r.jsonl"
    proc = start_cli(
        "--base-url", slow_mock, "-n", "60", "-c", "4", "--retries", "0", "-o", str(out),
        "--prometheus-port", str(port), "--prometheus-linger", "20s", "-q",
    )  # fmt: skip
    during: list[Samples] = []
    try:
        deadline = time.monotonic() + 60
        while not footer_written(out) and time.monotonic() < deadline:
            got = scrape(port)
            if got is not None:
                during.append(got)
            time.sleep(0.05)
        assert footer_written(out), "the run did not end"
        ended = time.monotonic()
        final = final_scrape(proc, port)  # the first scrape after the run ends the linger
        code = proc.wait(timeout=10)
        lingered = time.monotonic() - ended
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    assert final is not None and len(during) >= 5
    assert lingered < 12, lingered  # ended by that scrape, not by the 20 s linger
    rows = records(out)
    header = json.loads(out.read_text().splitlines()[0])
    run_id = header["prometheus_run_id"]
    labels = {"run_id": run_id, "model": "mock-model"}

    # while it ran: requests in flight, at most the concurrency, and counters only rising
    flights = [v for s in during for v in pick(s, "llmbench_requests_in_flight", **labels)]
    assert flights and max(flights) <= 4 and any(v >= 1 for v in flights), flights
    totals = [sum(pick(s, "llmbench_requests_total", **labels)) for s in during]
    assert totals == sorted(totals) and totals[-1] <= 60
    # after it: no in-flight gauge (nothing is in flight), and every count is the records'
    assert pick(final, "llmbench_requests_in_flight") == []
    ok = [r for r in rows if r["error_kind"] is None]
    failed = [r for r in rows if r["error_kind"] is not None]
    assert len(rows) == 60 and ok and failed
    assert pick(final, "llmbench_requests_total", outcome="ok", **labels) == [len(ok)]
    for kind in {str(r["error_kind"]) for r in failed}:
        n = sum(r["error_kind"] == kind for r in failed)
        assert pick(final, "llmbench_requests_total", outcome=kind, **labels) == [n]
    tokens = sum(int(r["output_tokens"] or 0) for r in ok)  # type: ignore[call-overload]
    assert pick(final, "llmbench_output_tokens_total", **labels) == [tokens]
    ttft = [int(r["first_token_ns"]) - int(r["send_ns"]) for r in ok]  # type: ignore[call-overload]
    e2e = [int(r["end_ns"]) - int(r["send_ns"]) for r in ok]  # type: ignore[call-overload]
    gaps = [int(g) for r in ok for g in r["token_gaps_ns"]]  # type: ignore[attr-defined]
    for name, values, edges in (
        ("llmbench_ttft_seconds", ttft, TTFT_BUCKETS_S),
        ("llmbench_e2e_seconds", e2e, E2E_BUCKETS_S),
        ("llmbench_itl_seconds", gaps, ITL_BUCKETS_S),
    ):
        assert pick(final, f"{name}_count", **labels) == [len(values)], name
        assert pick(final, f"{name}_sum", **labels)[0] == pytest.approx(sum(values) / 1e9)
        for edge in edges:  # each bucket: the values at or under its edge
            want = sum(v <= round(edge * 1e9) for v in values)
            assert pick(final, f"{name}_bucket", le=repr(edge), **labels) == [want], (name, edge)
        assert pick(final, f"{name}_bucket", le="+Inf", **labels) == [len(values)]


def test_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run_cli(
            "--mock", "-n", "1", "--prometheus-port", str(port), "-o", str(tmp_path / "r")
        )
    assert res.code == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "in use" in res.stderr, res.stderr
    assert not (tmp_path / "r").exists()  # refused before the run


@pytest.mark.parametrize(
    "args",
    [
        ("--prometheus-port", "70000"),
        ("--prometheus-port", "-1"),
        ("--prometheus-port", "x"),
        ("--prometheus-port", "0", "--prometheus-host", "a b"),
        ("--prometheus-port", "0", "--prometheus-host", "256.1.1.1.1"),
        ("--prometheus-port", "0", "--prometheus-linger", "-3s"),
        ("--prometheus-port", "0", "--prometheus-linger", "soon"),
    ],
)
def test_bad_feed_flags_are_one_line_exit_2(args: tuple[str, ...]) -> None:
    res = run_cli("--mock", "-n", "1", *args)
    assert res.code == 2, res.stderr
    assert res.stderr.count("\n") == 1, res.stderr


def test_port_0_is_a_free_port_announced_and_linger_0_stops_at_once(
    instant_mock_url: str,
) -> None:
    started = time.monotonic()
    res = run_cli(
        "--base-url", instant_mock_url, "-n", "3", "--prometheus-port", "0",
        "--prometheus-linger", "0", "--json", "-",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    line = [x for x in res.stderr.splitlines() if "Prometheus metrics at" in x]
    assert len(line) == 1 and "http://127.0.0.1:" in line[0] and ":0/" not in line[0], line
    assert time.monotonic() - started < 20


def test_linger_waits_for_no_scrape_longer_than_asked(instant_mock_url: str) -> None:
    started = time.monotonic()
    res = run_cli(
        "--base-url", instant_mock_url, "-n", "2", "--prometheus-port", str(free_port()),
        "--prometheus-linger", "1500ms", "-q",
    )  # fmt: skip
    took = time.monotonic() - started
    assert res.code == 0 and res.stderr == "", res.stderr
    assert took >= 1.5  # nobody scraped: the whole linger, and no more than a few seconds
    assert took < 15


def _record(**kw: object) -> RequestRecord:
    base: dict[str, object] = {"index": 0, "scheduled_ns": 0, "send_ns": 0, "end_ns": 10**9}
    return RequestRecord(**{**base, **kw})  # type: ignore[arg-type]


def test_bucket_edges_are_inclusive_and_labels_are_bounded() -> None:
    feed = LiveFeed(new_run_id())
    feed.begin("m\n" + "x" * 500)
    edge = round(TTFT_BUCKETS_S[3] * 1e9)
    feed.add(_record(first_token_ns=edge, token_gaps_ns=(1_000_000, 1_000_001)))
    feed.add(_record(error_kind="http_5xx"))
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(feed)
    text = generate_latest(registry).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    model = "m " + "x" * 126  # one line, 128 characters
    at = pick(samples, "llmbench_ttft_seconds_bucket", le=repr(TTFT_BUCKETS_S[3]), model=model)
    below = pick(samples, "llmbench_ttft_seconds_bucket", le=repr(TTFT_BUCKETS_S[2]))
    assert at == [1.0] and below == [0.0]  # a value on an edge is in that edge's bucket
    itl = [pick(samples, "llmbench_itl_seconds_bucket", le=repr(e))[0] for e in ITL_BUCKETS_S]
    assert itl[0] == 1.0 and itl[1] == 2.0  # 1 ms exactly, and 1 ms + 1 ns
    assert pick(samples, "llmbench_requests_total", outcome="http_5xx") == [1.0]


def _run_then_final_scrape(
    *args: str, out: Path, port: int, done: Path | None = None
) -> tuple[int, Samples, str]:
    """Start a run with the feed on `port` lingering, wait for the footer of its results
    file `done` (default `out`: a sweep writes one file per level), then take the final
    scrape (which ends the linger): (exit code, samples, stderr)."""
    done = out if done is None else done
    proc = start_cli(
        *args, "-o", str(out), "--prometheus-port", str(port), "--prometheus-linger", "20s", "-q"
    )
    try:
        deadline = time.monotonic() + 60
        while not footer_written(done) and time.monotonic() < deadline:
            time.sleep(0.05)
        final = final_scrape(proc, port)
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert final is not None
    return code, final, proc.stderr.read() if proc.stderr else ""


def test_workers_feed_every_record_without_an_in_flight_gauge(
    instant_mock_url: str, tmp_path: Path
) -> None:
    out, port = tmp_path / "r.jsonl", free_port()
    code, final, err = _run_then_final_scrape(
        "--base-url", instant_mock_url, "-n", "30", "-c", "4", "--workers", "2",
        out=out, port=port,
    )  # fmt: skip
    assert code == 0, err
    assert sum(pick(final, "llmbench_requests_total")) == len(records(out)) == 30
    assert sum(pick(final, "llmbench_ttft_seconds_count")) == 30
    assert pick(final, "llmbench_requests_in_flight") == []


def test_a_sweep_is_one_run_id_whose_counts_add_up(instant_mock_url: str, tmp_path: Path) -> None:
    out, port = tmp_path / "r.jsonl", free_port()
    code, final, err = _run_then_final_scrape(
        "--base-url", instant_mock_url, "-n", "5", "-c", "1,2",
        out=out, port=port, done=tmp_path / "r.c2.jsonl",
    )  # fmt: skip
    assert code == 0, err
    totals = {
        dict(ls)["run_id"]: v for (n, ls), v in final.items() if n == "llmbench_requests_total"
    }
    assert len(totals) == 1 and list(totals.values()) == [10.0]  # two levels of 5


def test_ctrl_c_ends_the_linger(instant_mock_url: str, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    port = str(free_port())
    proc = start_cli("--base-url", instant_mock_url, "-n", "3", "-o", str(out),
                     "--prometheus-port", port, "--prometheus-linger", "60s", "-q")  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not footer_written(out) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the report is out; the linger has begun
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)  # not 60 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    assert code == 0 and "Traceback" not in err, err  # the run's own result stands


def test_python_api_serves_the_feed_from_observe_options(instant_mock_url: str) -> None:
    from llmbench_async.config import ObserveOptions, RunConfig
    from llmbench_async.session.run import run

    port = free_port()
    seen: list[Samples] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            got = scrape(port)
            if got is not None:
                seen.append(got)
            time.sleep(0.02)

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        config = RunConfig(base_url=instant_mock_url, model="mock-model", n=20, concurrency=2)
        options = ObserveOptions(prometheus_port=port, prometheus_linger_s=5.0)
        result = run(config, observe=options)
    finally:
        stop.set()
        thread.join()
    assert result.summary.ok == 20
    # the linger ended at the first scrape after the run, which read all 20
    assert seen and max(sum(pick(s, "llmbench_requests_total")) for s in seen) == 20


def test_a_run_stopped_by_ctrl_c_does_not_linger(slow_mock: str, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    proc = start_cli("--base-url", slow_mock, "--duration", "60s", "-c", "2", "-o", str(out),
                     "--prometheus-port", str(free_port()), "--prometheus-linger", "60s",
                     "--grace", "1s", "-q")  # fmt: skip
    try:
        wait_for_records(out, 3)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)  # grace and report, not the 60 s linger
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130
