"""Every value-taking option of `run`, given a hostile number, ends in a clean exit code:
a one-line usage error, or a run that fails to reach its (closed) target. Never an
exception, never a hang, never unbounded memory. Through the real entry point, one fresh
interpreter per option (bounded in time and memory)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from llmbench_async.cli import _command

# options whose value is a path, URL or address: their own tests feed them bad input
NOT_NUMBERS = {
    "--base-url",
    "--output",
    "--json",
    "--markdown",
    "--junit",
    "--html",
    "--prompt-file",
    "--api-key-file",
    "--dataset",
    "--baseline",
    "--ca-bundle",
    "--proxy",
    "--ray",
    "--server-metrics",
}
HOSTILE = ("nan", "-inf", "1e300", "9" * 20, "-1")
SCRIPT = """
import contextlib, io, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # 2 GiB: a runaway fails fast
from llmbench_async.cli import main
option = sys.argv[1]
for value in sys.argv[2:]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["--base-url", "http://127.0.0.1:9", "--model", "m", "-n", "1",
                     "--retries", "0", "-q", option, value])
    print(json.dumps([value, code, err.getvalue()]), flush=True)
"""


def _value_options() -> list[str]:
    command: Any = _command("run")
    names = []
    for param in command.params:
        if getattr(param, "is_flag", False) or not param.opts:
            continue
        name = max(param.opts, key=len)
        if name.startswith("--") and name not in NOT_NUMBERS:
            names.append(name)
    return sorted(names)


@pytest.mark.parametrize("option", _value_options())
def test_hostile_numbers_end_cleanly(option: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, option, *HOSTILE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (option, done.stderr[-2000:])
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r[0] for r in results] == list(HOSTILE)
    for value, code, err in results:
        lines = err.strip().splitlines()
        assert code in (0, 1, 2, 3), (option, value, code, err)
        assert len(lines) <= 2 and "Traceback" not in err, (option, value, lines)
