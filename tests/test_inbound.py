"""The inbound boundary's pieces: bounded decoding, strict JSON, file checks, the proxy
environment, the one secret set, header validation and the default-endpoint key rule."""

from __future__ import annotations

import base64
import gzip
import os
import socket
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from surfaces import OK_SSE, Server, gzip_bomb, whole

from llmbench_async.cli.flags import Flags, flags_to_config
from llmbench_async.config import DEFAULT_API_KEY, RunConfig
from llmbench_async.errors import ConfigError
from llmbench_async.inbound import (
    BodyError,
    check_env_proxies,
    check_file,
    decoded,
    loads,
)
from llmbench_async.limits import DECODE_PIECE, MAX_JSON_DEPTH
from llmbench_async.redact import mask_url, scrub, secret_forms, url_secrets


async def _pieces(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _decode(data: bytes, coding: str | None, cap: int) -> list[bytes]:
    async def main() -> list[bytes]:
        return [p async for p in decoded(_pieces(data), coding, cap)]

    return anyio.run(main)


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda d: zlib.compress(d)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda d: d),
        ("gzip, identity", gzip.compress),
    ],
)
def test_decoding_gives_the_body_back(coding: str, encode: object) -> None:
    body = os.urandom(50_000) + b"\0" * 500_000
    assert callable(encode)
    assert b"".join(_decode(encode(body), coding, 1 << 20)) == body


def test_two_gzip_members_decode_as_one_body() -> None:
    data = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 1000)
    assert b"".join(_decode(data, "gzip", 1 << 20)) == b"a" * 1000 + b"b" * 1000


def test_a_bomb_stops_at_the_cap_in_small_pieces() -> None:
    seen: list[int] = []

    async def main() -> None:
        async for piece in decoded(_pieces(gzip_bomb(26), 65536), "gzip", 8 << 20, "body"):
            seen.append(len(piece))

    with pytest.raises(BodyError, match="body over 8 MiB"):
        anyio.run(main)
    assert max(seen) <= DECODE_PIECE and sum(seen) <= 8 << 20


def test_unknown_and_broken_codings_are_named() -> None:
    with pytest.raises(BodyError, match="cannot decode Content-Encoding 'zstd'"):
        _decode(b"x", "zstd", 100)
    with pytest.raises(BodyError, match="malformed compressed body"):
        _decode(b"not gzip at all", "gzip", 100)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested deeper"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": Infinity}', "not valid JSON"),
        (b'{"a": 1e999}', "not valid JSON"),
        (b'{"a": 1' + b"0" * 30 + b"}", "beyond 64 bits"),
        (b'{"a": -1' + b"0" * 5000 + b"}", "not valid JSON"),  # 5001 digits: infinite
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_strict_json(text: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        loads(text, "where")
    assert loads(b'{"a": [1, 2.5, 1e30, 9223372036854775807]}', "w")["a"][3] == 2**63 - 1


def test_files_are_checked_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse"
    with sparse.open("wb") as fh:
        fh.truncate(2 << 30)
    for path, message in (
        (tmp_path, "is a directory"),
        (Path("/dev/zero"), "not a regular file"),
        (fifo, "not a regular file"),
        (sparse, "is 2048 MiB; at most 1 MiB"),
        (tmp_path / "nope", "No such file"),
    ):
        with pytest.raises(ConfigError, match=message) as info:
            check_file(path, "--flag", 1 << 20)
        assert str(info.value).startswith("--flag: ")


@pytest.mark.parametrize(
    "value",
    ["socks5://h:1", "ftp://h", "http://h:99999", "http://u:pw@h:bad", "http://h/\x01", "http://"],
)
def test_env_proxies_are_checked_and_masked(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_env_proxies({"https_proxy": value})
    assert "https_proxy" in str(info.value) and "pw" not in str(info.value)
    check_env_proxies({"HTTP_PROXY": "http://u:p@proxy:3128", "NO_PROXY": "x"})  # fine


def test_url_secrets_and_masks() -> None:
    url = "https://u:p%40ss@h/v1?api-version=2024&sig=AbC%2Bdef%3D&api-key=KEY123456&x=1"
    found = url_secrets(url)
    assert {"p%40ss", "p@ss", "AbC%2Bdef%3D", "AbC+def=", "KEY123456"} <= set(found)
    assert base64.b64encode(b"u:p@ss").decode() in found
    shown = mask_url(url)
    assert shown == "https://***@h/v1?api-version=2024&sig=***&api-key=***&x=1"


def test_secret_forms_cover_basic_and_bearer() -> None:
    forms = secret_forms(["Basic " + base64.b64encode(b"user:hunter2-long").decode()])
    assert "hunter2-long" in forms
    assert "Bearer sk-abc" not in scrub("Bearer sk-abcdefghijkl", secret_forms(["sk-abcdefghijkl"]))


def test_config_secrets_hold_every_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://pu:ProxyPass-123456@proxy:1")
    config = RunConfig(
        base_url="http://h/v1?sig=SasSignature-0987",
        api_key="sk-key-1234567890",
        headers={"X-Custom-Token": "tok-abcdefgh", "X-Team": "infra"},
        endpoint_url="http://h/v1/chat?code=OAuthCode-5555",
    )
    secrets = config.secrets
    for secret in (
        "sk-key-1234567890",
        "tok-abcdefgh",
        "SasSignature-0987",
        "OAuthCode-5555",
        "ProxyPass-123456",
        base64.b64encode(b"pu:ProxyPass-123456").decode(),
    ):
        assert secret in secrets
    assert "infra" not in secrets
    public = config.to_public_dict()
    assert "SasSignature" not in str(public) and "OAuthCode" not in str(public)


@pytest.mark.parametrize(
    ("flags", "env", "key"),
    [
        (Flags(), {"OPENAI_API_KEY": "sk-env"}, DEFAULT_API_KEY),  # the built-in endpoint
        (Flags(base_url="http://h"), {"OPENAI_API_KEY": "sk-env"}, "sk-env"),
        (Flags(endpoint="http://h/x", model="m"), {"OPENAI_API_KEY": "sk-env"}, "sk-env"),
        (Flags(), {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://h"}, "sk-env"),
        (Flags(api_key="sk-flag"), {"OPENAI_API_KEY": "sk-env"}, "sk-flag"),
    ],
)
def test_the_env_key_goes_only_to_a_chosen_endpoint(
    flags: Flags, env: dict[str, str], key: str
) -> None:
    assert flags_to_config(flags, env).api_key == key


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"api_key": "sk-x\r\nX-Injected: 1"}, "API key .* control character"),
        ({"api_key": "sk-x\x00"}, "control character"),
        ({"api_key_header": "Host"}, "frames the request"),
        ({"api_key_header": "content-length"}, "frames the request"),
        ({"api_key_header": "Proxy-Authorization"}, "frames the request"),
        ({"api_key_header": "Bad Name"}, "bad header name"),
        ({"headers": {"X-A": "a\r\nX-B: b"}}, "control character"),
        ({"headers": {"Keep-Alive": "1"}}, "frames the request"),
        ({"headers": {"Upgrade": "h2c"}}, "frames the request"),
    ],
)
def test_headers_are_validated_from_every_source(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        RunConfig(**fields)  # type: ignore[arg-type]
    assert "X-Injected" not in str(info.value)


# --- every request takes the run's route -------------------------------------------------
def _recording_server(seen: list[bytes]) -> Server:
    """A server that records each request head and answers it well (as a proxy, too)."""

    def answer(conn: socket.socket, head: bytes) -> None:
        seen.append(head)
        target = head.split(b" ")[1]
        if b"/metrics" in target:
            conn.sendall(whole(200, b"vllm:num_requests_running 1\n", "text/plain"))
        elif b"/models" in target:
            conn.sendall(whole(200, b'{"data":[{"id":"m"}]}', "application/json"))
        else:
            conn.sendall(whole(200, OK_SSE, "text/event-stream"))

    return Server({route: answer for route in ("proxy", "metrics", "models", "stream")})


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmbench_async", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **(env or {})},
    )


METRICS = ("--server-metrics", "auto", "--scrape-interval", "0.1", "-n", "3", "--retries", "0")


def test_the_scrape_goes_through_the_proxy() -> None:
    seen: list[bytes] = []
    with _recording_server(seen) as proxy:
        # the target's port is closed: only the proxy can reach "it"
        out = _run(
            "run",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "-m",
            "m",
            "--proxy",
            proxy.url,
            "--api-key",
            "sk-route-key-123456",
            *METRICS,
        )
    assert out.returncode == 0, out.stderr
    targets = [h.split(b" ")[1] for h in seen]
    assert b"http://127.0.0.1:9/metrics" in targets
    assert all(t.startswith(b"http://127.0.0.1:9/") for t in targets)


def test_no_proxy_env_covers_the_scrape() -> None:
    proxied: list[bytes] = []
    direct: list[bytes] = []
    with _recording_server(proxied) as proxy, _recording_server(direct) as target:
        env = {"HTTP_PROXY": proxy.url, "ALL_PROXY": proxy.url}
        out = _run(
            "run",
            "--base-url",
            target.url,
            "-m",
            "m",
            "--no-proxy-env",
            "--api-key",
            "sk-route-key-123456",
            *METRICS,
            env=env,
        )
    assert out.returncode == 0, out.stderr
    assert proxied == []
    assert any(h.startswith(b"GET /metrics") for h in direct)


def test_the_key_goes_only_to_the_targets_own_origin() -> None:
    at_target: list[bytes] = []
    elsewhere: list[bytes] = []
    with _recording_server(at_target) as target, _recording_server(elsewhere) as other:
        for spec in ("auto", other.url + "/metrics"):
            out = _run(
                "run",
                "--base-url",
                target.url,
                "-m",
                "m",
                "--api-key",
                "sk-route-key-123456",
                *METRICS[2:],
                "--server-metrics",
                spec,
            )
            assert out.returncode == 0, out.stderr
    scrapes_here = [h for h in at_target if h.startswith(b"GET /metrics")]
    scrapes_there = [h for h in elsewhere if h.startswith(b"GET /metrics")]
    assert scrapes_here and scrapes_there
    assert all(b"sk-route-key-123456" in h for h in scrapes_here)
    assert not any(b"sk-route-key" in h for h in scrapes_there)


# --- results files read strictly --------------------------------------------------------
_HEAD = '{"type":"header","config":{"model":"m","n":2}}'
_REC = '{"type":"request","index":%d,"scheduled_ns":0,"send_ns":1,"end_ns":9}'


def _results(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_corrupt_middle_line_is_named_and_a_cut_last_line_is_not(tmp_path: Path) -> None:
    from llmbench_async.records import read_results

    warnings: list[str] = []
    path = _results(tmp_path, _HEAD, _REC % 0, '{"type": "req', _REC % 1, '{"type":"requ')
    saved = read_results(path, warnings.append)
    assert [r.index for r in saved.records] == [0, 1]
    assert len(warnings) == 1 and "skipped 1 corrupt line (first: line 3" in warnings[0]
    warnings.clear()
    read_results(_results(tmp_path, _HEAD, _REC % 0, '{"type":"requ'), warnings.append)
    assert warnings == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"type":"request","index":"0","scheduled_ns":0,"send_ns":1,"end_ns":9}', "'index'"),
        ('{"type":"request","index":0,"scheduled_ns":0,"send_ns":1,"end_ns":1e30}', "'end_ns'"),
        ('{"type":"request","index":0,"scheduled_ns":0,"send_ns":1}', "'end_ns'"),
        (
            '{"type":"request","index":0,"scheduled_ns":0,"send_ns":1,"end_ns":9,"warmup":1}',
            "'warmup'",
        ),
        (
            '{"type":"request","index":0,"scheduled_ns":0,"send_ns":1,"end_ns":9,'
            '"token_gaps_ns":[1,"x"]}',
            "'token_gaps_ns'",
        ),
        ('{"type":"header","config":{"goodput":[1]}}', "'config.goodput'"),
        ('{"type":"header","config":{"concurrency":"8"}}', "'config.concurrency'"),
        ('{"type":"header","config":[]}', "'config'"),
        ('{"type":"footer","server_metrics":{"url":5}}', "'server_metrics.url'"),
    ],
)
def test_mistyped_fields_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    from llmbench_async.records import read_results

    path = _results(tmp_path, _HEAD, line, _REC % 5)
    with pytest.raises(ConfigError, match=message) as info:
        read_results(path)
    assert str(info.value).startswith(f"{path} line 2: field ")


def test_a_long_error_message_is_cut_on_reading(tmp_path: Path) -> None:
    from llmbench_async.limits import MAX_FIELD_CHARS
    from llmbench_async.records import read_results

    line = _REC % 0
    line = line[:-1] + ',"error_kind":"read","error_message":"' + "E" * 1_000_000 + '"}'
    saved = read_results(_results(tmp_path, _HEAD, line))
    assert len(saved.records[0].error_message or "") == MAX_FIELD_CHARS


@pytest.mark.parametrize("count", ["1" + "0" * 30, "-5", "NaN", "1e400", "2.5", '"7"'])
def test_a_servers_absurd_token_count_is_no_reading(count: str) -> None:
    from llmbench_async.wire.protocol import parse_chunk

    usage = f'"completion_tokens":{count},"prompt_tokens":{count}'
    data = '{"choices":[],"usage":{' + usage + "}}"
    chunk = parse_chunk(data.encode())
    assert chunk.completion_tokens is None and chunk.prompt_tokens is None
    assert parse_chunk(b'{"choices":[],"usage":{"completion_tokens":7}}').completion_tokens == 7


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1", "::", "localhost", "gpu-box.lan"])
def test_listening_hosts_accepted(host: str) -> None:
    from llmbench_async.inbound import check_host

    check_host(host, "--prometheus-host")


@pytest.mark.parametrize(
    "host", ["", "a b", "h\x01", "[::1]", "-x", "x" * 64, "a." * 130, "http://h", "h:80"]
)
def test_listening_hosts_refused(host: str) -> None:
    from llmbench_async.inbound import check_host

    with pytest.raises(ConfigError, match="--prometheus-host"):
        check_host(host, "--prometheus-host")
