"""The hardening rules applied to where requests go: --endpoint and --proxy URLs, the key
under --api-key-header, owned body fields and the odd-response messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rawserver import OK_STREAM, RawServer, Seen, response
from test_hardening import (
    KEY,
    OUT_FLAGS,
    assert_no_secret,
    cli_in,
    cli_quick,
    one_error_line,
)

PASSWORD = "pr0xy-" + KEY[3:30]


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("socks5://user:s3cret-pass@127.0.0.1:1080", "http:// or https://"),
        ("http://user:s3cret-pass@", "no host"),
        ("http://user:s3cret-pass@127.0.0.1:99999", "bad port"),
        ("http://proxy host:8080", "spaces"),
        ("user:s3cret-pass@127.0.0.1:8080", "http:// or https://"),  # no scheme at all
        ("//user:s3cret-pass@127.0.0.1:8080", "http:// or https://"),
        ("http:/user:s3cret-pass@127.0.0.1", "no host"),
    ],
)
def test_bad_proxy_urls_are_one_line_errors_without_the_password(url: str, hint: str) -> None:
    res = cli_quick("--proxy", url)
    assert res.code == 2, res
    line = one_error_line(res)
    assert "--proxy" in line and hint in line and "s3cret" not in line


def test_proxy_credentials_are_sent_to_the_proxy_only_and_never_shown(tmp_path: Path) -> None:
    # the raw server plays the proxy: plain-HTTP requests come to it in absolute form
    with RawServer(lambda s, n: OK_STREAM) as proxy:
        host = proxy.url.removeprefix("http://")
        res = cli_in(
            tmp_path,
            *("--base-url", "http://127.0.0.1:9/v1", "--model", "m", "-n", "1"),
            *("--proxy", f"http://user:{PASSWORD}@{host}", "--no-preconnect", *OUT_FLAGS),
        )
        assert res.code == 0, res
        (seen,) = proxy.seen
    assert seen.target.startswith("http://127.0.0.1:9/")
    assert len(seen.header_values("Proxy-Authorization")) == 1
    assert f"via proxy http://***@{host}" in res.stdout
    assert_no_secret(res, tmp_path, PASSWORD)


def _echo_headers(seen: Seen, number: int) -> bytes:
    """A 400 whose message echoes every header value the server got."""
    echoed = " ".join(v for _, v in seen.headers)
    return response(400, json.dumps({"error": {"message": "bad request " + echoed}}).encode())


def test_key_under_api_key_header_is_a_secret_everywhere(tmp_path: Path) -> None:
    with RawServer(_echo_headers) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--model", "m", "-n", "2", "--retries", "0"),
            *("--api-key-header", "X-Custom-Auth", "--api-key", KEY, *OUT_FLAGS),
        )
        seen = srv.seen[0]
    assert res.code in (1, 3), res
    assert seen.header_values("x-custom-auth") == [KEY]
    assert seen.header_values("Authorization") == []
    assert_no_secret(res, tmp_path)


def test_header_override_of_the_api_key_header_ignores_case(tmp_path: Path) -> None:
    other = "other-" + KEY[3:33]
    with RawServer(lambda s, n: OK_STREAM) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--model", "m", "-n", "1", "--api-key", KEY),
            *("--api-key-header", "X-Gateway", "-H", f"x-gateway: {other}", *OUT_FLAGS),
        )
        assert res.code == 0, res
        (seen,) = srv.seen
    # the -H value replaces the key, and is a secret like the key it replaced
    assert seen.header_values("X-Gateway") == [other]
    assert_no_secret(res, tmp_path, other)
    assert_no_secret(res, tmp_path)


@pytest.mark.parametrize("key", ["max_completion_tokens", "max_tokens"])
def test_extra_body_token_fields_point_to_the_token_flags(key: str) -> None:
    res = cli_quick(
        "--max-tokens-field", "max_completion_tokens", "--extra-body", f'{{"{key}": 5}}'
    )
    assert res.code == 2, res
    line = one_error_line(res)
    assert "--max-tokens" in line and "--max-tokens-field" in line


def _odd(seen: Seen, number: int) -> bytes:
    """A redirect whose Location holds the key and a password, or a non-SSE answer that
    echoes the key near the cut."""
    if seen.target.endswith("/models"):
        return response(200, b'{"data": [{"id": "m"}]}')
    if number % 2:
        head = f"HTTP/1.1 302 Found\r\nLocation: http://u:{PASSWORD}@h/x?k={KEY}\r\n"
        return (head + "Content-Length: 0\r\nConnection: close\r\n\r\n").encode()
    return response(200, ("<html>" + "x" * 190 + KEY + "</html>").encode(), "text/html")


def test_redirect_and_not_sse_messages_never_leak(tmp_path: Path) -> None:
    with RawServer(_odd) as srv:
        res = cli_in(
            tmp_path,
            *("--base-url", srv.url, "--api-key", KEY, "-n", "6", "--retries", "0"),
            *OUT_FLAGS,
        )
    assert res.code in (1, 3), res
    assert "Traceback" not in res.stderr
    assert_no_secret(res, tmp_path)
    assert_no_secret(res, tmp_path, PASSWORD)
