"""The inbound boundary: every byte from outside the process passes through here.

* HTTP bodies: `decoded` turns a body stream into bounded pieces, decompressing gzip and
  deflate (br and zstd when a bounded decoder is installed) with a cap on the OUTPUT, one
  piece of at most `DECODE_PIECE` bytes per step, so a small bomb never becomes a large
  buffer; `read_body` reads a whole body up to a surface's cap.
* JSON: `loads` is strict: finite numbers only, nesting at most `MAX_JSON_DEPTH` deep.
* Files: `check_file` refuses directories, devices, FIFOs and oversized files before any
  byte is read; `lines` reads line by line with a per-line cap.
* The environment's proxy settings: `check_env_proxies`.

Every failure is one line naming the surface (the file, line and field, or the URL), raised
as `InboundError` (a `ConfigError`, exit 2) or `BodyError` (a response over its cap).
The caps themselves live in `limits.py`, one per surface.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import stat
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import orjson

from .errors import ConfigError
from .limits import DECODE_PIECE, MAX_ERROR_BODY_BYTES, MAX_JSON_DEPTH, MIB
from .redact import is_secret_name, mask_url

if TYPE_CHECKING:
    import httpx  # loaded by the run; --help must not pay for it

__all__ = [
    "FRAMING_HEADERS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "BodyError",
    "InboundError",
    "check_env_proxies",
    "check_file",
    "check_header_name",
    "check_headers",
    "check_identity_headers",
    "check_key",
    "decoded",
    "get_bounded",
    "is_secret_header",
    "lines",
    "loads",
    "parse_header",
    "read_body",
    "supported_codings",
]


class InboundError(ConfigError):
    """Input from a file, a flag or the environment that is refused (exit 2)."""


class BodyError(Exception):
    """A response body over its surface's cap, or one that cannot be decoded."""


# --- decompression, capped on its output ----------------------------------------------


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...
    def flush(self) -> Iterator[bytes]: ...


class _ZlibDecoder:
    """gzip (possibly several members) or deflate (zlib-wrapped, or raw as some servers
    send it), one bounded piece at a time."""

    def __init__(self, gzip: bool) -> None:
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self._gzip = gzip
        self._obj = zlib.decompressobj(self._wbits)
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                piece = self._obj.decompress(data, DECODE_PIECE)
            except zlib.error:
                if self._gzip or not self._first:
                    raise BodyError("malformed compressed body") from None
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
                self._first = False
                continue
            self._first = self._first and not data
            if piece:
                yield piece
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                rest = self._obj.unused_data
                if not (self._gzip and rest.strip(b"\0")):
                    return
                self._obj = zlib.decompressobj(self._wbits)  # the next gzip member
                data = rest
            elif not data and len(piece) < DECODE_PIECE:
                return  # all input taken, no output held back

    def flush(self) -> Iterator[bytes]:
        yield from self.feed(b"")


class _BrotliDecoder:
    """br through `brotli`'s Decompressor with an output limit (brotli 1.2 or later)."""

    def __init__(self) -> None:
        import brotli  # type: ignore[import-not-found,unused-ignore]

        self._obj = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        piece = self._obj.process(data, output_buffer_limit=DECODE_PIECE)
        while True:
            if piece:
                yield piece
            if self._obj.is_finished() or not self._obj.can_accept_more_data():
                if self._obj.is_finished():
                    return
                piece = self._obj.process(b"", output_buffer_limit=DECODE_PIECE)
                continue
            return

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _IdentityDecoder:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


def _brotli_bounded() -> bool:
    if importlib.util.find_spec("brotli") is None:
        return False
    import brotli

    return hasattr(brotli.Decompressor(), "can_accept_more_data")


_DECODERS: dict[str, Callable[[], _Decoder]] = {
    "gzip": lambda: _ZlibDecoder(gzip=True),
    "x-gzip": lambda: _ZlibDecoder(gzip=True),
    "deflate": lambda: _ZlibDecoder(gzip=False),
    "identity": _IdentityDecoder,
}


def supported_codings() -> dict[str, Callable[[], _Decoder]]:
    """Content-Encodings decoded with a bounded output here (br only with brotli >= 1.2;
    zstd is refused: no installed decoder caps its output)."""
    found = dict(_DECODERS)
    if _brotli_bounded():
        found["br"] = _BrotliDecoder
    return found


def decoders_for(header: str | None) -> list[_Decoder]:
    """The decoders for a Content-Encoding header, in the order to apply them; a BodyError
    naming a coding we cannot decode with a bounded output."""
    if header is None:
        return []
    known = supported_codings()
    found: list[_Decoder] = []
    for coding in reversed([c.strip().lower() for c in header.split(",")]):
        if not coding or coding == "identity":
            continue
        make = known.get(coding)
        if make is None:
            hint = {"br": " (install brotli>=1.2)"}.get(coding, "")
            raise BodyError(f"cannot decode Content-Encoding {coding[:20]!r}{hint}")
        found.append(make())
    return found


async def decoded(
    stream: AsyncIterable[bytes], coding: str | None, cap: int, what: str = "body"
) -> AsyncIterator[bytes]:
    """The body's pieces, decompressed per `coding`, each at most `DECODE_PIECE` bytes when
    decompressed; a BodyError once more than `cap` decoded bytes came."""
    chain = decoders_for(coding)
    total = 0
    async for raw in stream:
        pieces: Iterator[bytes] = iter((raw,))
        for decoder in chain:
            pieces = _through(decoder, pieces)
        for piece in pieces:
            total += len(piece)
            if total > cap:
                raise BodyError(f"{what} over {_size(cap)}")
            yield piece
    tail: Iterator[bytes] = iter(())
    for decoder in chain:
        tail = _chain(_through(decoder, tail), decoder.flush())
    for piece in tail:
        total += len(piece)
        if total > cap:
            raise BodyError(f"{what} over {_size(cap)}")
        yield piece


def _through(decoder: _Decoder, pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from decoder.feed(piece)


def _chain(first: Iterator[bytes], second: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from second


async def read_body(
    stream: AsyncIterable[bytes],
    cap: int,
    what: str = "body",
    *,
    on_piece: Callable[[], None] | None = None,
) -> bytes:
    """A whole (already decoded) body of at most `cap` bytes; a BodyError past it."""
    parts: list[bytes] = []
    size = 0
    async for piece in stream:
        if on_piece is not None:
            on_piece()
        size += len(piece)
        if size > cap:
            raise BodyError(f"{what} over {_size(cap)}")
        parts.append(piece)
    return b"".join(parts)


async def read_prefix(stream: AsyncIterable[bytes], cap: int) -> bytes:
    """At most the first `cap` bytes of a body (the rest is not read): for excerpts."""
    parts: list[bytes] = []
    size = 0
    async for piece in stream:
        parts.append(piece[: cap - size])
        size += len(parts[-1])
        if size >= cap:
            break
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A GET's status, headers and (decoded, bounded) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


async def get_bounded(
    http: httpx.AsyncClient, url: str, cap: int, what: str, headers: Mapping[str, str] | None
) -> Fetched:
    """GET `url` on the run's client (its routes and proxies), the body decoded with a
    bounded output and read up to `cap` bytes (a BodyError past it); an error status reads
    only the start of its body."""
    async with http.stream("GET", url, headers=headers) as resp:
        pieces = decoded(resp.aiter_raw(), resp.headers.get("content-encoding"), cap, what)
        if resp.status_code != 200:
            body = await read_prefix(pieces, MAX_ERROR_BODY_BYTES)
        else:
            body = await read_body(pieces, cap, what)
        return Fetched(resp.status_code, resp.headers, body)


def _size(cap: int) -> str:
    return f"{cap / MIB:g} MiB" if cap >= MIB else f"{cap / 1024:g} KiB"


# --- strict JSON -----------------------------------------------------------------------


def loads(data: bytes | str, where: str, sep: str = ": ") -> Any:
    """Strict JSON: finite numbers only (no NaN, Infinity or overflowing number) and at most
    `MAX_JSON_DEPTH` levels of nesting; an InboundError naming `where` otherwise."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = str(exc).split(":", 1)[0]
        if "depth" in reason or "recursion" in reason:
            reason = f"nested deeper than {MAX_JSON_DEPTH} levels"
        raise InboundError(f"{where}{sep}not valid JSON ({reason})") from None
    if check_json(value, where):  # orjson reads an integer past 64 bits as a float
        _check_integers(data, where)
    return value


def _check_integers(data: bytes | str, where: str) -> None:
    """An InboundError when the text holds an integer beyond ±2**63 (a float is fine)."""
    import json

    def parse_int(text: str) -> int:
        if len(text.lstrip("-")) > 19 or abs(int(text)) >= 2**63:
            raise InboundError(f"{where}: an integer beyond 64 bits ({text[:24]}...)")
        return int(text)

    try:
        json.loads(data, parse_int=parse_int)
    except RecursionError:
        raise InboundError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None


def check_json(value: Any, where: str) -> bool:
    """An InboundError when `value` (parsed elsewhere) nests too deep or holds a non-finite
    number; True when it holds a float of 2**63 or more (maybe an integer that big)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    big = False
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, float):
                if not math.isfinite(item):
                    raise InboundError(f"{where}: a number that is not finite")
                big = big or abs(item) >= 2**63
            elif isinstance(item, int) and abs(item) >= 2**63:
                raise InboundError(f"{where}: an integer beyond 64 bits")
            continue
        if depth > MAX_JSON_DEPTH:
            raise InboundError(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return big


def refuse_constant(name: str) -> Any:
    """`parse_constant` for the stdlib parser: NaN, Infinity and -Infinity are refused."""
    raise ValueError(f"{name} is not a finite number")


# --- files -----------------------------------------------------------------------------


def check_file(path: Path, flag: str, cap: int) -> int:
    """The size of a regular file of at most `cap` bytes; an InboundError naming the file
    for one that is missing, unreadable, a directory, a device, a FIFO or too big. Nothing
    is read (a FIFO or /dev/zero is never opened)."""
    said = f"{flag}: " if flag else ""  # "" for a command's argument (report, compare)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InboundError(f"{said}cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InboundError(f"{said}{path} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InboundError(f"{said}{path} is not a regular file (a device, FIFO or socket)")
    if info.st_size > cap:
        raise InboundError(f"{said}{path} is {_size(info.st_size)}; at most {_size(cap)}")
    if not os.access(path, os.R_OK):
        raise InboundError(f"{said}cannot read {path}: permission denied")
    return info.st_size


def lines(fh: IO[bytes], where: str, line_cap: int, total_cap: int) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each line of a binary file, each at most `line_cap` bytes and
    all at most `total_cap` (a file that grows while read is cut off there)."""
    total = 0
    number = 0
    while True:
        raw = fh.readline(line_cap + 1)
        if not raw:
            return
        number += 1
        total += len(raw)
        if len(raw) > line_cap:
            raise InboundError(f"{where} line {number} is longer than {_size(line_cap)}")
        if total > total_cap:
            raise InboundError(f"{where} is larger than {_size(total_cap)}")
        yield number, raw


# --- the environment's proxies ---------------------------------------------------------

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def check_env_proxies(env: Mapping[str, str]) -> None:
    """HTTP_PROXY, HTTPS_PROXY and ALL_PROXY (any case) must be http(s) URLs with a host and
    a valid port (socks5 too when socksio is installed); one line naming the variable,
    credentials masked, otherwise."""
    socks = importlib.util.find_spec("socksio") is not None
    schemes = ("http", "https", "socks5", "socks5h") if socks else ("http", "https")
    for name in _PROXY_VARS:
        for key in (name, name.lower()):
            value = env.get(key, "").strip()
            if value:
                _check_proxy(key, value, schemes)


def _check_proxy(name: str, value: str, schemes: tuple[str, ...]) -> None:
    shown = mask_url(value)
    if "://" not in value:
        value = "http://" + value  # httpx reads a bare host:port as http
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        raise InboundError(f"{name} must not hold spaces or control characters")
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed IPv6 bracket, ...
        raise InboundError(f"{name} is not a valid proxy URL (got {shown!r})") from None
    if parts.scheme.lower() not in schemes:
        raise InboundError(
            f"{name}: proxy scheme {parts.scheme!r} is not supported "
            f"(use {' or '.join(s + '://' for s in schemes)}; got {shown!r}); "
            "or pass --no-proxy-env"
        )
    try:
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise InboundError(f"{name} has a bad port (got {shown!r})") from None
    if not host or (port is not None and port == 0):
        raise InboundError(f"{name} has no host or a bad port (got {shown!r})")


# Request headers, validated once whatever their source (-H, --api-key, --api-key-file,
# OPENAI_API_KEY, --api-key-header, the Python API): names are HTTP tokens, values hold no
# CR, LF, NUL or other control character, and nobody but the transport sets a header that
# frames the message or governs the hop. A refused value is never echoed (it may be a key).
# the headers that frame the HTTP message or govern the hop: the transport sets them
FRAMING_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 * 1024
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # tab is allowed


def is_secret_header(name: str) -> bool:
    """Whether a header's value must be treated like the API key (Authorization, api-key,
    x-api-key, cookies, anything with key, token, secret or auth in its name)."""
    return is_secret_name(name)


def check_header_name(name: str, flag: str) -> None:
    """A ConfigError unless `name` is an HTTP token that frames nothing and is no proxy
    header (`Proxy-*` belongs to the route, `--proxy`)."""
    if not _TOKEN.fullmatch(name):
        lead = _TOKEN.match(name)
        shown = f"starting {lead.group(0)[:60]!r} " if lead else ""
        raise ConfigError(f"{flag}: bad header name {shown}(must be an HTTP token; not shown)")
    lower = name.lower()
    if lower in FRAMING_HEADERS or lower.startswith("proxy-"):
        raise ConfigError(f"{flag} {name}: this header frames the request; it cannot be set")


def check_value(name: str, value: str, flag: str) -> None:
    """No CR, LF, NUL or other control character, Latin-1 only; the value is not shown."""
    if _BAD_VALUE.search(value):
        raise ConfigError(f"{flag} {name}: the value holds a control character (CR, LF, NUL...)")
    if any(ord(c) > 255 for c in value):
        raise ConfigError(f"{flag} {name}: the value must be Latin-1 text")


def check_key(key: str, key_header: str | None) -> None:
    """The API key, wherever it came from (--api-key, --api-key-file, OPENAI_API_KEY), and
    the header that carries it (--api-key-header)."""
    if _BAD_VALUE.search(key) or any(ord(c) > 255 for c in key):
        raise ConfigError(
            "the API key (--api-key, --api-key-file or OPENAI_API_KEY) holds a control "
            "character (CR, LF, NUL...) or a non-Latin-1 character; it is not shown"
        )
    if key_header is not None and key_header != "none":
        check_header_name(key_header, "--api-key-header")


# headers every request carries already (wire/assemble.py, the APIs' key headers)
_OWN_HEADERS = frozenset(
    {"content-type", "accept", "accept-encoding", "user-agent", "authorization", "x-api-key",
     "anthropic-version", "traceparent"}
)  # fmt: skip


def check_identity_headers(
    id_header: str, traceparent: bool, headers: Mapping[str, str], key_header: str | None
) -> None:
    """--request-id-header is an HTTP token that no --header, key header or header of ours
    also sets; --traceparent's header is not set by --header too (each request's own would
    clash). `id_header` "none": no id is sent."""
    given = {name.lower() for name in headers}
    if id_header != "none":
        check_header_name(id_header, "--request-id-header")
        lower = id_header.lower()
        if lower in given or lower == (key_header or "").lower():
            raise ConfigError(
                f"--request-id-header {id_header}: that header is set by --header or "
                "--api-key-header too; pass --request-id-header none to send your own"
            )
        if lower in _OWN_HEADERS:
            raise ConfigError(
                f"--request-id-header {id_header}: every request already sends that header; "
                "name another (the default is X-Request-Id)"
            )
    if traceparent and "traceparent" in given:
        raise ConfigError("--traceparent and --header traceparent: pass one of them")


def parse_header(text: str) -> tuple[str, str]:
    """`'Name: value'` → (name, value), or a ConfigError naming the expected form."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or not _TOKEN.fullmatch(name):
        # only the leading name is shown: the rest may be a credential or a control character
        lead = _TOKEN.match(text.strip()) if sep else None  # no `:`: maybe a bare token
        shown = f", starting {lead.group(0)[:60]!r}" if lead else ""
        raise ConfigError(
            f"--header must look like 'Name: value' (got one that does not{shown}; "
            "the rest is not shown)"
        )
    check_value(name, value, "--header")
    return name, value.strip()


def check_headers(headers: Mapping[str, str]) -> None:
    """-H rules: at most 100 headers and 64 KiB, valid names, each name once (case does
    not matter), no framing header, no control character in a value."""
    if len(headers) > MAX_HEADERS:
        raise ConfigError(f"--header given {len(headers)} times; at most {MAX_HEADERS}")
    size = sum(len(k) + len(v) + 4 for k, v in headers.items())
    if size > MAX_HEADER_BYTES:
        raise ConfigError(f"--header: {size} bytes of headers; at most 64 KiB")
    seen: set[str] = set()
    for name, value in headers.items():
        check_header_name(name, "--header")
        check_value(name, value, "--header")
        lower = name.lower()
        if lower in seen:
            raise ConfigError(f"--header {name} given twice (header names ignore case)")
        seen.add(lower)


# --- a listening address ---------------------------------------------------------------


def check_host(host: str, flag: str) -> None:
    """A host name or IP address to listen on: a ConfigError naming `flag` otherwise."""
    import ipaddress

    text = host.strip()
    try:
        ipaddress.ip_address(text)
        return
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if not text or len(text) > 253 or not all(_HOST_LABEL.fullmatch(x) for x in labels):
        shown = "".join(c if c.isprintable() else "?" for c in text[:60])
        raise ConfigError(f"{flag} must be a host name or an IP address (got {shown!r})")


_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
