"""Per-request identity headers: a unique request id (`X-Request-Id` by default, or the name
`--request-id-header` gives) and, with `--traceparent`, a W3C `traceparent`.

Both are extra headers of one request, beside the run's fixed ones (`Target.headers`), so
a transport that builds its head from a per-target template adds them as they are.

* The request id is made once per request: every retry of it carries the same one, so a
  server's logs show the attempts of one request together.
* The trace: each request is its own trace (a random 32-hex trace id, recorded as the
  record's `trace_id`); each attempt is a new span of it (a random 16-hex parent id), as
  W3C Trace Context asks of every outgoing call. One trace per request keeps a trace
  viewer's traces small; the run's trace ids are in its results file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_REQUEST_ID_HEADER = "X-Request-Id"


@dataclass(frozen=True, slots=True)
class RequestIdentity:
    """What identifies one request (all its attempts) on the wire."""

    request_id: str | None  # None: --request-id-header none
    trace_id: str | None  # None: no --traceparent


def new_identity(request_id_header: str | None, traceparent: bool) -> RequestIdentity:
    """A fresh request id (32 hex digits, random) and trace id, each only when sent."""
    request_id = os.urandom(16).hex() if request_id_header else None
    trace_id = _nonzero_hex(16) if traceparent else None
    return RequestIdentity(request_id, trace_id)


def identity_headers(
    identity: RequestIdentity, request_id_header: str | None
) -> tuple[tuple[bytes, bytes], ...]:
    """The extra headers of one attempt: the request id, and a `traceparent` whose parent
    (span) id is new for this attempt (`00-TRACE-SPAN-01`: version 00, sampled)."""
    headers: list[tuple[bytes, bytes]] = []
    if request_id_header and identity.request_id is not None:
        headers.append((request_id_header.encode("latin-1"), identity.request_id.encode()))
    if identity.trace_id is not None:
        value = f"00-{identity.trace_id}-{_nonzero_hex(8)}-01"
        headers.append((b"traceparent", value.encode()))
    return tuple(headers)


def _nonzero_hex(size: int) -> str:
    """`size` random bytes as hex; all zeros is invalid in W3C Trace Context."""
    while True:
        value = os.urandom(size)
        if any(value):
            return value.hex()
