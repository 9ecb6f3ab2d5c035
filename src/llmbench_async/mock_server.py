"""The old import path of the mock server, kept for existing scripts: use `llmbench_async.mock`.

``python -m llmbench_async.mock_server --config-json JSON`` still runs the server.
"""

from __future__ import annotations

from .mock.config import RETRY_AFTER_HEADERS as RETRY_AFTER_HEADERS
from .mock.config import MockConfig as MockConfig
from .mock.process import LISTENING_PREFIX as LISTENING_PREFIX
from .mock.process import MockProcess as MockProcess
from .mock.server import main
from .mock.server import run_server as run_server
from .mock.server import serve as serve

if __name__ == "__main__":
    main()
