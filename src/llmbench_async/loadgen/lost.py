"""When to stop sending: a target unusable from the start, or lost mid-run (`--lost-after`).

`Watch.attempted` is told of every attempt's outcome (None: success), before any backoff:

* before anything succeeded, a refused connection, DNS failure, connect timeout, TLS
  failure, 401/403 or 404 is not retried (the run stops at that request's record);
* later, `lost_after` target-gone failures in a row, with no success between them, trip
  the watch: the run stops at once (docs/target-failures.md says why attempts, and why 10).
"""

from __future__ import annotations

import time

from ..errors import ErrorKind, RequestError

DEFAULT_LOST_AFTER = 10

# failures that, before any success, mean the target is unusable: stop firing, no retries
FATAL_KINDS = frozenset(
    {
        ErrorKind.AUTH,
        ErrorKind.NOT_FOUND,
        ErrorKind.CONNECT,
        ErrorKind.CONNECT_TIMEOUT,
        ErrorKind.TLS,
    }
)
# failed attempts that say the target is gone: no connection, a connection dropped before
# any response, a 5xx (a proxy whose upstream died), a key or route withdrawn
_GONE_KINDS = frozenset(
    {
        ErrorKind.CONNECT,
        ErrorKind.CONNECT_TIMEOUT,
        ErrorKind.TLS,
        ErrorKind.HTTP_5XX,
        ErrorKind.AUTH,
        ErrorKind.NOT_FOUND,
    }
)
_GONE_BEFORE_RESPONSE = frozenset({ErrorKind.READ, ErrorKind.PROTOCOL})
# throttled or slow: these count only once nothing has succeeded for SLOW_WINDOW_NS (since
# the last success, or the run's start), so a target that throttles but still serves some
# requests is never called lost, and one where truly nothing succeeds is; until then they
# neither count nor clear the streak
_SLOW_KINDS = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.TIMEOUT, ErrorKind.READ_TIMEOUT})
SLOW_WINDOW_NS = 60_000_000_000
# a timeout after the window ends the run at once: each one already waited its timeout
_TIMEOUT_KINDS = frozenset({ErrorKind.TIMEOUT, ErrorKind.READ_TIMEOUT})


class Watch:
    """One run's (one process's) count of failed attempts in a row."""

    __slots__ = ("last_ok_ns", "lost", "lost_after", "ok_attempts", "streak")

    def __init__(self, lost_after: int = DEFAULT_LOST_AFTER) -> None:
        self.lost_after = lost_after  # 0: never trip
        self.streak = 0  # target-gone failed attempts since the last success
        self.ok_attempts = 0
        self.last_ok_ns = time.perf_counter_ns()  # the last success (or the run's start)
        self.lost: str | None = None  # why the watch tripped

    def attempted(self, error: RequestError | None) -> bool:
        """Note one attempt's outcome; True: do not retry it (the target is unusable, or
        lost: then `lost` holds the reason and the run must stop)."""
        if error is None:
            self.ok_attempts += 1
            self.streak = 0
            self.last_ok_ns = time.perf_counter_ns()
            return False
        if not self.ok_attempts and error.kind in FATAL_KINDS:
            return True
        if self.lost is not None:
            return True
        if error.kind in _SLOW_KINDS:
            gone = time.perf_counter_ns() - self.last_ok_ns >= SLOW_WINDOW_NS
        else:
            gone = error.kind in _GONE_KINDS or (
                error.kind in _GONE_BEFORE_RESPONSE and error.status is None
            )
        if not gone or not self.lost_after:
            return False
        if error.kind in _TIMEOUT_KINDS:
            # an attempt that waited its whole timeout, when nothing has succeeded for the
            # window: the target holds connections but serves nothing; at -c 1 ten such
            # attempts would hold the run ten timeouts long (10 min at the defaults)
            silent_s = (time.perf_counter_ns() - self.last_ok_ns) // 1_000_000_000
            self.lost = (
                f"nothing succeeded for {silent_s} s, the last {error.kind}: {error.message}"
            )
            return True
        self.streak += 1
        if self.streak < self.lost_after:
            return False
        self.lost = (
            f"{self.streak} attempts in a row failed, the last {error.kind}: {error.message}"
        )
        return True
