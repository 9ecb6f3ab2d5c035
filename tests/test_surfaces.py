"""Every input surface (tests/surfaces.py) against the shared catalogue of hostile inputs,
through the CLI as users run it: the documented exit code, one line on stderr for a usage
error, no traceback, bounded time (a timeout) and memory (an address-space limit of 1 GiB),
and no secret in stdout, stderr or any file written."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import run_cli_peak
from surfaces import (
    ALL_SECRETS,
    ENDPOINTS,
    OK_SSE,
    OPTION_SURFACES,
    PROXY_PASS,
    PROXY_USER,
    QUERY_SECRET,
    Case,
    Server,
    http_catalogue,
    run_args,
    whole,
    write_file,
)

from llmbench_async.cli import SUBCOMMANDS, _command

MEMORY_LIMIT = 1 << 30  # address space of each CLI run (a blow-up fails fast)
MAX_RSS_MIB = 400  # and its peak resident memory, measured by GNU time
CASE_TIMEOUT = 45.0  # seconds for one case, whatever the server does


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _env(extra: dict[str, str]) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["MALLOC_ARENA_MAX"] = "2"  # thread arenas would reserve address space, not memory
    env.update(extra)
    return env


def _check(case: Case, tmp: Path) -> str | None:
    """Run one case; a description of what went wrong, or None."""
    tmp.mkdir(parents=True)
    with Server(dict(case.replies)) as server:
        argv = case.argv(server.url, tmp)
        host = server.url.removeprefix("http://")
        started = time.monotonic()
        try:
            proc, peak = run_cli_peak(
                *argv,
                capture_output=True,
                text=True,
                errors="replace",
                env=_env({k: v.replace("PROXY", host) for k, v in case.env.items()}),
                timeout=CASE_TIMEOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_limit_memory,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            return f"no end within {CASE_TIMEOUT:g} s"
        took = time.monotonic() - started
    where = f"{case.surface}/{case.hostile} (exit {proc.returncode}, {took:.1f} s, {peak} MiB)"
    if peak > MAX_RSS_MIB:
        return f"{where}: peak memory over {MAX_RSS_MIB} MiB"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if "Traceback" in proc.stderr or "MemoryError" in proc.stderr:
        return f"{where}: a traceback: {proc.stderr[-600:]}"
    if proc.returncode not in case.codes:
        return f"{where}: expected exit {sorted(case.codes)}; stderr: {proc.stderr[-400:]}"
    if proc.returncode == 2 and case.one_line and len(lines) != 1:
        return f"{where}: {len(lines)} lines on stderr: {proc.stderr[-400:]}"
    written = [p.read_text(errors="replace") for p in _outputs_written(tmp)]
    for text in (proc.stdout, proc.stderr, *written):
        for secret in ALL_SECRETS:
            if secret in text:
                at = max(0, text.index(secret) - 80)
                return f"{where}: a secret shown: ...{text[at : at + 200]}"
    return None


def _outputs_written(tmp: Path) -> list[Path]:
    """The files the run wrote (not the hostile inputs: a sparse file, a FIFO, ...)."""
    names = ("out.jsonl", "summary.json")
    return [p for p in tmp.rglob("*") if p.name in names and p.is_file()]


# --- the cases ---------------------------------------------------------------------------
def _outputs(tmp: Path) -> list[str]:
    return ["-o", str(tmp / "out.jsonl"), "--json", str(tmp / "summary.json")]


_HTTP_SURFACES: dict[str, tuple[str, str, int, tuple[str, ...], frozenset[int]]] = {
    # surface: (route replaced, content type, status, run flags, exit codes)
    "stream": ("stream", "text/event-stream", 200, ("-m", "m"), frozenset({3})),
    "whole": ("whole", "application/json", 200, ("-m", "m", "--no-stream"), frozenset({3})),
    "error_body": ("stream", "application/json", 500, ("-m", "m"), frozenset({3})),
    "models": ("models", "application/json", 200, (), frozenset({3})),
    # a failed scrape is a warning: the run's own results stand
    "metrics": (
        "metrics",
        "text/plain",
        200,
        ("-m", "m", "--server-metrics", "auto"),
        frozenset({0}),
    ),
    "proxy": ("proxy", "text/event-stream", 502, ("-m", "m"), frozenset({3})),
}


def http_cases() -> list[Case]:
    cases = []
    for surface, (route, ctype, status, flags, codes) in _HTTP_SURFACES.items():
        env = {}
        if surface == "proxy":  # the server is its own proxy (an absolute request target)
            env = {"HTTP_PROXY": f"http://{PROXY_USER}:{PROXY_PASS}@PROXY"}
        for hostile, writer in http_catalogue(ctype, status).items():
            cases.append(
                Case(
                    surface,
                    hostile,
                    lambda url, tmp, flags=flags: [*run_args(url, *flags), *_outputs(tmp)],
                    codes,
                    env=env,
                    replies={route: writer},
                    one_line=False,
                )
            )
    for api in ("completions", "responses", "messages", "embeddings"):  # every API's path
        ctype = "application/json" if api == "embeddings" else "text/event-stream"
        route = "whole" if api == "embeddings" else "stream"
        for hostile in ("gzip_bomb", "secret_echo_gzip"):
            cases.append(
                Case(
                    f"stream --api {api}",
                    hostile,
                    lambda url, tmp, api=api: [
                        *run_args(url, "-m", "m", "--api", api),
                        *_outputs(tmp),
                    ],
                    frozenset({3}),
                    replies={route: http_catalogue(ctype)[hostile]},
                    one_line=False,
                )
            )
    for hostile in ("gzip_bomb", "endless", "nan", "secret_echo_gzip"):  # a second URL
        cases.append(
            Case(
                "metrics second URL",
                hostile,
                lambda url, tmp: [
                    *run_args(url, "-m", "m", "--server-metrics", "auto"),
                    *("--server-metrics", url + "/exporter/metrics?token=" + QUERY_SECRET),
                    *_outputs(tmp),
                ],
                frozenset({0}),
                replies={"metrics": http_catalogue("text/plain")[hostile]},
                one_line=False,
            )
        )
    bomb = http_catalogue("text/event-stream")["gzip_bomb"]  # eight bombs at once
    cases.append(
        Case(
            "stream",
            "gzip_bomb -c 8",
            lambda url, tmp: [*run_args(url, "-m", "m"), "-c", "8", "-n", "8"],
            frozenset({3}),
            replies={"stream": bomb},
            one_line=False,
        )
    )
    return cases


_FILE_HOSTILE = ("missing", "directory", "dev_zero", "fifo", "huge_sparse", "unreadable")
_CONTENT_HOSTILE = ("deep_json", "nan", "huge_int", "wrong_types", "binary", "long_line")
_TWO = frozenset({2})


def _results_line(tmp: Path) -> Path:
    record = {"type": "request", "index": 0, "scheduled_ns": 0, "send_ns": 1, "end_ns": 9}
    good = tmp / "good.jsonl"
    good.write_text(json.dumps({"type": "header", "config": {}}) + "\n" + json.dumps(record))
    return good


def file_cases() -> list[Case]:
    """(surface, file kind, argv given the hostile path, codes for content hostiles)."""
    table: list[tuple[str, str, Callable[[str, Path, Path], list[str]], frozenset[int]]] = [
        (
            "--dataset",
            "dataset",
            lambda u, t, p: [*run_args(u, "-m", "m"), "--dataset", str(p)],
            _TWO,
        ),
        (
            "--load-shape",
            "shape",
            lambda u, t, p: [*run_args(u, "-m", "m"), "--load-shape", str(p)],
            _TWO,
        ),
        (
            "--trace",
            "dataset",
            lambda u, t, p: [*run_args(u, "-m", "m"), "--trace", str(p)],
            _TWO,
        ),
        (
            "--prompt-file",
            "prompt",
            lambda u, t, p: [*run_args(u, "-m", "m"), "--prompt-file", str(p)],
            _TWO,
        ),
        (
            "--tools",
            "tools",
            lambda u, t, p: [*run_args(u, "-m", "m"), "--tools", str(p)],
            _TWO,
        ),
        (
            "--response-format",
            "schema",
            lambda u, t, p: [*run_args(u, "-m", "m"), "--response-format", str(p)],
            _TWO,
        ),
        # a folder of images: a hostile file is given inside the case's folder
        (
            "--image-dir",
            "images",
            lambda u, t, p: [
                *run_args(u, "-m", "m"),
                "--image-dir",
                str(p.parent if p.parent == t else p),
            ],
            _TWO,
        ),
        # a key file holds any one line of text, a CA bundle is read only for https
        (
            "--api-key-file",
            "key",
            lambda u, t, p: [*run_args(u, "-m", "m", key=False), "--api-key-file", str(p)],
            frozenset({0, 2}),
        ),
        (
            "--ca-bundle",
            "ca",
            lambda u, t, p: [*run_args(u, "-m", "m"), "--ca-bundle", str(p)],
            frozenset({0, 2}),
        ),
        # a corrupt middle line is skipped with a warning; a mistyped one is refused
        ("report results", "results", lambda u, t, p: ["report", str(p)], frozenset({0, 2})),
        (
            "compare base",
            "results",
            lambda u, t, p: ["compare", str(p), str(_results_line(t))],
            frozenset({0, 1, 2}),
        ),
        (
            "compare new",
            "results",
            lambda u, t, p: ["compare", str(_results_line(t)), str(p)],
            frozenset({0, 1, 2}),
        ),
    ]
    cases = []
    for surface, kind, argv, content_codes in table:
        hostiles = [*_FILE_HOSTILE, *_CONTENT_HOSTILE]
        if surface == "report results":
            hostiles.append("huge_error")
        elif surface.startswith("compare"):  # the same reader as `report`: a sample
            hostiles = ["directory", "dev_zero", "huge_sparse", "nan", "wrong_types"]
        elif kind in ("key", "ca"):
            hostiles = [*_FILE_HOSTILE, "deep_json", "binary"]
        for hostile in hostiles:
            name = "f.jsonl" if kind in ("dataset", "prompt", "results") else "f.txt"

            def build(url: str, tmp: Path, argv=argv, kind=kind, hostile=hostile, name=name):
                return argv(url, tmp, write_file(tmp / name, kind, hostile))

            codes = _TWO if hostile in _FILE_HOSTILE else content_codes
            if hostile in ("long_line", "huge_error") and kind == "results":
                codes = _TWO  # over the line cap: refused, never copied into an output
            cases.append(Case(surface, hostile, build, codes))
    return cases


def _usage(
    surface: str, hostile: str, *flags: str, env: dict[str, str] | None = None, key: bool = True
) -> Case:
    return Case(
        surface,
        hostile,
        lambda url, tmp: [*run_args(url, "-m", "m", key=key), *flags],
        _TWO,
        env=env or {},
    )


def flag_cases() -> list[Case]:
    """JSON, header, URL and address options, and the proxy environment."""
    deep = "[" * 5000 + "]" * 5000
    cases = [
        _usage("--extra-body", "deep_json", "--extra-body", '{"a": ' + deep + "}"),
        _usage("--extra-body", "nan", "--extra-body", '{"a": NaN}'),
        _usage("--extra-body", "infinity", "--extra-body", '{"a": 1e999}'),
        _usage("--extra-body", "huge_int", "--extra-body", '{"a": 1' + "0" * 30 + "}"),
        _usage("--extra-body", "wrong_types", "--extra-body", "[1, 2]"),
        _usage("--extra-body", "not_json", "--extra-body", "{'a': 1}"),
    ]
    for value in (
        "sk-x\r\nX-Injected: 1",
        "sk-x\nX-Injected: 1",
        "sk-x\ry",
        "sk-\x7f",
        "sk-\x1b[31m",
    ):
        cases.append(_usage("--api-key", "control_chars", "--api-key", value))
        cases.append(_usage("--header", "control_chars", "-H", f"Authorization: {value}"))
        cases.append(
            _usage(
                "OPENAI_API_KEY",
                "control_chars",
                env={"OPENAI_API_KEY": value},
                key=False,
            )
        )
    for name in (
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Upgrade",
        "Proxy-Authorization",
        "Bad Name",
        "X\r\nY",
        "",
    ):
        cases.append(_usage("--api-key-header", name or "empty", "--api-key-header", name))
        cases.append(_usage("--request-id-header", name or "empty", "--request-id-header", name))
        cases.append(_usage("--header", f"framing {name}", "-H", f"{name}: v"))
        session = ("--turns", "2", "--session-header", name)
        cases.append(_usage("--session-header", name or "empty", *session))
    cases.append(
        _usage(
            "--session-header", "credential", "--turns", "2", "--session-header", "Authorization"
        )
    )
    bad_urls = (
        "ftp://h/",
        "http://h:99999/",
        "http://h:port/",
        "http://u:p@h/",
        "http://h/\x01",
        "",
        "socks5://h:1",
        "h" * 5000,
        "http://h:99999/v1?sig=" + QUERY_SECRET,  # the error shows the URL, not the secret
        "ftp://u:" + PROXY_PASS + "@h/?token=" + QUERY_SECRET,
        "http://[::1/v1",  # an unclosed IPv6 bracket: urlsplit raises
        "http://u:" + PROXY_PASS + "@[::1/v1",
    )
    for flag in ("--base-url", "--endpoint", "--proxy", "--server-metrics"):
        for url in bad_urls:
            if flag == "--proxy" and url.startswith("http://u:p@"):
                continue  # a proxy URL may carry credentials
            cases.append(_usage(flag, f"url {url[:20]!r}", flag, url))
    cases.append(_usage("--ray", "address", "--ray", "a b"))
    for host in ("a b", "h\x01", "[::1", "x" * 300):
        flags = ("--prometheus-port", "0", "--prometheus-host", host)
        cases.append(_usage("--prometheus-host", f"address {host[:12]!r}", *flags))
    cases.append(  # NUL cannot be in an argument or the environment, but can be in a file
        Case(
            "--api-key-file",
            "nul",
            lambda url, tmp: [
                *run_args(url, "-m", "m", key=False),
                "--api-key-file",
                str(_written(tmp / "key", b"sk-x\x00y\n")),
            ],
            _TWO,
        )
    )
    for var in ("HTTP_PROXY", "https_proxy", "ALL_PROXY"):
        for url in (
            *("socks5://h:1", "ftp://h", "http://h:99999", "http://h:bad", "http://h\x01"),
            *("http://[::1", f"http://u:{PROXY_PASS}@[::1"),
        ):
            cases.append(_usage(var, f"env {url!r}", env={var: url}))
    for value in ("http://[::1", "[::1]:x", "a\x01b"):  # NO_PROXY as httpx refuses it
        env = {"NO_PROXY": value, "HTTP_PROXY": "http://127.0.0.1:9"}
        cases.append(_usage("NO_PROXY", f"env {value!r}", env=env))
    cases.append(
        Case(
            "mock-server --auth-key",
            "control_chars",
            lambda url, tmp: ["mock-server", "--port", "0", "--auth-key", "a\r\nb"],
            _TWO,
        )
    )
    cases.append(
        Case(
            "mock-server --retry-after-header",
            "control_chars",
            lambda url, tmp: ["mock-server", "--port", "0", "--retry-after-header", "a\r\nb"],
            _TWO,
        )
    )
    cases.append(
        Case(
            "mock-server --host",
            "address",
            lambda url, tmp: ["mock-server", "--host", "a b", "--port", "1"],
            frozenset({2, 4}),
        )
    )
    return cases


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _run_all(cases: list[Case], tmp_path: Path) -> list[str]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = pool.map(lambda ic: _check(ic[1], tmp_path / f"c{ic[0]}"), enumerate(cases))
        failures = [f for f in found if f is not None]
    assert not failures, "\n".join(failures)
    return failures


def test_hostile_servers_on_every_http_surface(tmp_path: Path) -> None:
    cases = http_cases()
    assert {c.surface.split(" ")[0] for c in cases} == set(ENDPOINTS)
    assert _run_all(cases, tmp_path) == []


def test_hostile_files_on_every_path_option(tmp_path: Path) -> None:
    assert _run_all(file_cases(), tmp_path) == []


def test_hostile_flags_and_environment(tmp_path: Path) -> None:
    assert _run_all(flag_cases(), tmp_path) == []


# --- the registry is complete ----------------------------------------------------------
def _kind_of(param: Any) -> str | None:
    """How an option's parameter takes outside input, from its type, metavar and name."""
    name = (param.name or "").lower()
    metavar = (getattr(param, "metavar", None) or "").upper()
    if "Path" in type(param.type).__name__:
        return "path"
    if any(w in name for w in ("url", "endpoint", "proxy", "server_metrics")) or "URL" in metavar:
        return "url"
    if "ADDRESS" in metavar or name in ("host", "ray"):
        return "address"
    if "json" in name or "body" in name:
        return "json"
    if "header" in name or "key" in name:
        return "header"
    return None


def test_every_input_option_is_in_the_registry() -> None:
    missing = []
    for command in SUBCOMMANDS:
        for param in _command(command).params:
            kind = _kind_of(param)
            if kind is None or getattr(param, "is_flag", False):
                continue
            opts = [o for o in param.opts if o.startswith("--")] or [param.name or ""]
            if not any((command, o) in OPTION_SURFACES for o in opts):
                missing.append(f"{command} {opts[0]} ({kind})")
    assert missing == []
    # and each registered read surface has hostile cases
    surfaces = {c.surface for c in (*file_cases(), *flag_cases())}
    for (command, option), kind in OPTION_SURFACES.items():
        if kind in ("output",):
            continue  # written, not read (the outputs' tests)
        label = option if command == "run" else f"{command} {option}"
        assert label in surfaces, label


def test_server_sees_no_injected_header(tmp_path: Path) -> None:
    """CR/LF in a key never reaches the wire: the run stops before sending anything."""
    seen: list[bytes] = []

    def record(conn: socket.socket, head: bytes) -> None:
        seen.append(head)
        conn.sendall(whole(200, OK_SSE, "text/event-stream"))

    with Server({"stream": record}) as server:
        good = subprocess.run(
            [sys.executable, "-m", "llmbench_async", *run_args(server.url, "-m", "m")],
            capture_output=True,
            text=True,
            env=_env({}),
            timeout=60,
        )
        bad = run_args(server.url, "-m", "m")
        bad[bad.index("--api-key") + 1] = "sk-x\r\nX-Injected: 1"
        proc = subprocess.run(
            [sys.executable, "-m", "llmbench_async", *bad],
            capture_output=True,
            text=True,
            env=_env({}),
            timeout=60,
        )
    assert good.returncode == 0, good.stderr  # the good key: one request, sent once
    assert proc.returncode == 2 and "X-Injected" not in proc.stderr
    assert len(seen) == 1 and b"X-Injected" not in seen[0]
