"""The old import path of the mock server, kept for existing scripts: use `llmbench_async.mock`."""

from __future__ import annotations

from .mock.config import RETRY_AFTER_HEADERS, MockConfig
from .mock.process import LISTENING_PREFIX, MockProcess
from .mock.server import main, run_server, serve

__all__ = [
    "LISTENING_PREFIX",
    "RETRY_AFTER_HEADERS",
    "MockConfig",
    "MockProcess",
    "run_server",
    "serve",
]

if __name__ == "__main__":
    main()
