"""--images, --image-size and --image-dir (loadgen/images.py): synthetic PNGs that decode,
seeded; each API's own shape, proven by the mock's truth log (images and bytes per
request); hostile folders and flags end in one line and exit 2."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import StartMock, run_cli

from llmbench_async.loadgen.images import image_pool, images_of, media_type, synthetic_png
from llmbench_async.report.outcomes import answers_line


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, at = [], 8
    while at < len(png):
        (size,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + size]
        (crc,) = struct.unpack(">I", png[at + 8 + size : at + 12 + size])
        assert crc == zlib.crc32(kind + data)
        out.append((kind, data))
        at += 12 + size
    return out


def test_synthetic_png_decodes_and_is_seeded() -> None:
    png = synthetic_png(7, 5, seed=11)
    chunks = _chunks(png)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, colour) == (7, 5, 8, 2)
    rows = zlib.decompress(chunks[1][1])
    assert len(rows) == 5 * (1 + 7 * 3) and rows[:: 1 + 7 * 3] == b"\x00" * 5
    assert synthetic_png(7, 5, seed=11) == png
    assert synthetic_png(7, 5, seed=12) != png


@pytest.mark.parametrize(
    ("head", "media"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0....", "image/jpeg"),
        (b"GIF89a......", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"<svg xmlns=", None),
        (b"", None),
    ],
)
def test_media_type_by_magic_bytes(head: bytes, media: str | None) -> None:
    assert media_type(head) == media


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_synthetic_images_reach_the_server(start_mock: StartMock, tmp_path: Path, api: str) -> None:
    log, out, summary = tmp_path / "truth.jsonl", tmp_path / "r.jsonl", tmp_path / "s.json"
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=3, log_path=str(log))
    args = ["run", "--base-url", mock.base_url, "-m", "mock-model", "--api", api, "-n", "4"]
    flags = ["--images", "2", "--image-size", "16x8", "--seed", "4", "-c", "1"]
    md, html = tmp_path / "s.md", tmp_path / "s.html"
    outputs = ["-o", str(out), "--json", str(summary), "--markdown", str(md), "--html", str(html)]
    result = run_cli(*args, *flags, *outputs)
    assert result.code == 0, result.stderr
    truth = {row["id"]: row for row in _rows(log)}
    pool = image_pool(2, (16, 8), 4, None)
    records = [r for r in _rows(out) if r["type"] == "request"]
    assert len(records) == 4
    for record in records:
        row = truth[record["response_id"]]
        expected = images_of(pool, 2, record["index"])
        assert row["images"] == 2
        assert row["image_bytes"] == sum(image.size for image in expected)
        assert row["request_bytes"] == record["request_bytes"]
    # consecutive requests carry different images
    assert len({truth[r["response_id"]]["request_bytes"] for r in records}) >= 1
    assert images_of(pool, 2, 0) != images_of(pool, 2, 1)
    sizes = [r["request_bytes"] for r in records]
    saved = json.loads(summary.read_text())["request_bytes"]
    assert saved == {"mean": pytest.approx(sum(sizes) / 4), "max": max(sizes)}
    assert "Request size:" in result.stdout
    assert "· 2 images 16x8" in result.stdout  # the settings line
    assert "**Request size:** mean" in md.read_text()
    assert "Request size: mean" in html.read_text()


@pytest.mark.parametrize(
    "saved", [None, "x", {"mean": float("nan"), "max": 1}, {"mean": True, "max": 1}, {"mean": 1}]
)
def test_a_saved_request_size_that_is_not_one_is_not_shown(saved: Any) -> None:
    assert "Request size" not in answers_line({}, saved)
    assert answers_line({}, {"mean": 1536, "max": 2048}) == "Request size: mean 1.5 KiB, max 2 KiB"


def test_image_dir_files_are_sent_as_they_are(start_mock: StartMock, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    files = {
        "a.png": synthetic_png(3, 3, 1),
        "b.jpg": b"\xff\xd8\xff\xe0" + b"j" * 50,
        "c.gif": b"GIF89a" + b"g" * 20,
        "d.webp": b"RIFF\x10\x00\x00\x00WEBP" + b"w" * 9,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    log = tmp_path / "truth.jsonl"
    mock = start_mock(ttft_ms=0, itl_ms=0, tokens=3, log_path=str(log))
    args = ["run", "--base-url", mock.base_url, "-m", "mock-model", "-n", "4", "-c", "1"]
    result = run_cli(*args, "--image-dir", str(folder), "--api", "messages", "-q")
    assert result.code == 0, result.stderr
    rows = _rows(log)
    assert [row["images"] for row in rows] == [1, 1, 1, 1]
    assert sorted(row["image_bytes"] for row in rows) == sorted(map(len, files.values()))


@pytest.mark.parametrize(
    ("setup", "flags", "says"),
    [
        ("text", [], "is not a PNG, JPEG, WebP or GIF image"),
        ("empty", [], "holds no image"),
        ("missing", [], "is not a folder"),
        ("big", [], "at most 20 MiB"),
        (None, ["--images", "1", "--api", "completions"], "--images and --image-dir work"),
        (None, ["--images", "1", "--image-size", "12"], "--image-size must be WIDTHxHEIGHT"),
        (None, ["--images", "1", "--image-size", "5000x2"], "--image-size must be"),
        (None, ["--images", "65", "--image-size", "8x8"], "--images must be"),
        (None, ["--images", "2", "--image-size", "2048x2048"], "at most 16 MiB"),
        ("uneven", ["--images", "2"], "the largest 2 image(s) would be"),
    ],
)
def test_bad_images_end_in_one_line(
    tmp_path: Path, setup: str | None, flags: list[str], says: str
) -> None:
    folder = tmp_path / "imgs"
    if setup in ("text", "empty", "big", "uneven"):
        folder.mkdir()
    if setup == "uneven":  # request 0 fits; the two largest files together do not
        small = synthetic_png(2, 2, 1)
        for name in ("a.png", "b.png"):
            (folder / name).write_bytes(small)
        for name in ("c.png", "d.png"):
            (folder / name).write_bytes(small + b"\0" * (7 << 20))
    if setup == "text":
        (folder / "a.png").write_text("not an image")
    if setup == "big":
        with (folder / "big.png").open("wb") as fh:
            fh.truncate(21 << 20)
    given = [] if setup is None else ["--image-dir", str(folder)]
    result = run_cli("run", "--mock", "-n", "1", *given, *flags)
    assert result.code == 2, result.stderr
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
