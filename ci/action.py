"""The run step of this repository's GitHub Action (action.yml), kept in a script so that it
can be tested: inputs come from INPUT_* variables, the API key from OPENAI_API_KEY (never
echoed), outputs go to $GITHUB_OUTPUT. Standard library only, so that it needs nothing but a
Python and the installed `llmbench-async` on PATH.

Exit code: the run's (0 ok, 1 a threshold failed, 2 bad usage, 3 target unusable), or 1
when the run passed and the comparison with the baseline found a regression. With
`fail: false` the step itself always exits 0 and the code is only in the `exit-code` output.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TOOL = "llmbench-async"
# (output name, path in the summary JSON, stat)
METRIC_OUTPUTS = (
    ("ttft-p50-ms", "ttft_ms", "p50"),
    ("ttft-p95-ms", "ttft_ms", "p95"),
    ("ttft-p99-ms", "ttft_ms", "p99"),
    ("e2e-p50-ms", "e2e_ms", "p50"),
    ("e2e-p99-ms", "e2e_ms", "p99"),
    ("itl-p50-ms", "itl_ms", "p50"),
)


def _input(name: str, default: str = "") -> str:
    """An action input, as action.yml passes it: INPUT_<NAME>, upper case, `-` as `_`."""
    return os.environ.get("INPUT_" + name.upper().replace("-", "_"), default).strip()


def _notice(level: str, message: str) -> None:
    """A workflow command (::warning::, ::error::) that the runner shows as an annotation."""
    print(f"::{level} title=llmbench-async::{message}", flush=True)


def run_args(out: Path) -> list[str]:
    """The `llmbench-async run` command line the inputs call for (never holding the key)."""
    args = [TOOL, "run", "-n", _input("n", "50"), "-c", _input("concurrency", "5")]
    if _input("base-url"):
        args += ["--base-url", _input("base-url")]
    if _input("model"):
        args += ["--model", _input("model")]
    for line in _input("thresholds").splitlines():
        expr = line.strip()
        if expr and not expr.startswith("#"):
            args += ["--fail-if", expr]
    args += ["--json", str(out / "summary.json"), "-o", str(out / "results.jsonl")]
    args += ["--junit", str(out / "junit.xml"), "--markdown", str(out / "summary.md")]
    args += shlex.split(_input("extra-args"))
    return args


def shown(args: list[str]) -> str:
    """The command line as the log may show it: a URL's password, an --api-key value and
    header values masked (the key itself only ever travels in OPENAI_API_KEY)."""
    masked: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            masked.append(arg.split(":", 1)[0] + ": ***" if ":" in arg else "***")
        else:
            masked.append(re.sub(r"://[^/@\s]*@", "://***@", arg))
        hide_next = arg in ("--api-key", "-H", "--header")
    return shlex.join(masked)


def compare_args(baseline: str, out: Path) -> list[str]:
    args = [TOOL, "compare", baseline, str(out / "summary.json")]
    for tolerance in _input("max-regression", "10%").split():
        args += ["--max-regression", tolerance]
    return [*args, "--init-baseline", "--markdown", str(out / "compare.md")]


def metric_outputs(summary_path: Path) -> dict[str, str]:
    """Key metrics of the run's summary JSON (of a sweep: its capacity) as action outputs."""
    try:
        doc: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if "levels" in doc:
        capacity = doc.get("capacity") or {}
        return {
            "capacity": _text(capacity.get("label")),
            "capacity-bound": _text(capacity.get("bound")),
        }
    metrics: Mapping[str, Any] = doc.get("metrics") or {}
    found = {name: _text((metrics.get(key) or {}).get(stat)) for name, key, stat in METRIC_OUTPUTS}
    requests = doc.get("requests") or {}
    total = int(requests.get("total") or 0)
    failed = int(requests.get("failed") or 0)
    found["error-rate"] = _text(100.0 * failed / total if total else None)
    throughput = doc.get("throughput") or {}
    found["requests-per-s"] = _text(throughput.get("requests_per_s"))
    found["output-tokens-per-s"] = _text(throughput.get("output_tokens_per_s"))
    return found


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_outputs(values: Mapping[str, str]) -> None:
    """Append name=value lines to $GITHUB_OUTPUT (printed when it is not set)."""
    lines = "".join(f"{name}={value}\n" for name, value in values.items())
    target = os.environ.get("GITHUB_OUTPUT", "")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(lines)
    else:
        sys.stdout.write(lines)


def main() -> int:
    out = Path(_input("output-dir", "llmbench") or "llmbench")
    out.mkdir(parents=True, exist_ok=True)
    args = run_args(out)
    print("+ " + shown(args), flush=True)
    code = subprocess.call(args)
    outputs = {
        "run-exit-code": str(code),
        "output-dir": str(out),
        "summary": str(out / "summary.json"),
        "markdown": str(out / "summary.md"),
        "junit": str(out / "junit.xml"),
        "results": str(out / "results.jsonl"),
        **metric_outputs(out / "summary.json"),
    }
    final = code
    baseline = _input("baseline")
    if baseline and (out / "summary.json").is_file():
        # the first run (no baseline yet) saves this run as the baseline, in one line, exit 0
        cmp_args = compare_args(baseline, out)
        print("+ " + shown(cmp_args), flush=True)
        compared = subprocess.call(cmp_args)
        outputs["compare-exit-code"] = str(compared)
        outputs["compare-markdown"] = str(out / "compare.md")
        final = code or compared
    outputs["exit-code"] = str(final)
    write_outputs(outputs)
    if final != 0:
        _notice("error", f"llmbench-async exited {final} (see the job summary)")
    fail = _input("fail", "true").lower() not in ("false", "0", "no")
    return final if fail else 0


if __name__ == "__main__":
    sys.exit(main())
