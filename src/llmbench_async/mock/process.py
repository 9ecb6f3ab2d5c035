"""Running the mock server as a separate process (`MockProcess`), with port discovery.

The child prints one line, ``LISTENING_PREFIX + URL``, once it listens; `start` waits for it,
so a port of 0 (any free port) is safe. The child's stderr is kept for error messages.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Final, NoReturn

from .config import MockConfig

__all__ = ["LISTENING_PREFIX", "MockProcess", "url_host"]

LISTENING_PREFIX: Final = "llmbench-async mock server listening on "


def url_host(host: str) -> str:
    """The host as written in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


class MockProcess:
    """Runs the mock server in a separate process for the duration of a `with` block."""

    def __init__(self, config: MockConfig | None = None, *, startup_timeout: float = 15.0) -> None:
        self.config = config if config is not None else MockConfig()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.host = ""
        self.port = 0
        self._stderr: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        if not self.port:
            raise RuntimeError("the mock server is not running")
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{url_host(self.host)}:{self.port}/v1"

    def start(self) -> None:
        """Start the process and wait for its listening line (RuntimeError if it never comes)."""
        src = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        command = [sys.executable, "-m", "llmbench_async.mock"]
        command += ["--config-json", self.config.to_json()]
        self.process = proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        stdout = proc.stdout
        assert stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=self.startup_timeout).decode(errors="replace")
        except queue.Empty:
            self._fail(f"did not report listening within {self.startup_timeout:g}s")
        match = re.match(re.escape(LISTENING_PREFIX) + r"https?://(\[[^\]]*\]|[^:/]+):(\d+)", line)
        if match is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)  # stdout closed: it is exiting; let it, to report its code
            self._fail(f"exited (code {proc.returncode}) without listening")
        self.host = match.group(1).strip("[]")
        self.port = int(match.group(2))

    def stop(self) -> None:
        """SIGTERM, wait up to 5 s, then kill."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def stderr_text(self) -> str:
        """Whatever the server process wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _fail(self, what: str) -> NoReturn:
        """Stop the process and raise a RuntimeError that carries its stderr."""
        self.stop()
        text = self.stderr_text().strip()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        detail = f"; stderr:\n{text}" if text else " (no stderr output)"
        raise RuntimeError(f"mock server {what}{detail}")

    def __enter__(self) -> MockProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.port = 0
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
