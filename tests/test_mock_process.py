"""mock/process.py: `MockProcess`, the mock in a child process: start-up failures, signals.
Each checked over real loopback sockets."""

from __future__ import annotations

import signal
import socket

import httpx
import pytest

from llmbench_async.mock import MockConfig, MockProcess


def test_clean_exit_on_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        with MockProcess(MockConfig(ttft_ms=0, itl_ms=0)) as mock:
            with httpx.Client(base_url=mock.base_url) as client:
                assert client.get("/models").status_code == 200
            assert mock.process is not None
            mock.process.send_signal(sig)
            assert mock.process.wait(5) == 0
            assert mock.stderr_text() == ""


def test_mock_process_reports_startup_failure() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = r"code 1\) without listening; stderr:\n.*cannot listen on 127.0.0.1:\d+: "
        with pytest.raises(RuntimeError, match=expected + ".*already in use"):
            MockProcess(MockConfig(port=port)).start()
