"""Reaching real deployments over real loopback sockets: forward and CONNECT proxies (flag and
environment), HTTP/2, Azure-style endpoints and key headers, and connect timing with and
without --preconnect."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from hostile import good_reply, hostile_server, sse_body
from sockserver import SocketServer
from test_tls import _self_signed

from llmbench_async.mock import MockConfig, MockProcess

# --------------------------------------------------------------------------- a small proxy


def _pipe(src: socket.socket, dst: socket.socket, log: list[bytes] | None = None) -> None:
    try:
        while data := src.recv(65536):
            if log is not None:
                log.append(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _proxy_one(client: socket.socket, seen: list[str], auth: str | None) -> None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = client.recv(65536)
        if not data:
            client.close()
            return
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    seen.append(lines[0])
    method, target, _version = lines[0].split(" ", 2)
    given = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    if auth is not None and given.get("proxy-authorization") != auth:
        client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        first = rest
    else:  # absolute-form: forward the request as is, minus the proxy's own header
        hostport = target.split("://", 1)[1].split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        kept = [x for x in lines if not x.lower().startswith("proxy-authorization:")]
        first = "\r\n".join(kept).encode("latin-1") + b"\r\n\r\n" + rest
    if first:
        upstream.sendall(first)
    threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
    log: list[bytes] = []
    _pipe(client, upstream, log)
    seen.append(b"".join(log).decode("latin-1"))


@contextmanager
def proxy_server(auth: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """A forward (absolute-form) and CONNECT proxy on loopback; yields (port, request lines)."""
    seen: list[str] = []
    with SocketServer(lambda sock, _: _proxy_one(sock, seen, auth)) as server:
        yield server.port, seen


def _requests(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [x for x in lines if x["type"] == "request"]


def test_proxy_flag_forwards_plain_http_and_redacts_its_password(
    instant_mock: MockProcess, tmp_path: Path
) -> None:
    token = base64.b64encode(b"alice:pr0xy-pa55word").decode()
    with proxy_server(auth=f"Basic {token}") as (port, seen):
        proxy = f"http://alice:pr0xy-pa55word@127.0.0.1:{port}"
        out = tmp_path / "r.jsonl"
        res = run_cli(
            "--base-url", instant_mock.base_url, "--proxy", proxy, "-n", "3", "-o", str(out)
        )
    assert res.code == 0, res.stderr
    forwarded = "".join(seen)
    assert forwarded.count("GET http://127.0.0.1") == 1  # model discovery
    assert forwarded.count("POST http://127.0.0.1") == 3
    assert f"via proxy http://***@127.0.0.1:{port}" in res.stdout
    everything = res.stdout + res.stderr + out.read_text()
    assert "pr0xy-pa55word" not in everything


def test_https_proxy_from_the_environment_tunnels_with_connect(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    cfg = MockConfig(ttft_ms=0, itl_ms=0, tokens=3, tls_cert=str(cert), tls_key=str(key))
    with MockProcess(cfg) as mock, proxy_server() as (port, seen):
        res = run_cli(
            "--base-url", mock.base_url, "--ca-bundle", str(cert), "-n", "3",
            env={"HTTPS_PROXY": f"http://127.0.0.1:{port}"},
        )  # fmt: skip
    assert res.code == 0, res.stderr
    assert seen and seen[0].startswith("CONNECT 127.0.0.1:")
    assert f"via proxy http://127.0.0.1:{port}" in res.stdout


@pytest.mark.parametrize("bypass", ["no_proxy", "flag"])
def test_no_proxy_and_no_proxy_env_go_direct(
    bypass: str, instant_mock: MockProcess, tmp_path: Path
) -> None:
    with proxy_server() as (port, seen):
        env = {"HTTP_PROXY": f"http://127.0.0.1:{port}"}
        args = ["--base-url", instant_mock.base_url, "-n", "2"]
        if bypass == "no_proxy":
            env["NO_PROXY"] = "127.0.0.1"
        else:
            args.append("--no-proxy-env")
        res = run_cli(*args, env=env)
    assert res.code == 0, res.stderr
    assert seen == []
    assert "via proxy" not in res.stdout


# --------------------------------------------------------------------------- HTTP/2


@contextmanager
def h2_server(cert: Path, key: Path) -> Iterator[tuple[str, list[str]]]:
    """A minimal TLS HTTP/2 server (ALPN h2) answering every stream with a short SSE body."""
    import h2.config
    import h2.connection
    import h2.events

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(["h2"])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    paths: list[str] = []
    stop = threading.Event()

    def serve(raw: socket.socket) -> None:
        try:
            sock = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        with sock:
            while data := sock.recv(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        found = dict(event.headers or [])
                        paths.append(found.get(b":path", b"").decode())
                    elif isinstance(event, h2.events.DataReceived):
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        conn.send_headers(
                            event.stream_id,
                            [(":status", "200"), ("content-type", "text/event-stream")],
                        )
                        conn.send_data(event.stream_id, sse_body(), end_stream=True)
                sock.sendall(conn.data_to_send())

    def accept() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(sock,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/v1", paths
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=2)


def test_http2_is_negotiated_and_reported(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with h2_server(cert, key) as (url, paths):
        res = run_cli(
            "--base-url", url, "--ca-bundle", str(cert), "--http2", "--model", "m", "-n", "3",
        )  # fmt: skip
    assert res.code == 0, res.stderr
    assert paths.count("/v1/chat/completions") == 3
    assert "HTTP/2" in res.stdout


def test_http2_without_the_extra_is_one_clear_line(tmp_path: Path) -> None:
    fake = tmp_path / "site" / "h2"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('h2 is not installed')\n")
    res = run_cli(
        "--base-url", "http://127.0.0.1:9/v1", "--http2", "--model", "m",
        env={"PYTHONPATH": str(tmp_path / "site")},
    )  # fmt: skip
    assert res.code == 2
    assert res.stderr.strip().count("\n") == 0
    assert "uv sync --extra http2" in res.stderr  # the install route of this checkout


# --------------------------------------------------------------------------- endpoints


def test_azure_endpoint_keeps_path_and_query_and_sends_api_key(tmp_path: Path) -> None:
    key = "azure-key-0123456789abcdef"
    with hostile_server([good_reply(), good_reply()]) as (url, seen):
        origin = url.removesuffix("/v1")
        endpoint = f"{origin}/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
        res = run_cli(
            "--endpoint", endpoint, "--api-key-header", "api-key", "--api-key", key,
            "--model", "gpt4o", "--max-tokens-field", "max_completion_tokens", "-n", "2",
        )  # fmt: skip
    assert res.code == 0, res.stderr
    assert len(seen.requests) == 2
    for _conn, head, body in seen.requests:
        lines = head.decode().split("\r\n")
        assert lines[0] == (
            "POST /openai/deployments/gpt4o/chat/completions?api-version=2024-10-21 HTTP/1.1"
        )
        assert f"api-key: {key}" in lines
        assert not any(x.lower().startswith("authorization:") for x in lines)
        sent = json.loads(body)
        assert "max_completion_tokens" in sent and "max_tokens" not in sent
    assert key not in res.stdout + res.stderr


def test_base_url_query_is_kept_on_every_request_models_included(tmp_path: Path) -> None:
    models = json.dumps({"object": "list", "data": [{"id": "found-model"}]}).encode()
    listing = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(models)}\r\n\r\n".encode()
        + models
    )
    with hostile_server([listing, good_reply()]) as (url, seen):
        res = run_cli(
            "--base-url", f"{url}?api-version=7", "--api-key-header", "none", "-n", "1",
        )  # fmt: skip
    assert res.code == 0, res.stderr
    lines = [head.decode().split("\r\n") for _c, head, _b in seen.requests]
    assert lines[0][0] == "GET /v1/models?api-version=7 HTTP/1.1"
    assert lines[1][0] == "POST /v1/chat/completions?api-version=7 HTTP/1.1"
    assert not any(x.lower().startswith("authorization:") for req in lines for x in req)
    assert json.loads(seen.requests[1][2])["model"] == "found-model"


def test_the_mock_accepts_the_azure_shape(tmp_path: Path) -> None:
    key = "azure-mock-key-0123456789"
    cfg = MockConfig(ttft_ms=0, itl_ms=0, tokens=3, auth_key=key, models=("d1",))
    with MockProcess(cfg) as mock:
        origin = mock.base_url.removesuffix("/v1")
        endpoint = f"{origin}/openai/deployments/d1/chat/completions?api-version=2024-10-21"
        ok = run_cli("--endpoint", endpoint, "--api-key-header", "api-key", "--api-key", key,
                     "--model", "d1", "-n", "2")  # fmt: skip
        wrong = run_cli("--endpoint", endpoint, "--api-key-header", "api-key",
                        "--api-key", "not-the-key-000", "--model", "d1", "-n", "1")  # fmt: skip
    assert ok.code == 0, ok.stderr
    assert wrong.code == 3 and "auth" in wrong.stderr


def test_endpoint_without_model_or_base_url_is_a_usage_error() -> None:
    res = run_cli("--endpoint", "http://127.0.0.1:9/x/chat/completions")
    assert res.code == 2 and "--model" in res.stderr


# --------------------------------------------------------------------------- connect timing


def test_cold_connections_are_new_then_reused(fast_mock: MockProcess, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    res = run_cli(
        "--base-url", fast_mock.base_url, "-n", "12", "-c", "4", "--no-preconnect",
        "--model", "mock-model", "-q", "-o", str(out),
    )  # fmt: skip
    assert res.code == 0, res.stderr
    records = _requests(out)
    new = [r for r in records if r["new_connection"]]
    assert len(new) == 4  # one per concurrency slot, then keep-alive reuse
    for r in new:
        assert r["connect_ns"] > 0
        # ready when the connect ended (its callback), sent when the task wrote on it
        assert r["scheduled_ns"] <= r["ready_ns"] <= r["send_ns"]
    for r in records:
        if not r["new_connection"]:
            assert r["connect_ns"] == 0 and r["new_connection"] is False


def test_preconnect_keeps_connect_out_of_the_first_wave(
    fast_mock: MockProcess, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    res = run_cli("--base-url", fast_mock.base_url, "-n", "8", "-c", "8", "-q", "-o", str(out))
    assert res.code == 0, res.stderr
    records = _requests(out)
    assert len(records) == 8
    for r in records:  # every request, the first wave included, found a warm connection
        assert r["new_connection"] is False and r["connect_ns"] == 0
        assert (r["first_token_ns"] - r["send_ns"]) / 1e6 >= 50.0  # the server's TTFT
