"""Every source of a request header, through the real command line: a CR, LF, NUL or other
control character in `--api-key`, `OPENAI_API_KEY`, `--api-key-file`, `-H` or
`--api-key-header` is refused before any request, exit 2 with one line that never shows the
value (docs/security.md, "Headers, validated once")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli
from rawserver import OK_STREAM, RawServer, Seen, response

SECRET = "sk-HDRsecret0123456789"
INJECTED = "X-Injected"
# the characters that end or break a header line, and C1 controls (NEL ends a line in some parsers)
BREAKS = ["\r\n", "\n", "\r", "\x00", "\x0b", "\x1b", "\x85"]


def _handler(seen: Seen, number: int) -> bytes:
    if seen.method == "GET":
        return response(200, json.dumps({"data": [{"id": "m"}]}).encode())
    return OK_STREAM


Source = Callable[[str, Path], tuple[list[str], dict[str, str]]]


def _key_flag(value: str, _tmp: Path) -> tuple[list[str], dict[str, str]]:
    return ["--api-key", value], {}


def _key_env(value: str, _tmp: Path) -> tuple[list[str], dict[str, str]]:
    return [], {"OPENAI_API_KEY": value}


def _key_file(value: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    path = tmp / "key"
    path.write_bytes(value.encode("utf-8") + b"\n")
    return ["--api-key-file", str(path)], {}


def _header_value(value: str, _tmp: Path) -> tuple[list[str], dict[str, str]]:
    return ["-H", f"X-Api-Token: {value}"], {}


def _header_name(value: str, _tmp: Path) -> tuple[list[str], dict[str, str]]:
    return ["-H", f"X-Name{value}: v"], {}


def _key_header(value: str, _tmp: Path) -> tuple[list[str], dict[str, str]]:
    return ["--api-key-header", f"X-Key{value}", "--api-key", "sk-plain-key-000"], {}


SOURCES: dict[str, Source] = {
    "--api-key": _key_flag,
    "OPENAI_API_KEY": _key_env,
    "--api-key-file": _key_file,
    "-H value": _header_value,
    "-H name": _header_name,
    "--api-key-header": _key_header,
}


@pytest.mark.parametrize("brk", BREAKS, ids=[repr(b) for b in BREAKS])
@pytest.mark.parametrize("source", list(SOURCES))
def test_a_line_break_or_control_in_any_header_source_is_refused_unseen(
    source: str, brk: str, tmp_path: Path
) -> None:
    if brk == "\x00" and source in ("--api-key", "OPENAI_API_KEY", "-H value", "-H name"):
        brk = "\x01"  # an argument or the environment cannot hold NUL; a file can
    if brk == "\x00" and source == "--api-key-header":
        brk = "\x02"
    names = source in ("-H name", "--api-key-header")  # a name is shown up to the break
    value = f"{brk}{INJECTED}: 1" if names else f"{SECRET}{brk}{INJECTED}: 1"
    args, env = SOURCES[source](value, tmp_path)
    with RawServer(_handler) as srv:
        res = run_cli("--base-url", srv.url + "/v1", "-m", "m", "-n", "1", *args, env=env)
        posted = [s for s in srv.seen if s.method == "POST"]
    assert res.code == 2, (res.code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmbench-async: error:"), res.stderr
    assert "Traceback" not in res.stderr
    assert posted == []  # refused before any request
    for text in (res.stdout, res.stderr):
        assert SECRET[3:11] not in text and INJECTED not in text, text


@pytest.mark.parametrize(
    "header",
    [
        f"Authorization=Bearer {SECRET}",
        f"Authorization Bearer {SECRET}",
        f"X-Api-Key {SECRET}",
        f": {SECRET}",
        f"Bad Name: {SECRET}",
        f"{SECRET}",
    ],
)
def test_a_malformed_header_never_shows_what_follows_its_name(header: str) -> None:
    """A `-H` without a valid `Name:` is refused with its leading name at most: the rest
    may be the credential it meant to send."""
    res = run_cli("--base-url", "http://127.0.0.1:9/v1", "-m", "m", "-n", "1", "-H", header)
    assert res.code == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "--header must look like 'Name: value'" in res.stderr
    assert SECRET[3:11] not in res.stderr + res.stdout


def test_a_key_file_ending_in_a_windows_line_break_is_one_key(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(SECRET.encode() + b"\r\n")
    with RawServer(_handler) as srv:
        res = run_cli(
            *("--base-url", srv.url + "/v1", "-m", "m", "-n", "1", "--api-key-file", str(path))
        )
        sent = [s.header_values("authorization") for s in srv.seen if s.method == "POST"]
    assert res.code == 0, res.stderr
    assert sent == [[f"Bearer {SECRET}"]]
