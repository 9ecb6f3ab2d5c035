"""The application: routes each request and answers it, logging completions to the truth log.

Paths: GET /v1/models, POST /v1/chat/completions, /v1/completions, /v1/responses,
/v1/messages (Anthropic) and /v1/embeddings, GET /health, GET /metrics (Prometheus, see
`meter`). Routes go by the path's end, so any prefix and any query string are accepted:
Azure OpenAI's ``/openai/deployments/D/chat/completions?api-version=V`` serves model D when
the body names none.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from typing import Any, Final, cast

from .capacity import Slots
from .config import MockConfig
from .encode import encode_error
from .events import GZIP, gzip_body
from .http import JSON, Connection, Request, response_head
from .meter import CONTENT_TYPE as METRICS_TYPE
from .meter import Meter
from .plan import Api, Plan, Refusal, new_rid, plan_completion, refuse_auth
from .truth import Marks, TruthLog
from .writers import write_drip, write_stream, write_whole

__all__ = ["App"]

# route by the path's end, so any prefix (a proxy's, Azure's /openai/deployments/D) works
_ROUTES: Final = (
    ("/chat/completions", "chat"),
    ("/completions", "completions"),
    ("/responses", "responses"),
    ("/messages", "messages"),
    ("/embeddings", "embeddings"),
    ("/models", "models"),
    ("/health", "health"),
    ("/metrics", "metrics"),
)
_METHODS: Final = {
    "models": "GET",
    "health": "GET",
    "metrics": "GET",
    "chat": "POST",
    "completions": "POST",
    "responses": "POST",
    "messages": "POST",
    "embeddings": "POST",
}
_DEPLOYMENT: Final = re.compile(r"/openai/deployments/([^/]+)/")
_STATUS_DISCONNECTED: Final = 499  # logged when the client goes away mid-response


def _route(path: str) -> str | None:
    """The endpoint a path names, whatever its prefix (None: not found)."""
    for suffix, name in _ROUTES:
        if path.endswith(suffix):
            return name
    return None


class App:
    """Routes requests and writes responses; shared by all connections of one server."""

    def __init__(self, config: MockConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.connections: set[Connection] = set()
        self.log = TruthLog(config.log_path, loop.time(), loop)
        self._rng = random.Random(config.seed)
        self._slots = Slots(config.capacity, loop)
        self._meter = Meter(config.models, config.capacity)
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
        route = _route(req.path)
        if route is None:
            message = f"Not found: {req.method} {req.path}"
            self._refuse(conn, req, Refusal(404, message, code="not_found"))
        elif req.method != _METHODS[route]:
            self._not_allowed(conn, req, route)
        elif route == "models":
            refusal = refuse_auth(self.config, req.key)
            if refusal is not None:
                self._refuse(conn, req, refusal)
            else:
                self._send(conn, req, 200, self._models)
        elif route == "health":
            self._send(conn, req, 200, b"{}")
        elif route == "metrics":
            self._send(conn, req, 200, self._meter.render(), content_type=METRICS_TYPE)
        else:
            await self._completion(conn, req, cast(Api, route))

    def _not_allowed(self, conn: Connection, req: Request, route: str) -> None:
        allow = _METHODS[route]
        message = f"Method {req.method} not allowed for {req.path}."
        allow_line = b"allow: %s\r\n" % allow.encode()
        refusal = Refusal(405, message, code="method_not_allowed", headers=allow_line)
        self._refuse(conn, req, refusal, cast(Api, route) if route == "messages" else None)

    def _refuse(
        self, conn: Connection, req: Request, refusal: Refusal, api: Api | None = None
    ) -> None:
        self._send(conn, req, refusal.status, encode_error(refusal, api), refusal.headers)

    def _send(
        self,
        conn: Connection,
        req: Request,
        status: int,
        body: bytes,
        extra: bytes = b"",
        content_type: bytes = JSON,
    ) -> None:
        """A complete response, JSON unless told (gzip-compressed with `gzip`)."""
        if self.config.gzip:
            body, extra = gzip_body(body), extra + GZIP
        keep_alive = req.keep_alive
        head = response_head(
            status, content_type, keep_alive=keep_alive, length=len(body), extra=extra
        )
        conn.write(head)
        conn.write(body)

    async def _completion(self, conn: Connection, req: Request, api: Api) -> None:
        wall = self.log.wall(req.received) or time.time()
        deployment = _DEPLOYMENT.search(req.path)
        plan = plan_completion(
            req.body,
            api=api,
            config=self.config,
            rng=self._rng,
            wall_now=wall,
            key=req.key,
            deployment=deployment.group(1) if deployment else None,
            version=api != "messages" or req.version is not None,
        )
        if isinstance(plan, Refusal):
            self._refuse(conn, req, plan, api)
            marks = Marks()
            marks.headers = self.loop.time()
            self._log(req, new_rid(api), plan.status, marks, 0, fault=plan.fault)
            return
        marks = Marks(plan.reasoning)
        handle = self._meter.start(plan.model, plan.prompt_tokens, marks)
        try:
            if plan.slow_drip:
                await write_drip(conn, req, plan, marks, self.config.gzip)
            elif plan.stream and not plan.static_body:
                await write_stream(conn, req, plan, marks, self._slots, self.config.gzip)
            else:
                await write_whole(conn, req, plan, marks, self._slots, self.config.gzip)
        except asyncio.CancelledError:
            self._meter.finish(handle, "abort")
            if conn.closed:  # the client went away: record it, then let the task end
                self._log(req, plan.rid, _STATUS_DISCONNECTED, marks, plan.prompt_tokens, plan)
            raise
        cut = plan.disconnect or plan.error_event
        self._meter.finish(handle, "abort" if cut else plan.finish_reason)
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
            if plan.api == "embeddings":
                extra["inputs"] = plan.inputs
            if plan.structured is not None:  # what it sent: a tool call or JSON, valid or not
                extra["output"] = plan.structured.kind
                extra["output_valid"] = plan.structured.valid
                if plan.structured.name:
                    extra["tool"] = plan.structured.name
            if plan.images:
                extra["images"] = plan.images
                extra["image_bytes"] = plan.image_bytes
                extra["request_bytes"] = plan.request_bytes
            if self._slots.size is not None:
                extra["slot_acquired"] = self.log.wall(marks.slot)
            if len(self.config.models) > 1:  # which of the served models was asked for
                extra["model"] = plan.model
            extra.update(plan.truth)
        if self.config.truth_headers and req.headers is not None:
            got = {
                n: req.headers.get(n.lower().encode("latin-1")) for n in self.config.truth_headers
            }
            extra["headers"] = {n: v.decode("latin-1") for n, v in got.items() if v is not None}
        if fault is not None:
            extra["fault"] = fault
        self.log.write(
            rid=rid,
            path=req.path,
            status=status,
            received=req.received,
            arrived=req.arrived,
            headers_sent=marks.headers,
            first_token=marks.first,
            last_token=marks.last,
            tokens=marks.k,
            prompt_tokens=prompt_tokens,
            extra=extra,
        )
