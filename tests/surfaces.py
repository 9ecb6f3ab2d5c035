"""The registry of input surfaces: every place a byte from outside enters the tool, and the
shared catalogue of hostile inputs that `test_surfaces.py` feeds to each.

`OPTION_SURFACES` lists every option that takes a path, URL, JSON, header or address (a
test fails when a command grows one that is not here); `ENDPOINTS` lists every response the
tool reads; `CASES` crosses them with the catalogue. Each case is run through the CLI as
users run it, under a memory limit, with a time limit, and checked for one line on stderr
(for usage errors), its documented exit code, no traceback and no secret anywhere.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import os
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sockserver import SocketServer, read_request

# the secrets a case must never show: the key, a query credential, a proxy password
SECRET = "sk-surface-SECRET-0123456789abcdef"
QUERY_SECRET = "QSIG-surface-9876543210-fedcba"
PROXY_USER = "puser"
PROXY_PASS = "PROXY-pass-1122334455-surface"
BASIC = base64.b64encode(f"{PROXY_USER}:{PROXY_PASS}".encode()).decode()
ALL_SECRETS = (SECRET, QUERY_SECRET, PROXY_PASS, BASIC)

# --- the options: (command, option) -> kind --------------------------------------------
# kinds: path (read), output (written: checked by the outputs' own tests), json, header,
# url, address (a host or Ray address; validated, never fetched here)
OPTION_SURFACES: dict[tuple[str, str], str] = {
    ("run", "--base-url"): "url",
    ("run", "--endpoint"): "url",
    ("run", "--proxy"): "url",
    ("run", "--server-metrics"): "url",
    ("run", "--ray"): "address",
    ("run", "--prometheus-host"): "address",
    ("run", "--api-key"): "header",
    ("run", "--api-key-header"): "header",
    ("run", "--request-id-header"): "header",
    ("run", "--header"): "header",
    ("run", "--api-key-file"): "path",
    ("run", "--prompt-file"): "path",
    ("run", "--dataset"): "path",
    ("run", "--load-shape"): "path",
    ("run", "--trace"): "path",
    ("run", "--session-header"): "header",
    ("run", "--ca-bundle"): "path",
    ("run", "--tools"): "path",
    ("run", "--response-format"): "path",
    ("run", "--image-dir"): "path",
    ("run", "--extra-body"): "json",
    ("run", "--output"): "output",
    ("run", "--json"): "output",
    ("run", "--junit"): "output",
    ("run", "--markdown"): "output",
    ("run", "--html"): "output",
    ("report", "results"): "path",
    ("report", "--json"): "output",
    ("report", "--junit"): "output",
    ("report", "--markdown"): "output",
    ("report", "--html"): "output",
    ("compare", "base"): "path",
    ("compare", "new"): "path",
    ("compare", "--markdown"): "output",
    ("compare", "--html"): "output",
    ("calibrate", "--output"): "output",
    ("calibrate", "--json"): "output",
    ("calibrate", "--junit"): "output",
    ("calibrate", "--markdown"): "output",
    ("calibrate", "--html"): "output",
    ("mock-server", "--log"): "output",
    ("mock-server", "--host"): "address",
    ("mock-server", "--auth-key"): "header",
    ("mock-server", "--retry-after-header"): "header",
}

# every response the tool reads from a server
ENDPOINTS = ("stream", "whole", "error_body", "models", "metrics", "proxy")


# --- a hostile server --------------------------------------------------------------------
Writer = Callable[[socket.socket, bytes], None]  # (connection, request head) -> writes


SSE_EVENT = b'data: {"id":"r","choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'


@functools.cache
def gzip_bomb(size_log2: int = 30, unit: bytes = b"\0") -> bytes:
    """2**size_log2 bytes of `unit` repeated as ONE gzip member (about 1 MB on the wire for
    1 GiB of zeros): 16 MiB deflated once, its block repeated (each block is flushed, so
    each is the same bytes), then the gzip trailer."""
    zeros = (unit * ((1 << 24) // len(unit) + 1))[: 1 << 24]
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    count = 1 << (size_log2 - 24)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    body = first + block * (count - 2) + comp.compress(zeros) + comp.flush()
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return head + body + struct.pack("<II", crc, (1 << size_log2) & 0xFFFFFFFF)


def whole(status: int, body: bytes, ctype: str, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


def endless(ctype: str, status: int = 200, piece: bytes = b"x" * 65536) -> Writer:
    """A chunked body that never ends (until the client hangs up)."""

    def write(conn: socket.socket, head: bytes) -> None:
        conn.sendall(
            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        for _ in range(1 << 16):  # 4 GiB at most: bounded even if nobody hangs up
            conn.sendall(chunk)

    return write


def fixed(data: bytes | Callable[[bytes], bytes]) -> Writer:
    def write(conn: socket.socket, head: bytes) -> None:
        conn.sendall(data(head) if callable(data) else data)

    return write


def echo_head(head: bytes) -> bytes:
    """The request's head as text (it holds the key, the query, any proxy credentials)."""
    return head.replace(b"\r\n", b" | ")


OK_SSE = (
    b'data: {"id":"r","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"id":"r","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n'
)
OK_WHOLE = (
    b'{"id":"r","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}'
)
GOOD: dict[str, Writer] = {
    "models": fixed(whole(200, b'{"data":[{"id":"m"}]}', "application/json")),
    "metrics": fixed(whole(200, b"vllm:num_requests_running 1\n", "text/plain")),
    "stream": fixed(whole(200, OK_SSE, "text/event-stream")),
    "whole": fixed(whole(200, OK_WHOLE, "application/json")),
}


@dataclass
class Server:
    """A loopback server answering each request by its route: `models`, `metrics`, or a
    POST (`stream` or `whole` by the body's `stream` field; `proxy` for an absolute
    target); `replies` overrides a route with a hostile writer. A behaviour on the one
    test socket server (`sockserver.py`)."""

    replies: dict[str, Writer] = field(default_factory=dict)
    _server: SocketServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def __enter__(self) -> Server:
        self._server = SocketServer(self._one).__enter__()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._server is not None:
            self._server.__exit__(None, None, None)

    def _route(self, head: bytes, body: bytes) -> str:
        line = head.split(b"\r\n", 1)[0]
        target = line.split(b" ")[1] if b" " in line else b""
        if target.startswith(b"http://"):
            return "proxy"
        if b"/metrics" in target:
            return "metrics"
        if b"/models" in target:
            return "models"
        return "stream" if b'"stream":true' in body.replace(b" ", b"") else "whole"

    def _one(self, conn: socket.socket, _number: int) -> None:
        try:
            request = read_request(conn, bytearray())
            if request is None:
                return
            head, body = request
            route = self._route(head, body)
            writer = self.replies.get(route) or GOOD.get(route) or GOOD["stream"]
            writer(conn, head)
            conn.shutdown(socket.SHUT_WR)
        except ValueError:  # not HTTP (a bad Content-Length): nothing to answer
            return


# --- the catalogue ---------------------------------------------------------------------
DEEP = b"[" * 100_000 + b"]" * 100_000


def http_catalogue(ctype: str, status: int = 200) -> dict[str, Writer]:
    """Hostile answers for one HTTP surface (`ctype`: its content type)."""
    bomb = whole(status, gzip_bomb(), ctype, "Content-Encoding: gzip\r\n")
    return {
        "endless": endless(ctype, status),
        "gzip_bomb": fixed(bomb),
        "huge_length": fixed(
            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {1 << 40}\r\n\r\n".encode()
            + b"x" * 65536
        ),
        "deep_json": fixed(whole(status, DEEP, ctype)),
        "nan": fixed(whole(status, b'{"data":[{"id":NaN}],"choices":NaN} x NaN\n', ctype)),
        "wrong_types": fixed(whole(status, b'{"data":"x","choices":5,"error":[1]}', ctype)),
        "control_chars": fixed(whole(status, b"\x1b[31mred\x1b]0;title\x07\r\n\x00\n", ctype)),
        "secret_echo": fixed(lambda head: whole(status, echo_head(head) + b"\n", ctype)),
        "secret_echo_gzip": fixed(
            lambda head: whole(
                status,
                gzip.compress(b"bad line " + echo_head(head) + b"\n"),
                ctype,
                "Content-Encoding: gzip\r\n",
            )
        ),
    }


def write_file(path: Path, kind: str, hostile: str) -> Path:
    """A hostile file for a `path` surface of `kind` (results, dataset, prompt, key, ca)."""
    if hostile == "missing":
        return path / "nope"
    if hostile == "directory":
        path.mkdir(exist_ok=True)
        return path
    if hostile == "dev_zero":
        return Path("/dev/zero")
    if hostile == "unreadable":  # looks like a regular file; reading it fails with EIO
        return Path("/proc/self/mem")
    if hostile == "fifo":
        os.mkfifo(path)
        return path
    if hostile == "huge_sparse":
        with path.open("wb") as fh:
            fh.truncate(9 << 30)  # 9 GiB of holes: over every file cap
        return path
    header = json.dumps({"type": "header", "config": {"model": "m"}}) + "\n"
    record = {"type": "request", "index": 0, "scheduled_ns": 0, "send_ns": 1, "end_ns": 9}
    lines = {
        "deep_json": "[" * 5000 + "]" * 5000,
        "nan": '{"prompt": "x", "max_tokens": NaN, "index": NaN}',
        "huge_int": '{"prompt": "x", "max_tokens": 1' + "0" * 30 + ', "index": 1' + "0" * 30 + "}",
        "wrong_types": '{"prompt": 5, "messages": "x", "index": "zero", "end_ns": [1]}',
        "binary": "\udcff\udcfe\x00\x01",
        "long_line": '{"prompt": "' + "x" * (9 << 20) + '"}',
        "huge_error": json.dumps({**record, "error_message": "E" * (10 << 20)}),
    }
    body = lines[hostile]
    if kind == "results":
        body = header + body + "\n" + json.dumps(record)  # the hostile line in the middle
    path.write_bytes(body.encode("utf-8", "surrogateescape") + b"\n")
    return path


@dataclass(frozen=True)
class Case:
    """One hostile input on one surface: the CLI arguments (given the good server's URL and a
    fresh directory), the environment, and the exit codes it may end with."""

    surface: str
    hostile: str
    argv: Callable[[str, Path], list[str]]
    codes: frozenset[int]
    env: dict[str, str] = field(default_factory=dict)
    replies: dict[str, Writer] = field(default_factory=dict)
    one_line: bool = True  # a usage error: exactly one line on stderr


def run_args(url: str, *extra: str, key: bool = True) -> list[str]:
    """A one-request run against `url`, its base URL carrying a SAS-like `sig`, the key
    given with --api-key (unless `key` is False)."""
    secret = ["--api-key", SECRET] if key else []
    return [
        "run",
        "--base-url",
        url + "/v1?api-version=1&sig=" + QUERY_SECRET,
        *secret,
        "-n",
        "1",
        "--retries",
        "0",
        "--timeout",
        "8",
        *extra,
    ]
