"""The cost of checking one reply against its schema: our validator (wire/schema.py) against
jsonschema and fastjsonschema, when they are importable (neither is a dependency).

    uv run python benchmarks/schema_validation.py [--n 20000] [--with /path/to/site-packages]

Prints the microseconds per validation of a typical tool schema (an object with a string,
a bounded integer, an enum and an array, `additionalProperties: false`), best of 5 rounds,
and each package's import time (`python -X importtime`, best of 7) in a fresh interpreter.
The figures in docs/structured-output.md came from this script.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "unit": {"enum": ["c", "f"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city"],
    "additionalProperties": False,
}
VALUE = {"city": "Oslo", "days": 3, "unit": "c", "tags": ["a", "b"]}


def import_ms(module: str, path: str) -> float:
    """The best cumulative import time of `module` over 7 fresh interpreters, in ms."""
    best = float("inf")
    env = {**os.environ, "PYTHONPATH": path}
    for _ in range(7):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        lines = [line for line in out.stderr.splitlines() if line.rstrip().endswith(module)]
        best = min(best, int(lines[-1].split("|")[1]) / 1000)
    return best


def per_call_us(check: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            check()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="validations per round")
    parser.add_argument("--with", dest="extra", default="", help="a folder holding jsonschema")
    args = parser.parse_args()
    if args.extra:
        sys.path.insert(0, args.extra)
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    from llmbench_async.wire.schema import check_schema, validate

    check_schema(SCHEMA)
    assert validate(VALUE, SCHEMA) is None
    print(
        f"ours            {per_call_us(lambda: validate(VALUE, SCHEMA), args.n):7.2f} us/validation"
    )
    print(
        f"  import        {import_ms('llmbench_async.wire.schema', src):7.1f} ms (with the package)"
    )
    try:
        import jsonschema

        validator = jsonschema.Draft202012Validator(SCHEMA)
        cost = per_call_us(lambda: validator.is_valid(VALUE), args.n)
        print(f"jsonschema      {cost:7.2f} us/validation")
        print(f"  import        {import_ms('jsonschema', args.extra or src):7.1f} ms")
    except ImportError:
        print("jsonschema      not importable (--with a folder holding it)")
    try:
        import fastjsonschema

        compiled = fastjsonschema.compile(SCHEMA)
        print(f"fastjsonschema  {per_call_us(lambda: compiled(VALUE), args.n):7.2f} us/validation")
        print(f"  import        {import_ms('fastjsonschema', args.extra or src):7.1f} ms")
    except ImportError:
        print("fastjsonschema  not importable (--with a folder holding it)")


if __name__ == "__main__":
    main()
