"""Hostile servers and confused users through the real command line: secrets never
leak, no input can crash or exhaust the tool. Each case asserts the exit code, one line on
stderr and no traceback, and that no output or file holds 8 consecutive characters of a
secret."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import random
import string
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import CliResult, run_cli
from rawserver import OK_STREAM, RawServer, Seen, response, sse

KEY = "sk-" + "".join(random.Random(7).choices(string.ascii_letters + string.digits, k=40))
OUT_FLAGS = ("-o", "r.jsonl", "--json", "s.json", "--markdown", "m.md", "--junit", "j.xml")


def _grams(secret: str, size: int = 8) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def assert_no_secret(res: CliResult, folder: Path, secret: str = KEY) -> None:
    """No 8-character piece of `secret` in stdout, stderr or any file under `folder`."""
    texts = {"stdout": res.stdout, "stderr": res.stderr}
    for path in folder.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    for where, text in texts.items():
        for gram in _grams(secret):
            assert gram not in text, f"{gram!r} of the secret leaked into {where}"


def one_error_line(res: CliResult) -> str:
    assert "Traceback" not in res.stderr, res.stderr
    lines = [x for x in res.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("llmbench-async: error: "), res.stderr
    return lines[0]


def cli_quick(*args: str) -> CliResult:
    """The CLI's entry point in this process: for usage errors that must stop before any
    request (a subprocess per case would make these tests slow)."""
    from llmbench_async.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--base-url", "http://127.0.0.1:9", "--model", "m", *args])
    return CliResult(code, out.getvalue(), err.getvalue())


def cli_in(
    folder: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> CliResult:
    """The real CLI with relative output paths resolved inside `folder`."""
    fixed = [str(folder / a) if a.endswith((".jsonl", ".json", ".md", ".xml")) else a for a in args]
    return run_cli(*fixed, timeout=timeout, env=env, cwd=folder)


# ------------------------------------------------------------------ secrets in server echoes


def _echo_forms(rng: random.Random) -> str:
    """The key, or an escaped form, or a long prefix of it, at a random place in a random
    message of random length."""
    piece = rng.choice(
        [
            KEY,
            KEY[: rng.randint(8, len(KEY) - 1)],
            KEY.replace("-", "\\u002d"),
            urllib.parse.quote(KEY, safe=""),
            KEY[rng.randint(0, len(KEY) - 9) :],
        ]
    )
    before = "".join(rng.choices(string.ascii_lowercase + " ", k=rng.randint(0, 400)))
    after = "".join(rng.choices(string.ascii_lowercase + " ", k=rng.randint(0, 400)))
    return before + piece + after


def _hostile_echo(seen: Seen, number: int) -> bytes:
    rng = random.Random(number)
    text = _echo_forms(rng)
    shape = number % 6
    if shape == 0:
        return response(400, json.dumps({"error": {"message": text}}).encode())
    if shape == 1:
        return response(500, text.encode(), "text/plain")
    if shape == 2:
        return sse([json.dumps({"error": {"message": text}}).encode()])
    if shape == 3:  # a malformed event whose excerpt would cut through the key
        return sse([b'{"choices": [' + text.encode()])
    if shape == 4:
        return response(200, text.encode(), "text/html")
    return b"event: error\r\n" + sse([json.dumps({"message": text, "code": 500}).encode()])


def test_server_echoes_of_the_key_never_leak(tmp_path: Path) -> None:
    with RawServer(_hostile_echo) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--api-key", KEY, "--model", "m"),
            *("-n", "60", "-c", "4", "--retries", "0", *OUT_FLAGS),
        )
    assert res.code in (1, 3), res
    assert "Traceback" not in res.stderr
    assert (tmp_path / "r.jsonl").exists()
    assert_no_secret(res, tmp_path)


def _encoded_echo(key: str, shape: int) -> str:
    """The key as a server may echo it re-encoded: base64 alone or after a prefix of each
    length mod 3 (its alignments), URL-safe base64, upper or lower case."""
    framed = ("", "u:", "ab:", "Bearer ")[shape % 4] + key + ("", "zz")[shape % 2]
    if shape < 4:
        return base64.b64encode(framed.encode()).decode()
    if shape < 6:
        return base64.urlsafe_b64encode(b"\xff\xfe" + framed.encode()).decode()
    return framed.upper() if shape == 6 else framed.lower()


@pytest.mark.parametrize("shape", range(8))
def test_re_encoded_echoes_of_the_key_never_leak(shape: int, tmp_path: Path) -> None:
    """Base64 in any alignment (a `Basic` header the server built itself), URL-safe base64
    and a change of case are the key as well."""

    def handler(seen: Seen, number: int) -> bytes:
        echo = _encoded_echo(KEY, shape)
        if seen.method == "GET":
            return response(200, json.dumps({"data": [{"id": "m"}, {"id": echo}]}).encode())
        return response(400, json.dumps({"error": {"message": "bad key " + echo}}).encode())

    with RawServer(handler) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--api-key", KEY, "--model", "m"),
            *("-n", "2", "--retries", "0", *OUT_FLAGS, "--html", "r.html"),
        )
    assert res.code == 3, res
    one_error_line(res)
    for text in (res.stderr, *(p.read_text() for p in tmp_path.iterdir() if p.is_file())):
        assert _encoded_echo(KEY, shape)[8:16] not in text
    assert_no_secret(res, tmp_path)


def test_models_failure_echo_never_leaks(tmp_path: Path) -> None:
    def handler(seen: Seen, number: int) -> bytes:
        return response(500, json.dumps({"error": {"message": "x" * 190 + KEY}}).encode())

    with RawServer(handler) as srv:
        res = cli_in(tmp_path, "--base-url", srv.url, "--api-key", KEY, *OUT_FLAGS)
    assert res.code == 3, res
    one_error_line(res)
    assert_no_secret(res, tmp_path)


def test_secret_header_echo_never_leaks(tmp_path: Path) -> None:
    token = "tok-" + KEY[3:]

    def handler(seen: Seen, number: int) -> bytes:
        return response(400, json.dumps({"error": {"message": "bad " + token[:30]}}).encode())

    with RawServer(handler) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--model", "m", "-H", f"X-Api-Token: {token}"),
            *("-n", "3", "--retries", "0", *OUT_FLAGS),
        )
    assert res.code in (1, 3), res
    assert_no_secret(res, tmp_path, token)


# ------------------------------------------------------------------ URL credentials


@pytest.mark.parametrize("how", ["flag", "env"])
def test_password_in_base_url_is_refused_and_never_shown(tmp_path: Path, how: str) -> None:
    password = "hunter2-" + KEY[3:20]
    with RawServer(lambda s, n: OK_STREAM) as srv:
        url = srv.url.replace("http://", f"http://user:{password}@")
        args = ["--model", "m", "-n", "1", *OUT_FLAGS]
        if how == "flag":
            res = cli_in(tmp_path, "--base-url", url, *args)
        else:
            res = cli_in(tmp_path, *args, env={"OPENAI_BASE_URL": url})
        assert not srv.seen, "a request was sent with credentials in the URL"
    assert res.code == 2, res
    line = one_error_line(res)
    assert "--api-key" in line or "-H" in line
    assert_no_secret(res, tmp_path, password)


# ------------------------------------------------------------------ numbers


BAD_NUMBERS = [
    ("--timeout", "nan"),
    ("--timeout", "inf"),
    ("--timeout", "1e300"),
    ("--timeout", "-1"),
    ("--timeout", "0"),
    ("--read-timeout", "nan"),
    ("--read-timeout", "inf"),
    ("--connect-timeout", "-inf"),
    ("--max-backoff", "-1"),
    ("--max-backoff", "nan"),
    ("--grace", "nan"),
    ("--grace", "-1"),
    ("--rate", "nan"),
    ("--rate", "-5"),
    ("--rate", "1e300"),
    ("--duration", "nan"),
    ("--duration", "1e300"),
    ("--warmup", "-3"),
    ("--warmup", "nans"),
    ("-c", "0"),
    ("-c", "-4"),
    ("-c", "100000000"),
    ("-n", "0"),
    ("-n", "-1"),
    ("-n", "1e300"),
    ("--max-tokens", "0"),
    ("--max-tokens", "1000000000000"),
    ("--input-tokens", "-5"),
    ("--input-tokens", "nan"),
    ("--input-tokens", "100000000000"),
    ("--workers", "0"),
    ("--workers", "100000"),
    ("--retries", "-1"),
    ("--retries", "100000"),
]


@pytest.mark.parametrize(("flag", "value"), BAD_NUMBERS)
def test_out_of_range_numbers_are_one_line_usage_errors(flag: str, value: str) -> None:
    res = cli_quick(flag, value)
    assert res.code == 2, res
    line = one_error_line(res)
    assert flag.lstrip("-") in line or flag in line, line


def test_max_backoff_zero_with_retries_runs(tmp_path: Path) -> None:
    def handler(seen: Seen, number: int) -> bytes:
        if number % 2 == 0:
            return response(429, b'{"error":{"message":"slow down"}}', extra="Retry-After: 5\r\n")
        return OK_STREAM

    with RawServer(handler) as srv:
        t0 = time.monotonic()
        res = cli_in(
            tmp_path, "--base-url", srv.url, "--model", "m", "-n", "3", "--max-backoff", "0"
        )
        assert time.monotonic() - t0 < 20
    assert res.code == 0, res


# ------------------------------------------------------------------ bounded resources


def test_huge_open_loop_cap_does_not_exhaust_memory(instant_mock_url: str, tmp_path: Path) -> None:
    t0 = time.monotonic()
    res = cli_in(
        tmp_path,
        *("--base-url", instant_mock_url, "--model", "mock-model"),
        *("--rate", "50", "--max-concurrency", "1000000000", "-n", "3", "--json", "s.json"),
        timeout=30,
    )
    assert res.code == 0, res
    assert time.monotonic() - t0 < 8  # interpreter start-up included; the run itself is ~0.1 s
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["client"]["peak_in_flight"] <= 3


def test_huge_prompt_file_is_refused_quickly(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB of NUL bytes, no disk used
    t0 = time.monotonic()
    res = cli_quick("--prompt-file", str(big))
    assert time.monotonic() - t0 < 5
    assert res.code == 2, res
    assert "MiB" in one_error_line(res)


def test_one_huge_prompt_line_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(20 << 20)  # one 20 MiB line
    res = cli_quick("--prompt-file", str(big))
    assert res.code == 2, res
    one_error_line(res)


# ------------------------------------------------------------------ fields and headers we own


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("model", "--model"),
        ("stream", "--stream"),
        ("stream_options", "stream"),
        ("messages", "--prompt"),
        ("prompt", "--prompt"),
        ("max_tokens", "--max-tokens"),
        ("max_completion_tokens", "--max-tokens"),
    ],
)
def test_extra_body_cannot_override_owned_fields(key: str, hint: str) -> None:
    body = json.dumps({key: "x"})
    res = cli_quick("--extra-body", body)
    assert res.code == 2, res
    assert hint in one_error_line(res)


def test_header_override_is_case_insensitive_and_replaces_ours(tmp_path: Path) -> None:
    with RawServer(lambda s, n: OK_STREAM) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--model", "m", "-n", "1", "--api-key", KEY),
            *("-H", "authorization: Bearer other-token-1234", "-H", "accept: text/event-stream"),
        )
        assert res.code == 0, res
        (seen,) = srv.seen
    assert seen.header_values("Authorization") == ["Bearer other-token-1234"]
    assert len(seen.header_values("Accept")) == 1
    assert "other-token-1234" not in res.stdout + res.stderr


@pytest.mark.parametrize("name", ["Host", "content-length", "Transfer-Encoding", "CONNECTION"])
def test_framing_headers_cannot_be_set(name: str) -> None:
    res = cli_quick("-H", f"{name}: 5")
    assert res.code == 2, res
    assert name.lower() in one_error_line(res).lower()


# ------------------------------------------------------------------ other tools' habits


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("--max-concurrency", "8"), "-c"),
        (("--rate", "5", "-c", "8"), "--max-concurrency"),
        (("--arrival", "constant"), "--rate"),
        (("--seed", "3"), "--seed"),
    ],
)
def test_ignored_or_conflicting_flags_are_errors(args: tuple[str, ...], hint: str) -> None:
    res = cli_quick(*args)
    assert res.code == 2, res
    assert hint in one_error_line(res)


# ------------------------------------------------------------------ retries are visible


def _every_third_429(seen: Seen, number: int) -> bytes:
    if number % 3 == 0:
        return response(429, b'{"error":{"message":"slow down"}}', extra="Retry-After: 0\r\n")
    return OK_STREAM


def test_retries_are_counted_by_cause_and_gated(tmp_path: Path) -> None:
    with RawServer(_every_third_429) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--model", "m", "-n", "12", "--max-backoff", "0"),
            *("--fail-if", "retry_rate<5%", *OUT_FLAGS),
        )
    assert res.code == 1, res
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["retries"] >= 1  # retried attempts, as before
    assert summary["retry_causes"]["http_429"] == summary["retries"]
    assert "retr" in (tmp_path / "m.md").read_text().lower()
    assert "retry_rate" in (tmp_path / "j.xml").read_text()
    assert "retr" in res.stdout.lower()


def test_per_cause_retry_threshold(tmp_path: Path) -> None:
    with RawServer(_every_third_429) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--model", "m", "-n", "6", "--max-backoff", "0"),
            *("--fail-if", "retries.http_429<1"),
        )
    assert res.code == 1, res


# ------------------------------------------------------------------ outputs to stdout


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_dash_writes_to_stdout(flag: str, instant_mock_url: str, tmp_path: Path) -> None:
    res = cli_in(
        tmp_path, "--base-url", instant_mock_url, "--model", "mock-model", "-n", "2", flag, "-"
    )
    assert res.code == 0, res
    assert not (tmp_path / "-").exists()
    if flag == "--json":
        doc = json.loads(res.stdout)
        assert doc["requests"]["ok"] == 2
    else:
        assert res.stdout.lstrip().startswith(("#", "|", "**"))


# ------------------------------------------------------------------ lone surrogates
_LONE = "\\udfff\\ud800"  # JSON escapes of lone surrogates: valid JSON, not writable UTF-8


def _surrogate_reply(where: str) -> bytes:
    chunk = {"id": "r", "model": "m", "choices": [{"index": 0, "delta": {"content": "x"}}]}
    text = json.dumps(chunk)
    if where == "error body":
        return response(400, ('{"error":{"message":"bad ' + _LONE + '"}}').encode())
    if where == "error event":
        return sse([('{"error":{"message":"boom ' + _LONE + '"}}').encode()])
    if where == "malformed event":
        return sse([('{"choices": "' + _LONE).encode()])
    field = {"response id": '"id": "r', "model": '"model": "m', "finish reason": '"content": "x'}
    text = text.replace(field[where], field[where] + _LONE)
    return sse([text.encode(), b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'])


@pytest.mark.parametrize(
    "where",
    ["error body", "error event", "malformed event", "response id", "model", "finish reason"],
)
def test_lone_surrogates_from_a_server_reach_no_output_unwritable(
    where: str, tmp_path: Path
) -> None:
    """`\\udfff` is valid JSON but cannot be written as UTF-8: every output is still
    written, one line on failure, and the results file reads back whole."""

    def handler(seen: Seen, number: int) -> bytes:
        if seen.method == "GET":
            return response(200, b'{"data":[{"id":"m"}]}')
        return _surrogate_reply(where)

    with RawServer(handler) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--model", "m", "-n", "2", "--retries", "0"),
            *OUT_FLAGS,
            *("--html", "r.html"),
        )
    assert "Traceback" not in res.stderr, res.stderr
    assert res.code in (0, 3), res
    if res.code:
        one_error_line(res)
    json.loads((tmp_path / "s.json").read_text())
    ET.parse(tmp_path / "j.xml")
    assert (tmp_path / "m.md").exists() and (tmp_path / "r.html").exists()
    again = run_cli("report", str(tmp_path / "r.jsonl"))
    assert again.code == 0 and again.stderr == "", again.stderr
