"""wire/httpx_compat.py: the httpx private names behind one module. Each function is
checked against the rule httpx itself applies, so a new httpx release that changes them
fails here, not silently in a run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmbench_async.wire.httpx_compat import environment_proxies, proxy_for


def test_environment_proxies_follow_httpx_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example,127.0.0.1")
    found = environment_proxies()
    assert found["https://"] == "http://127.0.0.1:3128"
    assert any("internal.example" in k and v is None for k, v in found.items())


def test_proxy_for_picks_the_most_specific_pattern() -> None:
    patterns = ["all://", "https://", "all://*internal.example"]
    assert proxy_for("https://api.example.com/v1", patterns) == "https://"
    assert proxy_for("http://plain.example/v1", patterns) == "all://"
    assert proxy_for("https://a.internal.example/v1", patterns) == "all://*internal.example"
    assert proxy_for("https://x/v1", []) is None


def test_the_command_line_does_not_load_httpx_own_command_line() -> None:
    code = (
        "import sys\n"
        "from llmbench_async.wire.httpx_compat import skip_httpx_command_line\n"
        "skip_httpx_command_line()\n"
        "import httpx\n"
        "assert 'rich' not in sys.modules and 'pygments' not in sys.modules, 'loaded'\n"
        "print(httpx.__version__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("0.28")  # the bound in pyproject.toml
