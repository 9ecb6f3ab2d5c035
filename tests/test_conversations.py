"""Multi-turn sessions and shared prefixes against the mock server's truth log: what each
turn carried (its prompt size), when it was sent, and the per-turn / per-group report."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from scripted_server import Received, Reply, scripted, sse

from llmbench_async import RunConfig, run
from llmbench_async.config import RetryPolicy
from llmbench_async.mock import MockConfig, MockProcess
from llmbench_async.records import RequestRecord

DATA = Path(__file__).parent / "data"
REPLY_WORDS = 5  # the mock's reply: one word per token


def _truth(log: Path) -> dict[str, dict[str, Any]]:
    return {obj["id"]: obj for obj in map(json.loads, log.read_text().splitlines())}


def _by_session(records: list[RequestRecord]) -> dict[int, list[RequestRecord]]:
    sessions: dict[int, list[RequestRecord]] = {}
    for r in sorted(records, key=lambda r: (r.session or 0, r.turn or 0)):
        assert r.session is not None
        sessions.setdefault(r.session, []).append(r)
    return sessions


def test_turns_carry_the_real_reply_and_wait_for_the_previous_turn(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    mock_config = MockConfig(ttft_ms=30, itl_ms=2, tokens=REPLY_WORDS, log_path=str(log))
    with MockProcess(mock_config) as mock:
        config = RunConfig(
            base_url=mock.base_url,
            n=6,
            concurrency=2,
            turns=3,
            input_tokens=(10, 0),
            think_time_s=0.05,
        )
        result = run(config)
    assert result.summary.ok == 6
    truth = _truth(log)
    sessions = _by_session(result.records)
    assert sorted(sessions) == [0, 1]  # sessions are the unit of concurrency: 2 at a time
    assert result.outcome.peak_in_flight == 2
    for turns in sessions.values():
        assert [r.turn for r in turns] == [1, 2, 3]
        for r in turns:
            # the server counted every word: 10 per user message and 5 per earlier reply
            t = r.turn or 0
            assert truth[r.response_id or ""]["prompt_tokens"] == 10 * t + REPLY_WORDS * (t - 1)
        for before, after in itertools.pairwise(turns):
            assert after.send_ns >= before.end_ns + 0.05e9  # think time after the reply
            server_end = truth[before.response_id or ""]["monotonic"]["last_token"]
            server_next = truth[after.response_id or ""]["monotonic"]["received"]
            assert server_next - server_end >= 0.05
    by_turn = result.summary.by_turn
    assert sorted(by_turn) == [1, 2, 3]
    assert all(stats["ttft_ms"].count == 2 for stats in by_turn.values())
    # never early; late only by scheduling noise (a loaded machine)
    assert all(28 <= stats["ttft_ms"].p50 <= 200 for stats in by_turn.values())


def _words(text: str) -> int:
    return len(text.split())


def test_dataset_conversations_with_and_without_replayed_history(tmp_path: Path) -> None:
    convs = [json.loads(line)["turns"] for line in (DATA / "conversations.jsonl").open()]
    first = convs[0]  # user, assistant, user, assistant, user
    user1, reply1, user2 = (_words(m["content"]) for m in first[:3])
    for replay in (False, True):
        log = tmp_path / f"truth-{replay}.jsonl"
        config = MockConfig(ttft_ms=0, itl_ms=0, tokens=REPLY_WORDS, log_path=str(log))
        with MockProcess(config) as mock:
            result = run(
                RunConfig(
                    base_url=mock.base_url,
                    n=2,
                    dataset=DATA / "conversations.jsonl",
                    replay_history=replay,
                    turns=2,
                )
            )
        assert result.summary.ok == 2
        truth = _truth(log)
        records = sorted(result.records, key=lambda r: r.turn or 0)
        assert [(r.session, r.turn) for r in records] == [(0, 1), (0, 2)]
        counted = [truth[r.response_id or ""]["prompt_tokens"] for r in records]
        carried = reply1 if replay else REPLY_WORDS
        assert counted == [user1, user1 + carried + user2]


def test_open_loop_arrivals_start_sessions_and_failed_turns_end_them() -> None:
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, tokens=2)) as mock:
        result = run(RunConfig(base_url=mock.base_url, n=6, rate=50, turns=2, seed=1))
    sessions = _by_session(result.records)
    assert len(sessions) == 3 and all(len(s) == 2 for s in sessions.values())
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, fail_rate=1.0, fail_status=500)) as mock:
        failing = run(RunConfig(base_url=mock.base_url, n=4, turns=3, retry=RetryPolicy(retries=0)))
    assert [r.turn for r in failing.records] == [1, 1, 1, 1]  # no turn after a failed one
    assert len({r.session for r in failing.records}) == 4


def test_messages_sessions_carry_the_streamed_reply_text() -> None:
    def script(got: Received) -> Reply:
        events = [(0.0, sse({"type": "message_start", "message": {"id": "m"}}))]
        for word in ("Hi", " there"):
            delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": word}}
            events.append((0.0, sse(delta)))
        events.append((0.0, sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}})))
        events.append((0.0, sse({"type": "message_stop"})))
        return Reply(events)

    with scripted(script) as server:
        result = run(RunConfig(base_url=server.base_url, api="messages", model="c", n=2, turns=2))
    assert result.summary.ok == 2
    second = server.log[1].json()["messages"]
    assert second[1] == {"role": "assistant", "content": "Hi there"}
    assert [m["role"] for m in second] == ["user", "assistant", "user"]


def test_shared_prefixes_group_requests_and_keep_the_asked_length(tmp_path: Path) -> None:
    log = tmp_path / "truth.jsonl"
    with MockProcess(MockConfig(ttft_ms=0, itl_ms=0, tokens=2, log_path=str(log))) as mock:
        result = run(
            RunConfig(
                base_url=mock.base_url,
                n=9,
                concurrency=3,
                input_tokens=(40, 0),
                prefix_tokens=30,
                prefix_groups=3,
            )
        )
    assert result.summary.ok == 9
    truth = _truth(log)
    assert all(truth[r.response_id or ""]["prompt_tokens"] == 40 for r in result.records)
    assert sorted(r.group for r in result.records) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert {r.group for r in result.records if r.index % 3 == 1} == {1}
    by_group = result.summary.by_group
    assert sorted(by_group) == [0, 1, 2]
    assert all(stats["e2e_ms"].count == 3 for stats in by_group.values())
