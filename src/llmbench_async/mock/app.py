"""The application: routes each request and answers it, logging completions to the truth log.

Paths: GET /v1/models, POST /v1/chat/completions, POST /v1/completions, GET /health.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any, Final

from .capacity import Slots
from .config import MockConfig
from .events import error_body
from .http import JSON, Connection, Request, response_head
from .plan import Plan, Refusal, plan_completion, refuse_auth
from .truth import Marks, TruthLog
from .writers import write_drip, write_stream, write_whole

__all__ = ["App"]

_CHAT_PATH: Final = "/v1/chat/completions"
_COMPLETIONS_PATH: Final = "/v1/completions"
_STATUS_DISCONNECTED: Final = 499  # logged when the client goes away mid-response


class App:
    """Routes requests and writes responses; shared by all connections of one server."""

    def __init__(self, config: MockConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.connections: set[Connection] = set()
        self.log = TruthLog(config.log_path, loop.time())
        self._rng = random.Random(config.seed)
        self._slots = Slots(config.capacity, loop)
        models = [
            {"id": m, "object": "model", "created": 0, "owned_by": "llmbench-async"}
            for m in config.models
        ]
        self._models = json.dumps({"object": "list", "data": models}).encode()

    async def close(self) -> None:
        """Drop every connection, wait for their handlers to unwind, then close the log."""
        tasks = [t for t in (conn.abort() for conn in list(self.connections)) if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self.log.close()

    async def handle(self, conn: Connection, req: Request) -> None:
        if req.error is not None:
            status, message = req.error
            self._refuse(conn, req, Refusal(status, message))
            return
        path, method = req.path, req.method
        if path == "/v1/models":
            refusal = refuse_auth(self.config, req.authorization)
            if refusal is not None:
                self._refuse(conn, req, refusal)
            elif method == "GET":
                self._send(conn, req, 200, self._models)
            else:
                self._not_allowed(conn, req, "GET")
        elif path in (_CHAT_PATH, _COMPLETIONS_PATH):
            if method == "POST":
                await self._completion(conn, req)
            else:
                self._not_allowed(conn, req, "POST")
        elif path == "/health":
            self._send(conn, req, 200, b"{}")
        else:
            self._refuse(conn, req, Refusal(404, f"Not found: {method} {path}", code="not_found"))

    def _not_allowed(self, conn: Connection, req: Request, allow: str) -> None:
        message = f"Method {req.method} not allowed for {req.path}."
        allow_line = b"allow: %s\r\n" % allow.encode()
        self._refuse(
            conn, req, Refusal(405, message, code="method_not_allowed", headers=allow_line)
        )

    def _refuse(self, conn: Connection, req: Request, refusal: Refusal) -> None:
        self._send(conn, req, refusal.status, error_body(refusal), refusal.headers)

    def _send(
        self, conn: Connection, req: Request, status: int, body: bytes, extra: bytes = b""
    ) -> None:
        """A complete JSON response."""
        keep_alive = req.keep_alive
        conn.write(
            response_head(status, JSON, keep_alive=keep_alive, length=len(body), extra=extra)
        )
        conn.write(body)

    async def _completion(self, conn: Connection, req: Request) -> None:
        chat = req.path == _CHAT_PATH
        wall = self.log.wall(req.received) or time.time()
        plan = plan_completion(
            req.body,
            chat=chat,
            config=self.config,
            rng=self._rng,
            wall_now=wall,
            authorization=req.authorization,
        )
        if isinstance(plan, Refusal):
            self._refuse(conn, req, plan)
            marks = Marks()
            marks.headers = self.loop.time()
            rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
            self._log(req, rid, plan.status, marks, 0, fault=plan.fault)
            return
        marks = Marks(plan.reasoning)
        try:
            if plan.slow_drip:
                await write_drip(conn, req, plan, marks)
            elif plan.stream and not plan.static_body:
                await write_stream(conn, req, plan, marks, self._slots)
            else:
                await write_whole(conn, req, plan, marks, self._slots)
        except asyncio.CancelledError:
            if conn.closed:  # the client went away: record it, then let the task end
                self._log(req, plan.rid, _STATUS_DISCONNECTED, marks, plan.prompt_tokens, plan)
            raise
        self._log(req, plan.rid, 200, marks, plan.prompt_tokens, plan)

    def _log(
        self,
        req: Request,
        rid: str,
        status: int,
        marks: Marks,
        prompt_tokens: int,
        plan: Plan | None = None,
        *,
        fault: str | None = None,
    ) -> None:
        if not self.log.enabled:
            return
        extra: dict[str, Any] = {}
        if plan is not None:
            fault = "+".join(plan.faults) or None
            if plan.reasoning:
                extra["reasoning_tokens"] = plan.reasoning
                extra["first_content"] = self.log.wall(marks.content)
            if self._slots.size is not None:
                extra["slot_acquired"] = self.log.wall(marks.slot)
        if fault is not None:
            extra["fault"] = fault
        self.log.write(
            rid=rid,
            path=req.path,
            status=status,
            received=req.received,
            headers_sent=marks.headers,
            first_token=marks.first,
            last_token=marks.last,
            tokens=marks.k,
            prompt_tokens=prompt_tokens,
            extra=extra,
        )
