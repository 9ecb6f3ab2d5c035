"""The httpx private names we rely on, in one place, each with why.

httpx has no public API for these, and its private modules may change in any release: that
is why `pyproject.toml` holds httpx below the next minor version (`httpx>=0.28,<0.29`).
Raising that bound means checking each function here against the new release (the tests of
proxies from the environment and of the start-up modules cover them).

Each import is inside its function, so importing this module imports no httpx: the command
line calls `skip_httpx_command_line` before httpx is loaded.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable

__all__ = [
    "environment_proxies",
    "proxy_for",
    "skip_httpx_command_line",
]


def environment_proxies() -> dict[str, str | None]:
    """URL patterns → proxy URL (None: go direct) from HTTP_PROXY / HTTPS_PROXY / ALL_PROXY
    and NO_PROXY (`httpx._utils.get_environment_proxies`): the exact rules httpx applies
    with `trust_env`, which we must reproduce because our client sets `trust_env=False`
    and mounts the proxies itself."""
    from httpx._utils import get_environment_proxies

    return dict(get_environment_proxies())


def proxy_for(url: str, patterns: Iterable[str]) -> str | None:
    """The pattern among `patterns` that httpx would route `url` through, or None
    (`httpx._utils.URLPattern`, sorted by httpx's own priority): so the header line names the
    proxy in use exactly as httpx chooses it."""
    import httpx
    from httpx._utils import URLPattern

    target = httpx.URL(url)
    for pattern in sorted(URLPattern(p) for p in patterns):
        if pattern.matches(target):
            return pattern.pattern
    return None


def skip_httpx_command_line() -> None:
    """httpx imports its own command line (`httpx._main`, with rich, pygments and click's
    core) whenever rich and click are installed, as typer installs them: 0.28 s of a start
    without byte-code (about 0.1 s with it), before our first request. This process never
    runs httpx's command line: an empty module in its place makes httpx's
    `from ._main import main` fail with ImportError, which httpx catches (it then defines a
    stub `httpx.main`). Only the command line calls this, never `import llmbench_async`."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))
