"""A lean HTTP/1.1 `httpx.AsyncBaseTransport`: one asyncio protocol a connection, llhttp framing.

httpcore's connection pool costs CPU that grows with the number of connections and a
per-read overhead that dominates on chunked SSE streams (docs/transport.md). This transport
keeps httpx's API but replaces the pool with a plain LIFO list of idle keep-alive connections
per origin, and hands everything that arrived in one socket read to the caller as one piece.
Response framing (status line, headers, Content-Length, chunked coding, interim 1xx) is parsed
by `httptools`, the Python binding of llhttp, the parser in Node.js and uvicorn: strict,
fuzzed and fast (about 11 µs for a 131-event chunked stream).

A connection returns to the pool only when its response ended cleanly, the server allows
keep-alive and no byte beyond the response was received. Anything else closes it.

Proxies and HTTP/2 go through httpx's standard transport, mounted by `make_client`.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any

import certifi
import httpx

from ..errors import ConfigError
from ..redact import mask_userinfo, safe_excerpt
from .connection import (
    EXCHANGE_KEY,
    Connection,
    Exchange,
    Origin,
    Phases,
    Response,
    StaleConnection,
)
from .head import LeanAnswer
from .httpx_compat import environment_proxies, proxy_for


def _injected_delay(text: str | None) -> float:
    """LLMBENCH_ASYNC_TEST_CLIENT_DELAY_MS, in seconds: a test hook that makes this client
    late on purpose (docs/calibrate.md); 0 unset or not a number from 0 to 10000."""
    try:
        ms = float(text or 0)
    except ValueError:
        return 0.0
    return ms / 1000 if math.isfinite(ms) and 0 < ms <= 10_000 else 0.0


# blocks the event loop this long between a request's send stamp and its write, as an
# overloaded client would: a calibration must report at least this much error
_CLIENT_DELAY_S = _injected_delay(os.environ.get("LLMBENCH_ASYNC_TEST_CLIENT_DELAY_MS"))


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive transport with minimal per-request and per-read work."""

    def __init__(self, *, verify: bool | str = True) -> None:
        self._idle: dict[Origin, list[Connection]] = {}
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None  # made at the first https connect (~20 ms)
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin_of(request.url)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        info: Exchange = request.extensions.get(EXCHANGE_KEY) or Exchange()
        body = await request.aread()
        head = _request_head(request, len(body))
        response = await self._send(origin, head, body, info, timeouts.get("connect"))
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=response,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason},
        )

    async def send_encoded(
        self, origin: Origin, head: bytes, body: bytes, info: Exchange, connect: float | None
    ) -> LeanAnswer:
        """The fast path: a head already encoded (`wire/head.py`) and its body, with no
        `httpx.Request` or `httpx.Response` made; `connect` is the connect timeout (s)."""
        return LeanAnswer(await self._send(origin, head, body, info, connect))

    async def _send(
        self, origin: Origin, head: bytes, body: bytes, info: Exchange, connect: float | None
    ) -> Response:
        """Send one request on a pooled connection (a fresh one if the server closed it) or a
        new one; the response once its head is parsed."""
        payload = head + body if len(body) < 65536 else head
        rest = b"" if payload is not head else body
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.is_usable():
                conn.close()
                continue
            info.new_connection = False
            try:
                return await self._exchange(conn, origin, info, payload, rest)
            except StaleConnection:
                continue  # the server closed an idle connection: use a fresh one
        info.new_connection = True
        conn = await self._connect(origin, connect)
        try:
            return await self._exchange(conn, origin, info, payload, rest)
        except StaleConnection as exc:
            raise httpx.RemoteProtocolError(
                "server closed the connection without sending a response"
            ) from exc

    async def _connect(self, origin: Origin, timeout: float | None) -> Connection:
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl_context(self._verify, http2=False)
            tls = self._ssl
        conn = Connection()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                conn.phases = await dial(loop, conn, host, port, tls)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out") from exc
        except ssl.SSLCertVerificationError as exc:
            raise httpx.ConnectError(
                f"certificate verify failed for host {host}: {exc.verify_message}"
            ) from exc
        except ssl.SSLError as exc:
            raise httpx.ConnectError(f"TLS handshake with {host}:{port} failed: {exc}") from exc
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {reason}") from exc
        return conn

    async def preconnect(self, url: str | httpx.URL, count: int, timeout: float | None) -> int:
        """Open `count` new connections to `url`'s origin at once and pool them, so a run's
        first wave finds them ready. Returns how many are idle for that origin afterwards;
        the first connect failure is raised (as `httpx.ConnectError` / `ConnectTimeout`)."""
        origin = _origin_of(httpx.URL(url))
        results = await asyncio.gather(
            *(self._connect(origin, timeout) for _ in range(max(count, 0))),
            return_exceptions=True,
        )
        failure: BaseException | None = None
        pool = self._idle.setdefault(origin, [])
        for result in results:
            if isinstance(result, Connection):
                pool.append(result)
            elif failure is None:
                failure = result
        if failure is not None:
            raise failure
        return len(pool)

    def idle_count(self, url: str | httpx.URL) -> int:
        """Idle keep-alive connections pooled for `url`'s origin."""
        return len(self._idle.get(_origin_of(httpx.URL(url)), ()))

    async def _exchange(
        self, conn: Connection, origin: Origin, info: Exchange, payload: bytes, rest: bytes
    ) -> Response:
        # ready: a new connection's set-up ended in its callback; a pooled one is taken now
        info.send_ns = now = time.perf_counter_ns()
        info.ready_ns = conn.made_ns if info.new_connection and conn.made_ns else now
        if _CLIENT_DELAY_S:
            time.sleep(_CLIENT_DELAY_S)  # the test hook above: the loop is blocked on purpose
        # the connection's first request takes its set-up phases (a stale pooled connection
        # given up for another leaves none behind on this request)
        info.phases, conn.phases = conn.phases, None
        info.preconnected = info.phases is not None and not info.new_connection
        response = Response(self._release, conn, origin, info)
        try:
            conn.attach(response)
            conn.write(payload)
            if rest:
                conn.write(rest)
            await conn.drain()
            await response.read_head()
        except StaleConnection:
            conn.close()
            raise
        except OSError as exc:
            conn.close()
            raise httpx.ReadError(f"connection lost before the response: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return response

    def _release(self, origin: Origin, conn: Connection) -> None:
        if self._closed or not conn.is_usable():
            conn.close()
            return
        self._idle.setdefault(origin, []).append(conn)

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


async def dial(
    loop: asyncio.AbstractEventLoop,
    conn: Connection,
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
) -> Phases:
    """Open `conn` to host:port in three timed steps: resolve the name (getaddrinfo), TCP
    connect to each address in turn until one answers, then the TLS handshake (https), which
    ends when asyncio calls `connection_made`. Returns their durations (ns)."""
    start = time.perf_counter_ns()
    try:  # an address literal resolves at once, in the loop (as asyncio's own connect does)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=_NUMERIC)
    except socket.gaierror:  # a name: the resolver, in the loop's thread pool
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    resolved = time.perf_counter_ns()
    sock: socket.socket | None = None
    failure: OSError = OSError(f"{host} resolved to no address")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            break
        except OSError as exc:
            sock.close()
            sock, failure = None, exc
        except BaseException:  # cancelled (the connect timeout)
            sock.close()
            raise
    if sock is None:
        raise failure
    connected = time.perf_counter_ns()
    try:
        await loop.create_connection(
            lambda: conn, sock=sock, ssl=tls, server_hostname=host if tls else None
        )
    except BaseException:
        sock.close()
        raise
    made = conn.made_ns or time.perf_counter_ns()
    return resolved - start, connected - resolved, None if tls is None else made - connected


def _origin_of(url: httpx.URL) -> Origin:
    scheme = url.scheme
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
    return scheme, url.host, url.port or (443 if scheme == "https" else 80)


def ssl_context(verify: bool | str, *, http2: bool) -> ssl.SSLContext:
    """The TLS context for `verify` (True, False or a CA bundle path)."""
    if verify is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        try:
            ctx = ssl.create_default_context(cafile=verify)
        except (ssl.SSLError, OSError, ValueError) as exc:  # not a PEM bundle
            reason = safe_excerpt(str(getattr(exc, "reason", None) or exc), (), 120)
            raise ConfigError(f"--ca-bundle: cannot load {verify}: {reason}") from None
    else:
        ctx = ssl.create_default_context(cafile=certifi.where())
    ctx.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    return ctx


def _request_head(request: httpx.Request, body_len: int) -> bytes:
    lines = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    has_length = False
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower == b"content-length":
            has_length = True
        elif lower == b"transfer-encoding":
            continue  # we always send a fixed-length body
        lines += (name, b": ", value, b"\r\n")
    if not has_length and (body_len or request.method in ("POST", "PUT", "PATCH")):
        lines += (b"Content-Length: ", str(body_len).encode(), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


# --------------------------------------------------------------------------- the client


def lean_transport_of(client: httpx.AsyncClient) -> LeanTransport | None:
    """The client's lean transport, when it has one (httpx keeps it in `_transport`)."""
    transport = getattr(client, "_transport", None)
    return transport if isinstance(transport, LeanTransport) else None


def transport_for(client: httpx.AsyncClient, url: str | httpx.URL) -> httpx.AsyncBaseTransport:
    """The transport `client` uses for `url`: a proxy or HTTP/2 mount, or the default one."""
    pick = getattr(client, "_transport_for_url", None)
    if pick is None:  # pragma: no cover - an httpx without the method
        return client._transport
    chosen: httpx.AsyncBaseTransport = pick(httpx.URL(url))
    return chosen


def proxy_map(proxy: str | None, *, trust_env: bool) -> dict[str, str | None]:
    """URL patterns → proxy URL (None: go direct), as httpx builds them: `proxy` for every
    URL, else HTTP_PROXY / HTTPS_PROXY / ALL_PROXY with NO_PROXY exceptions when `trust_env`."""
    if proxy:
        return {"all://": proxy}
    if not trust_env:
        return {}
    return environment_proxies()


def http2_available() -> bool:
    """Whether the optional `h2` package (extra `llmbench-async[http2]`) is installed."""
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


def make_client(
    *,
    verify: bool | str = True,
    proxy: str | None = None,
    trust_env: bool = True,
    http2: bool = False,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` that runs on the lean transport, with proxied origins (and every
    origin under `http2`) mounted on httpx's standard transport."""
    proxies = proxy_map(proxy, trust_env=trust_env)
    if http2 and not http2_available():
        from .extras import missing_extra

        raise RuntimeError(missing_extra("--http2", "h2", "http2"))
    ctx = ssl_context(verify, http2=http2)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    default: httpx.AsyncBaseTransport
    if http2:
        default = httpx.AsyncHTTPTransport(verify=ctx, http2=True, limits=limits)
    else:
        default = LeanTransport(verify=verify)
    try:
        mounts: Mapping[str, httpx.AsyncBaseTransport | None] = {
            pattern: None
            if target is None
            else httpx.AsyncHTTPTransport(verify=ctx, http2=http2, proxy=target, limits=limits)
            for pattern, target in proxies.items()
        }
        return httpx.AsyncClient(transport=default, mounts=mounts, trust_env=False, **kwargs)
    except (httpx.InvalidURL, ValueError) as exc:  # a NO_PROXY or proxy URL httpx refuses
        raise _bad_proxy_settings(exc) from None


def _bad_proxy_settings(exc: Exception) -> ConfigError:
    reason = safe_excerpt(mask_userinfo(str(exc)), (), 120)
    return ConfigError(
        f"the proxy settings (--proxy, or HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) are "
        f"not usable: {reason}; fix them or pass --no-proxy-env"
    )


def proxy_in_use(url: str, proxy: str | None, trust_env: bool) -> str | None:
    """The proxy (credentials redacted) that requests to `url` go through, or None."""
    proxies = proxy_map(proxy, trust_env=trust_env)
    if not proxies:
        return None
    try:
        pattern = proxy_for(url, proxies)
    except (httpx.InvalidURL, ValueError) as exc:
        raise _bad_proxy_settings(exc) from None
    chosen = None if pattern is None else proxies[pattern]
    return None if chosen is None else mask_userinfo(chosen)


async def preconnect(client: httpx.AsyncClient, url: str, count: int, timeout: float | None) -> int:
    """Open `count` connections to `url`'s origin before a run starts its clock, when the
    lean transport serves it (proxy and HTTP/2 mounts keep their own pools). Returns the
    number of idle connections ready; a connect failure is raised as httpx raises it."""
    transport = transport_for(client, url)
    if not isinstance(transport, LeanTransport) or count < 1:
        return 0
    return await transport.preconnect(url, count, timeout)
