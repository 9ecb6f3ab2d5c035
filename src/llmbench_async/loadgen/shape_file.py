"""`--load-shape`: a shape written inline, or a file of (time, rate) points read through the
inbound boundary and turned into the inline grammar (what `RunConfig` and the results
header keep, so workers and saved runs never read the file again).

A file is CSV (`time,rate` a line, an optional header line, `#` comments; a time is
seconds or a duration like 90s) or JSON (`[[0, 10], [60, 40]]` or
`[{"time": 0, "rate": 10}, …]`). Its points join by straight lines (`linear`) unless the
flag says `step:FILE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ..inbound import check_file, lines, loads
from ..limits import MAX_SHAPE_FILE_BYTES, MAX_SHAPE_POINTS
from ..shapes import SHAPE_KINDS, check_points, parse_load_shape
from ..units import parse_time

__all__ = ["load_shape_spec", "read_points"]

_LINE_CAP = 4096


def load_shape_spec(text: str) -> str:
    """The flag's value as an inline shape: checked as it is, or read from its file."""
    kind, sep, body = text.strip().partition(":")
    kind = kind.strip().lower()
    if sep and kind in SHAPE_KINDS:
        if kind in ("step", "linear") and "@" not in body and body.strip():
            mode: Literal["step", "linear"] = "step" if kind == "step" else "linear"
            return check_points(mode, read_points(Path(body.strip())), "--load-shape").spec()
        return parse_load_shape(text).spec()
    path = Path(text.strip())
    if sep or not ("/" in text or "." in text):
        parse_load_shape(text)  # not a file's name: the grammar's own one-line error
    return check_points("linear", read_points(path), "--load-shape").spec()


def read_points(path: Path) -> list[tuple[float, float]]:
    """(seconds, requests/s) points of a CSV or JSON file, in the file's order."""
    check_file(path, "--load-shape", MAX_SHAPE_FILE_BYTES)
    where = f"--load-shape {path.name}"
    try:
        with path.open("rb") as fh:
            head = fh.read(64).lstrip()
            fh.seek(0)
            if head.startswith((b"[", b"{")):
                return _json_points(loads(fh.read(MAX_SHAPE_FILE_BYTES + 1), where), where)
            return _csv_points(fh, where)
    except OSError as exc:
        raise ConfigError(f"--load-shape: cannot read {path}: {exc.strerror or exc}") from None


def _csv_points(fh: Any, where: str) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for number, raw in lines(fh, where, _LINE_CAP, MAX_SHAPE_FILE_BYTES):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"{where} line {number}: not UTF-8 text") from None
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 2:
            raise ConfigError(f"{where} line {number}: want time,rate (got {line[:60]!r})")
        if not points and not _is_number(cells[1]):  # a header line such as `time,rate`
            continue
        points.append(_point(cells[0], cells[1], f"{where} line {number}"))
        if len(points) > MAX_SHAPE_POINTS:
            raise ConfigError(f"{where}: more than {MAX_SHAPE_POINTS:,} points")
    return points


def _json_points(data: Any, where: str) -> list[tuple[float, float]]:
    if isinstance(data, dict):
        data = data.get("points")
    if not isinstance(data, list):
        raise ConfigError(f"{where}: want a list of [time, rate] pairs or {{time, rate}} objects")
    if len(data) > MAX_SHAPE_POINTS:
        raise ConfigError(f"{where}: more than {MAX_SHAPE_POINTS:,} points")
    points = []
    for i, item in enumerate(data):
        if isinstance(item, dict):
            pair = [item.get("time"), item.get("rate")]
        elif isinstance(item, list) and len(item) == 2:
            pair = item
        else:
            raise ConfigError(f"{where} point {i + 1}: want [time, rate] or {{time, rate}}")
        points.append(_point(pair[0], pair[1], f"{where} point {i + 1}"))
    return points


def _is_number(text: str) -> bool:
    try:
        float(text.removesuffix("/s"))
    except ValueError:
        return False
    return True


def _point(time: Any, rate: Any, where: str) -> tuple[float, float]:
    if isinstance(time, bool) or not isinstance(time, int | float | str):
        raise ConfigError(f"{where}: a time is seconds or a duration like 90s (got {time!r})")
    if isinstance(rate, str) and _is_number(rate):
        rate = float(rate.removesuffix("/s"))
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ConfigError(f"{where}: a rate is a number of requests/s (got {rate!r})")
    seconds = parse_time(time if isinstance(time, str) else float(time), f"{where} time")
    return seconds, float(rate)
