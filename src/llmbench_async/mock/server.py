"""Running the server in this process: `serve` (a coroutine) and `run_server` (until a signal).

`main` is the entry point of ``python -m llmbench_async.mock``, which `MockProcess` starts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys
from collections.abc import Callable

from .app import App
from .config import MockConfig
from .http import Connection
from .process import LISTENING_PREFIX, url_host

__all__ = ["main", "run_server", "serve"]


async def serve(config: MockConfig, *, ready: Callable[[str, int], None] | None = None) -> None:
    """Serve forever on config.host/port; `ready` gets the bound host and port once listening."""
    loop = asyncio.get_running_loop()
    app = App(config, loop)
    try:
        tls = None
        if config.tls_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(config.tls_cert, config.tls_key)
        server = await loop.create_server(
            lambda: Connection(app), config.host, config.port, backlog=4096, ssl=tls
        )
    except BaseException:
        await app.close()
        raise
    try:
        host, port = server.sockets[0].getsockname()[:2]
        if ready is not None:
            ready(str(host), int(port))
        # not serve_forever(): on 3.12+ its cancellation waits for every client to hang up
        await loop.create_future()
    finally:
        server.close()
        await app.close()


def run_server(config: MockConfig) -> None:
    """Run the server until SIGINT/SIGTERM, announcing the address with one stdout line."""

    def ready(host: str, port: int) -> None:
        scheme = "https" if config.tls_cert else "http"
        print(f"{LISTENING_PREFIX}{scheme}://{url_host(host)}:{port}", flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        server = asyncio.create_task(serve(config, ready=ready))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({server, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not server.done():
            server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server  # re-raises a startup failure such as "address already in use"

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    """``python -m llmbench_async.mock --config-json JSON``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m llmbench_async.mock",
        description="Run the llmbench-async OpenAI-compatible mock server.",
    )
    parser.add_argument(
        "--config-json", default="{}", help="MockConfig as JSON (MockConfig.to_json())"
    )
    args = parser.parse_args(argv)
    try:
        config = MockConfig.from_json(args.config_json)
    except (ValueError, TypeError) as exc:
        parser.error(f"invalid --config-json: {exc}")
    try:
        run_server(config)
    except OSError as exc:  # e.g. the port is taken: one line, not a traceback
        where = f"{url_host(config.host)}:{config.port}"
        sys.exit(f"llmbench-async mock server: cannot listen on {where}: {exc.strerror or exc}")
