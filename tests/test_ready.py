"""Errors come first: a target unusable from the start (refused, DNS, TLS, 401/403, 404)
ends in one line on stderr, with no report and no retries, with or without -m. And
`--ready-timeout` waits for a target that is starting, or ends in one line when it never
answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import CliResult, run_cli
from rawserver import RawServer, Seen, response, sse
from sockserver import SocketServer

OK = sse(
    [
        b'{"id":"r","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}',
        b'{"id":"r","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":1}}',
        b"[DONE]",
    ]
)
MODELS = response(200, b'{"object":"list","data":[{"id":"m","object":"model"}]}')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_line(res: CliResult, start: str) -> str:
    assert res.stdout == "", res.stdout  # no report
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("llmbench-async: error: " + start), res.stderr
    return lines[0]


def _timed(*args: str) -> tuple[CliResult, float]:
    started = time.monotonic()
    res = run_cli(*args, timeout=60)
    return res, time.monotonic() - started


@pytest.mark.parametrize("model", [True, False], ids=["with-m", "without-m"])
@pytest.mark.parametrize("load", [("-n", "50", "-c", "4"), ("-n", "50", "--rate", "100")])
def test_refused_at_start_is_one_line_at_once(model: bool, load: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    res, took = _timed("--base-url", url, *(["-m", "m"] if model else []), *load)
    assert res.code == 3
    line = _one_line(res, f"cannot reach {url}: ")
    assert "Connect call failed" in line or "refused" in line.lower()
    assert took < 5, f"{took:.1f} s: a refused connection at the start was retried"


def test_refused_at_start_keeps_files_asked_for(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    res = run_cli("--base-url", url, "-m", "m", "-n", "5", "--json", str(tmp_path / "s.json"))
    assert res.code == 3
    _one_line(res, "cannot reach")
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["requests"]["ok"] == 0 and summary["problem"].startswith("cannot reach")
    assert summary["retries"] == 0


def test_dns_failure_at_start_is_one_line() -> None:
    res, took = _timed("--base-url", "http://no-such-host.invalid/v1", "-m", "m", "-n", "20")
    assert res.code == 3
    _one_line(res, "cannot reach http://no-such-host.invalid/v1: ")
    assert took < 20


@pytest.mark.parametrize(
    ("status", "start"),
    [(401, "authentication failed"), (404, "http://127.0.0.1:")],  # 404: the path (m is listed)
)
def test_auth_or_not_found_at_start_with_model_is_one_line(status: int, start: str) -> None:
    def handler(seen: Seen, number: int) -> bytes:
        if seen.method == "GET":
            return MODELS
        return response(status, b'{"error":{"message":"no"}}')

    with RawServer(handler) as srv:
        res, took = _timed(
            "--base-url", srv.url + "/v1", "-m", "m", "-n", "40", "-c", "4", "--api-key", "sk-x1"
        )
        posts = sum(1 for s in srv.seen if s.method == "POST")
    assert res.code == 3
    _one_line(res, start)
    assert posts <= 4  # stopped at the first failures, none retried
    assert took < 10


class PlainSpeaker:
    """Answers every connection at once with plain HTTP bytes: a TLS client's handshake
    fails (wrong version number), as when https:// is used for an http:// port."""

    def __init__(self) -> None:
        self._server = SocketServer(self._answer).__enter__()
        self.url = "https://" + self._server.url.removeprefix("http://") + "/v1"

    @staticmethod
    def _answer(conn: socket.socket, _number: int) -> None:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._server.__exit__(None, None, None)


@pytest.mark.parametrize("model", [True, False], ids=["with-m", "without-m"])
def test_tls_failure_at_start_is_one_line(model: bool) -> None:
    server = PlainSpeaker()
    try:
        args = ["--base-url", server.url, "-n", "10", "-c", "2"]
        res, took = _timed(*args, *(["-m", "m"] if model else []))
    finally:
        server.close()
    assert res.code == 3
    line = _one_line(res, f"cannot reach {server.url}: ")
    assert "use --ca-bundle or --insecure" in line
    assert took < 10


class LateServer:
    """Starts listening on `port` after `delay` seconds, then answers everything with OK
    (or the model list)."""

    def __init__(self, port: int, delay: float) -> None:
        self.port = port
        self.delay = delay
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        time.sleep(self.delay)
        with socket.create_server(("127.0.0.1", self.port)) as sock:
            sock.settimeout(0.1)
            while not self.stop.is_set():
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    @staticmethod
    def _one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                conn.sendall(MODELS if data.startswith(b"GET") else OK)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.mark.parametrize("model", [True, False], ids=["with-m", "without-m"])
def test_ready_timeout_waits_for_a_server_that_starts_late(model: bool) -> None:
    port = _free_port()
    server = LateServer(port, 1.0)
    try:
        args = ["--base-url", f"http://127.0.0.1:{port}/v1", "-n", "3", "-q"]
        res, took = _timed(*args, *(["-m", "m"] if model else []), "--ready-timeout", "10s")
    finally:
        server.close()
    assert res.code == 0, res.stderr
    assert took >= 1.0


def test_ready_timeout_ends_in_one_line_when_nothing_answers() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    res, took = _timed("--base-url", url, "-m", "m", "-n", "3", "--ready-timeout", "2")
    assert res.code == 3
    line = _one_line(res, f"{url} not ready after 2 s: ")
    assert "Connect call failed" in line or "refused" in line.lower()
    assert 1.9 <= took < 8


def test_ready_timeout_keeps_waiting_through_503() -> None:
    def handler(seen: Seen, number: int) -> bytes:
        if seen.method == "GET":
            return response(503, b"loading model") if number < 3 else MODELS
        return OK

    with RawServer(handler) as srv:
        res, _ = _timed("--base-url", srv.url + "/v1", "-n", "2", "--ready-timeout", "20s", "-q")
        gets = sum(1 for s in srv.seen if s.method == "GET")
    assert res.code == 0, res.stderr
    assert gets >= 4  # three 503s waited through, then discovery


@pytest.mark.parametrize("bad", ["0", "-1s", "soon", "inf", "nan"])
def test_ready_timeout_rejects_bad_durations(bad: str) -> None:
    res = run_cli("--base-url", "http://127.0.0.1:9/v1", "-m", "m", "--ready-timeout", bad)
    assert res.code == 2 and "--ready-timeout" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("levels", [("-c", "1,2,4"), ("--rate", "5,10")])
def test_refused_at_the_start_of_a_sweep_is_one_line(levels: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    res, took = _timed("--base-url", url, "-m", "m", "-n", "20", *levels)
    assert res.code == 3
    _one_line(res, f"cannot reach {url}: ")
    assert took < 5
