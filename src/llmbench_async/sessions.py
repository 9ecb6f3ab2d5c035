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

from .records import RequestRecord
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

    async def run(self, scheduled: int, claim: Callable[[int], int | None], send: SendTurn) -> bool:
        """One session from `scheduled` on; False once `claim` says the budget is spent."""
        workload = self.workload
        sid = next(self._ids)
        conv = workload.conversation(sid)
        tags = {k: v for k, v in workload.tags(sid).items() if k != "inputs"}
        history: list[dict[str, Any]] = []
        for turn in range(len(conv.users)):
            if turn:
                scheduled = time.perf_counter_ns()
            index = claim(scheduled)
            if index is None:
                return False
            user = workload.turn_user(sid, conv, turn)
            reply: list[str] = []
            body = workload.turn_body(conv, [*history, user])
            record = await send(index, scheduled, body, reply, session=sid, turn=turn + 1, **tags)
            if not record.ok:
                return True
            replayed = conv.reply(turn) if self.replay_history else None
            text = "".join(reply) if replayed is None else replayed
            history += [user, {"role": "assistant", "content": text}]
            if self.think_time_s > 0 and turn + 1 < len(conv.users):
                await anyio.sleep(self.think_time_s)
        return True
