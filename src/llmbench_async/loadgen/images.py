"""Images attached to requests (`--images N`, `--image-size WxH`, `--image-dir DIR`).

Synthetic images are PNGs of seeded noise built with the standard library (zlib + struct):
noise does not compress, so a W x H image weighs about 3·W·H bytes, like a photo of that
size, and a server's image cache sees no repeats it would not see in production. A run
draws a pool of distinct images once; request i carries images i·N … i·N+N−1 of the pool
(cyclically), so consecutive requests carry different images.

`--image-dir` files go through the inbound boundary: regular files only, each at most
20 MiB, at most 1024 of them and 256 MiB in all, and only PNG, JPEG, WebP and GIF,
recognised by their first bytes (never by their name).
"""

from __future__ import annotations

import base64
import random
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..inbound import check_file
from ..limits import MAX_BODY_BYTES, MIB
from ..wire.apis import Message, flatten

__all__ = [
    "Image",
    "attach",
    "check_image_budget",
    "image_pool",
    "images_of",
    "load_image_dir",
    "media_type",
    "parse_image_size",
    "synthetic_png",
]

MAX_IMAGE_BYTES = 20 * MIB  # one --image-dir file
MAX_IMAGE_FILES = 1024
MAX_IMAGE_DIR_BYTES = 256 * MIB
_POOL = 64  # distinct synthetic images drawn per run, at most


@dataclass(frozen=True, slots=True)
class Image:
    """One image: its media type and its bytes, base64-encoded once."""

    media_type: str
    size: int  # bytes of the image itself
    b64: str

    @classmethod
    def of(cls, media: str, data: bytes) -> Image:
        return cls(media, len(data), base64.b64encode(data).decode("ascii"))

    @property
    def data_uri(self) -> str:
        return f"data:{self.media_type};base64,{self.b64}"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def synthetic_png(width: int, height: int, seed: int) -> bytes:
    """A `width` x `height` RGB PNG of noise drawn from `seed` (the same seed, the same
    bytes)."""
    rng = random.Random(seed)
    row = width * 3
    raw = b"".join(b"\x00" + rng.randbytes(row) for _ in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 1))
        + _chunk(b"IEND", b"")
    )


def media_type(head: bytes) -> str | None:
    """The media type of an image by its first bytes: PNG, JPEG, WebP or GIF; else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def load_image_dir(folder: Path) -> tuple[Image, ...]:
    """The images of a folder (not its sub-folders), by name; a one-line ConfigError for a
    folder that is missing or empty of images, a file over its cap, or a file that is not
    PNG, JPEG, WebP or GIF."""
    if not folder.is_dir():
        raise ConfigError(f"--image-dir: {folder} is not a folder")
    try:
        names = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise ConfigError(f"--image-dir: cannot read {folder}: {exc.strerror or exc}") from None
    files = [p for p in names if not p.is_dir()]
    if len(files) > MAX_IMAGE_FILES:
        raise ConfigError(f"--image-dir: {folder} holds over {MAX_IMAGE_FILES} files")
    images = []
    total = 0
    for path in files:
        total += check_file(path, "--image-dir", MAX_IMAGE_BYTES)
        if total > MAX_IMAGE_DIR_BYTES:
            raise ConfigError(f"--image-dir: {folder} holds over {MAX_IMAGE_DIR_BYTES >> 20} MiB")
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_IMAGE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"--image-dir: cannot read {path}: {exc.strerror or exc}") from None
        media = media_type(data[:16])
        if media is None:
            raise ConfigError(f"--image-dir: {path} is not a PNG, JPEG, WebP or GIF image")
        images.append(Image.of(media, data[:MAX_IMAGE_BYTES]))
    if not images:
        raise ConfigError(f"--image-dir: {folder} holds no image")
    return tuple(images)


def parse_image_size(text: str) -> tuple[int, int]:
    """`WxH` in pixels (`512x384`) → (512, 384); a one-line ConfigError otherwise."""
    width, sep, height = text.strip().lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ConfigError(
            f"--image-size must be WIDTHxHEIGHT in pixels, e.g. 512x512 (got {text!r})"
        )
    return int(width), int(height)


def check_image_budget(count: int, size: tuple[int, int]) -> None:
    """A one-line ConfigError when `count` synthetic images of `size` would not fit in one
    request body (16 MiB): each weighs 3·W·H bytes and base64 adds a third."""
    width, height = size
    estimate = count * (3 * width + 1) * height * 4 / 3
    if estimate > MAX_BODY_BYTES:
        raise ConfigError(
            f"--images {count} of {width}x{height} would make each request about "
            f"{estimate / MIB:.1f} MiB; a request body holds at most {MAX_BODY_BYTES // MIB} MiB"
        )


def image_pool(
    count: int, size: tuple[int, int], seed: int, folder: Path | None
) -> tuple[Image, ...]:
    """The run's images: a folder's, or up to 64 distinct synthetic PNGs (4 per image a
    request carries) drawn from `seed`."""
    if folder is not None:
        return load_image_dir(folder)
    if count <= 0:
        return ()
    width, height = size
    pool = min(_POOL, max(count, 4 * count))
    return tuple(
        Image.of("image/png", synthetic_png(width, height, seed * 1_000_003 + k))
        for k in range(pool)
    )


def images_of(pool: Sequence[Image], count: int, index: int) -> list[Image]:
    """The `count` images request `index` carries."""
    return [pool[(index * count + k) % len(pool)] for k in range(count)]


def attach(api: str, messages: Sequence[Message], images: Sequence[Image]) -> list[Message]:
    """`messages` with `images` added to the last user message, in the API's own shape."""
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        if out[i].get("role") == "user":
            text = flatten([out[i]])
            out[i] = {**out[i], "content": [_text_part(api, text), *map(_part(api), images)]}
            break
    return out


def _text_part(api: str, text: str) -> dict[str, Any]:
    return {"type": "input_text" if api == "responses" else "text", "text": text}


def _part(api: str) -> Any:
    def chat(image: Image) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": image.data_uri}}

    def responses(image: Image) -> dict[str, Any]:
        return {"type": "input_image", "image_url": image.data_uri}

    def messages(image: Image) -> dict[str, Any]:
        source = {"type": "base64", "media_type": image.media_type, "data": image.b64}
        return {"type": "image", "source": source}

    return {"responses": responses, "messages": messages}.get(api, chat)
