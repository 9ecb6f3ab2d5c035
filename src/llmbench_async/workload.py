"""What to send: the request body for each request of a run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .config import Api


@dataclass(frozen=True, slots=True)
class Workload:
    """A fixed prompt sent as every request (the same bytes each time)."""

    api: Api
    model: str
    prompt: str
    max_tokens: int
    stream: bool
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        encoded = _encode(self.api, self.model, self.prompt, self.max_tokens, self.stream)
        object.__setattr__(self, "_encoded", encoded)

    def body(self, index: int) -> bytes:
        """The JSON body of request `index` (encoded once, reused)."""
        return self._encoded


def _encode(api: Api, model: str, prompt: str, max_tokens: int, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model}
    if api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    body["max_tokens"] = max_tokens
    body["stream"] = stream
    if stream:
        # ask for the server's own token count in a final usage chunk
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()
