"""Multi-turn sessions: the turns of one conversation, each sent after the last one ended.

A session asks the runner for a request index per turn (None: the run's budget is spent),
builds the turn's body from the conversation so far, sends it through the runner's own
request path, and carries the reply (the server's streamed text, or the dataset's with
`replay_history`) into the next turn. A failed turn ends the session.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Protocol

import anyio

from ..records import RequestRecord
from .workload import Workload

__all__ = ["SendTurn", "Sessions"]


class SendTurn(Protocol):
    """The runner's request path: send `body` as request `index`, capture the reply text
    into `capture`, tag the record, hand it to the sink, and return it."""

    def __call__(
        self,
        index: int,
        scheduled: int,
        body: bytes | None = None,
        capture: list[str] | None = None,
        **tags: int,
    ) -> Awaitable[RequestRecord]: ...


@dataclass(slots=True)
class Sessions:
    """Runs sessions one after another for a worker (or one per open-loop arrival)."""

    workload: Workload
    first_session: int = 0
    think_time_s: float = 0.0
    replay_history: bool = False
    _ids: count[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ids = count(self.first_session)

    async def run(
        self, scheduled: int, claim: Callable[[int], int | None], send: SendTurn
    ) -> int | None:
        """One session from `scheduled` on: the instant its last reply ended (its final
        bytes' arrival), or None once `claim` says the budget is spent."""
        workload = self.workload
        sid = next(self._ids)
        conv = workload.conversation(sid)
        tags = {k: v for k, v in workload.tags(sid).items() if k != "inputs"}
        history: list[dict[str, Any]] = []
        ended = scheduled
        for turn in range(len(conv.users)):
            index = claim(scheduled)
            if index is None:
                return None
            user = workload.turn_user(sid, conv, turn)
            reply: list[str] = []
            body = workload.turn_body(conv, [*history, user], workload.model_of(sid))
            record = await send(index, scheduled, body, reply, session=sid, turn=turn + 1, **tags)
            ended = record.end_ns
            if not record.ok:
                return ended
            replayed = conv.reply(turn) if self.replay_history else None
            text = "".join(reply) if replayed is None else replayed
            history += [user, {"role": "assistant", "content": text}]
            # the next turn is due when this reply's final bytes arrived (plus the think
            # time), not when this task got round to it: that lateness is queue delay
            think_ns = int(self.think_time_s * 1e9)
            scheduled = record.end_ns + think_ns
            if think_ns and turn + 1 < len(conv.users):
                await anyio.sleep(max(0.0, (scheduled - time.perf_counter_ns()) / 1e9))
        return ended
