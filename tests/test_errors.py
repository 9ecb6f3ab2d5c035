"""errors.py: the one mapping from statuses and exceptions onto ErrorKind, through real
sockets where an exception comes from the network."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from llmbench_async.errors import (
    BadStreamError,
    ConfigError,
    ErrorKind,
    ExitCode,
    RequestError,
    TargetError,
    classify_exception,
    kind_for_status,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (404, ErrorKind.NOT_FOUND),
        (429, ErrorKind.RATE_LIMITED),
        (400, ErrorKind.HTTP_4XX),
        (422, ErrorKind.HTTP_4XX),
        (500, ErrorKind.HTTP_5XX),
        (503, ErrorKind.HTTP_5XX),
    ],
)
def test_status_kinds(status: int, kind: ErrorKind) -> None:
    assert kind_for_status(status) is kind


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_connect() -> None:
    port = _free_port()  # nothing listens there now
    with pytest.raises(httpx.ConnectError) as caught:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert classify_exception(caught.value).kind is ErrorKind.CONNECT


def test_a_server_that_closes_mid_head_is_protocol_or_read() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        import threading

        def serve() -> None:
            conn, _ = srv.accept()
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")
            conn.close()

        thread = threading.Thread(target=serve)
        thread.start()
        with pytest.raises(httpx.HTTPError) as caught:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
        thread.join(2)
    assert classify_exception(caught.value).kind in (ErrorKind.PROTOCOL, ErrorKind.READ)


def test_timeouts_tls_and_bad_streams() -> None:
    assert classify_exception(httpx.ConnectTimeout("t")).kind is ErrorKind.CONNECT_TIMEOUT
    assert classify_exception(httpx.ReadTimeout("t")).kind is ErrorKind.READ_TIMEOUT
    assert classify_exception(TimeoutError()).kind is ErrorKind.TIMEOUT
    wrapped = httpx.ConnectError("handshake")
    wrapped.__cause__ = ssl.SSLError("CERTIFICATE_VERIFY_FAILED")
    assert classify_exception(wrapped).kind is ErrorKind.TLS
    assert classify_exception(BadStreamError("bad line")).kind is ErrorKind.BAD_STREAM
    same = RequestError(ErrorKind.INCOMPLETE, "no finish reason")
    assert classify_exception(same) is same


def test_an_exception_message_becomes_one_bounded_line() -> None:
    error = classify_exception(OSError("line one\nline two " + "x" * 1000))
    assert "\n" not in error.message and len(error.message) <= 310


def test_exit_codes_of_the_error_families() -> None:
    assert ConfigError("x").exit_code == ExitCode.USAGE == 2
    assert TargetError("x").exit_code == ExitCode.TARGET == 3
