"""A built-in OpenAI-compatible mock server with controllable timing and injectable faults.

Used by the demo (`--mock`), the tests and the benchmarks. It imports nothing else from
`llmbench_async` and uses no web framework. Importing this package is cheap: each public name
loads its module on first use, so `MockConfig` does not pull in asyncio or the server.

Modules, in the order data flows:

- `config`: `MockConfig`, every knob and its checks, and the retry hints;
- `plan`: one request -> a `Refusal` or a `Plan` (each token's instant, the faults drawn);
- `structured`: the tool call or schema-shaped JSON a request asks for (valid or not), and
  the images it carries;
- `events` (chat, completions), `responses`, `messages` (Anthropic): the bytes of a plan,
  pre-encoded SSE events and whole bodies; `tool_events`: those of a structured answer, per
  API; `encode` picks the API's encoder and error shape (embeddings bodies live there too);
- `http`: the HTTP/1.1 connection (parser, keep-alive, pipelining) and response heads;
- `capacity`: FIFO admission for `capacity`, with the running count;
- `writers`: writing a plan at its instants (whole, streamed, dripped, faults mid-stream);
- `app`: routing and the handlers; `truth`: the truth log of what the server did;
  `meter`: the server's state as Prometheus metrics in vLLM's names (``GET /metrics``);
- `server`: `serve` / `run_server` in this process; `process`: `MockProcess`, a child process.

Behaviours and faults (all decided per request in `plan`, all combinable):

- auth_key: a missing or wrong `Bearer` key gets `auth_status` (401) at once.
- fail_rate: that share of completion requests gets `fail_status` at once, with the
  `retry_after` hint in the `retry_after_header` header: `retry-after` and
  `llm_provider-retry-after` carry the value as given (seconds or an HTTP date),
  `retry-after-ms` carries it in milliseconds, `x-ratelimit-reset-requests` as an OpenAI
  duration (`1s`, `6m0s`, `20ms`); `none` sends no hint.
- capacity K: at most K successful completion responses generate at once. A request beyond
  K waits for a slot in FIFO order; its headers (and the chat role chunk) go out at once,
  and its ttft clock starts when it gets the slot. A response holds its slot from then until
  its last byte is written or the client leaves. Errors and slow-drip responses take none.
- reasoning_tokens N (chat only): N chunks with `delta.reasoning_content` " think1" ...
  " thinkN" come first at the same cadence, so the first content token comes N gaps after
  the first token; usage reports completion_tokens = N + content tokens and
  completion_tokens_details.reasoning_tokens = N; non-streaming messages carry
  `reasoning_content`. max_tokens caps only the content tokens.
- litellm_usage_shape: the usage chunk has choices [{"index":0,"delta":{}}] (completions:
  [{"index":0,"text":""}]) instead of [].
- no_usage: no usage chunk even when asked, and no usage in non-streaming bodies.
- no_done: streams end properly (last HTTP chunk, keep-alive) but without `data: [DONE]`.
- tools / response_format in the request: the answer is a tool call or schema-shaped JSON,
  one piece a token; invalid_output_rate R sends a share R of them invalid (broken JSON or a
  schema mismatch); the truth log says `output`, `output_valid`, `tool`.

Mid-stream faults strike at the fault point: content token ``n // 2`` of the ``n`` this
response has (after half of them, rounded down), after any reasoning chunks. They apply to
streamed responses only (`stream: true` and not `static_body`). At the fault point, in order:

- stall_ms: that token is written stall_ms late, and every later one with it.
- malformed_rate: the line ``data: {"id": broken`` goes out as one event, then the stream
  continues normally (the token count is unchanged).
- disconnect_rate: the connection is closed (FIN, after the bytes already written) instead
  of writing that token: no terminating HTTP chunk, no usage, no [DONE].
- error_event_rate: the API's error event goes out instead of that token, and the stream
  ends (terminating chunk; no usage, final event or [DONE]).
- huge_line_bytes N: that token's event is a valid content chunk whose `data:` line (without
  its line break) is exactly N bytes, written in HTTP chunks of at most 64 KiB as the client
  reads them; it counts as one token.

Whole-response faults:

- endless: content tokens keep coming at itl forever, ignoring max_tokens (jitter applies
  to the first `tokens` gaps only); a non-streaming request is never answered.
- slow_drip: after the response headers, one byte every 200 ms forever, never completing an
  SSE event or a JSON body. It overrides the other response behaviours.

The truth log gains a "fault" key (the faults applied, joined by "+", e.g. "stall+disconnect";
also "auth" and "fail") only on requests that had one, "reasoning_tokens" and
"first_content" when reasoning is on, and "slot_acquired" when capacity is set.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import RETRY_AFTER_HEADERS, MockConfig
    from .process import LISTENING_PREFIX, MockProcess
    from .server import run_server, serve

__all__ = [
    "LISTENING_PREFIX",
    "RETRY_AFTER_HEADERS",
    "MockConfig",
    "MockProcess",
    "run_server",
    "serve",
]

_HOME = {
    "LISTENING_PREFIX": "process",
    "MockConfig": "config",
    "MockProcess": "process",
    "RETRY_AFTER_HEADERS": "config",
    "run_server": "server",
    "serve": "server",
}


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use (PEP 562)."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
