"""Start-up time of `llmbench-async --help` and `--version`: whole process, median of 7.

Run: `uv run python benchmarks/startup.py` (compile byte-code first if your environment sets
PYTHONDONTWRITEBYTECODE: `uv run python -m compileall -q src .venv/lib`). Prints wall time
and CPU time (user + sys of the child); on a loaded machine the CPU time is the steadier one.
The target is 0.3 s wall on an idle machine.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

RUNS = 7


def measure(argv: list[str]) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of `argv` over RUNS runs."""
    walls, cpus = [], []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    exe = shutil.which("llmbench-async") or os.path.join(
        os.path.dirname(sys.executable), "llmbench-async"
    )
    print(f"load average {os.getloadavg()[0]:.2f}")
    for args in (["--help"], ["--version"]):
        wall, cpu = measure([exe, *args])
        print(
            f"llmbench-async {args[0]:<10} wall {wall:.3f} s  cpu {cpu:.3f} s  (median of {RUNS})"
        )
    wall, cpu = measure([sys.executable, "-c", "pass"])
    print(f"{'python -c pass':<25} wall {wall:.3f} s  cpu {cpu:.3f} s")


if __name__ == "__main__":
    main()
