"""The ready check (`--ready-timeout`): before a run, wait for the target to answer at all.

A CI job often starts the server beside the tool. The check polls `GET <base>/models` (or
the `--endpoint` URL, when one is given) with
a short, growing pause (0.1 s doubling to 1 s) until any answer below 500 comes (a 404 or
401 is an answer: the run's own checks then say what is wrong; a 503 is a server still
loading). A TLS failure ends the wait at once: it will not mend itself. When the time is
up, one line and exit 3 (`TargetError`).
"""

from __future__ import annotations

import time

import anyio
import httpx

from ..config import RunConfig
from ..errors import ErrorKind, TargetError, classify_exception
from ..redact import mask_url, safe_excerpt
from ..wire.assemble import key_headers

_FIRST_PAUSE_S = 0.1
_MAX_PAUSE_S = 1.0


async def wait_ready(http: httpx.AsyncClient, config: RunConfig, timeout_s: float) -> None:
    """Return once the target answers; a TargetError when `timeout_s` passes first."""
    # the endpoint, when given, is the target (without --base-url, base_url is a default)
    url = config.endpoint_url or config.models_url
    shown = mask_url(config.endpoint_url or config.base_url)
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_PAUSE_S
    last = "no answer"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TargetError(f"{shown} not ready after {timeout_s:g} s: {last}")
        with anyio.move_on_after(left):
            try:
                resp = await http.get(url, headers=key_headers(config))
            except Exception as exc:
                err = classify_exception(exc)
                last = safe_excerpt(err.message, config.secrets)
                if err.kind is ErrorKind.TLS:
                    hint = "; use --ca-bundle or --insecure"
                    raise TargetError(f"cannot reach {shown}: {last}{hint}") from None
            else:
                if resp.status_code < 500:
                    return
                last = f"HTTP {resp.status_code} from {mask_url(url)}"
        await anyio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        pause = min(pause * 2, _MAX_PAUSE_S)
