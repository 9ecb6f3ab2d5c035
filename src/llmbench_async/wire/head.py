"""A request head encoded once per target: the lean transport's fast path.

Every request of a run goes to the same URL with the same headers; only the body (and so
its Content-Length) and, where a caller asks for them, a few per-request headers (a unique
request id) change. `RequestHead` holds the request line, `Host` and the fixed headers as
one bytes prefix, built when the target is; `encode` adds the per-request headers and the
Content-Length and ends the head. No `httpx.Request`, `httpx.URL` or `Headers` is made per
request. The bytes are those `transport._request_head` writes for the equivalent
`httpx.Request` (tests/test_head.py checks them through a socket).

`LeanAnswer` is the response the fast path hands back in place of an `httpx.Response`: the
status, the raw header list (looked up by name without building `httpx.Headers`) and the body
stream (the connection's `Response`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import httpx

from .connection import Origin, Response

Header = tuple[bytes, bytes]


class RequestHead:
    """`POST <path> HTTP/1.1`, `Host` and the fixed headers, encoded once."""

    __slots__ = ("origin", "prefix")

    def __init__(self, url: httpx.URL, headers: Mapping[str, str], method: str = "POST") -> None:
        lines = [method.encode("ascii"), b" ", url.raw_path, b" HTTP/1.1\r\n"]
        lines += (b"Host: ", url.netloc, b"\r\n")
        for name, value in headers.items():
            lower = name.lower()
            if lower in ("content-length", "transfer-encoding"):
                continue  # we always send one fixed-length body and say its length ourselves
            lines += (name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n")
        self.prefix = b"".join(lines)
        scheme = url.scheme
        # None: not a scheme the lean transport speaks (the httpx path then says so)
        self.origin: Origin | None = (
            (scheme, url.host, url.port or (443 if scheme == "https" else 80))
            if scheme in ("http", "https")
            else None
        )

    def encode(self, body_len: int, extra: Sequence[Header] = ()) -> bytes:
        """The whole head for a body of `body_len` bytes, with `extra` per-request headers
        (each a (name, value) pair of bytes, written after the fixed ones)."""
        if extra:
            more = b"".join(b"%s: %s\r\n" % (name, value) for name, value in extra)
            return b"%s%sContent-Length: %d\r\n\r\n" % (self.prefix, more, body_len)
        return b"%sContent-Length: %d\r\n\r\n" % (self.prefix, body_len)


class HeaderLookup(Protocol):
    """A response's headers by name: `httpx.Headers` or `RawHeaders`."""

    def get(self, key: str, default: str | None = None) -> str | None: ...


class RawHeaders:
    """A response's headers as llhttp gave them, looked up by name (case-insensitive); several
    values of one name are joined with ", ", as `httpx.Headers.get` does."""

    __slots__ = ("_by_name", "_raw")

    def __init__(self, raw: Iterable[Header]) -> None:
        self._raw = tuple(raw)
        self._by_name: dict[str, str] | None = None  # made at the first lookup

    def get(self, key: str, default: str | None = None) -> str | None:
        by_name = self._by_name
        if by_name is None:
            by_name = self._by_name = {}
            for name, value in self._raw:
                lower = name.decode("latin-1").lower()
                text = _text(value)
                seen = by_name.get(lower)
                by_name[lower] = text if seen is None else f"{seen}, {text}"
        return by_name.get(key.lower(), default)

    @property
    def raw(self) -> list[Header]:
        return list(self._raw)


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class LeanAnswer:
    """A response head from the lean transport's fast path and its body stream."""

    __slots__ = ("extensions", "headers", "status_code", "stream")

    def __init__(self, response: Response) -> None:
        self.status_code = response.status
        self.headers = RawHeaders(response.headers)
        self.stream: Response = response
        self.extensions = {"http_version": b"HTTP/1.1", "reason_phrase": response.reason}

    async def aclose(self) -> None:
        await self.stream.aclose()
