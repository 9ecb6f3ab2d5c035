"""CPU cost of the event-loop lag probe: the probe alone on an otherwise idle loop.

    uv run python benchmarks/probe_cost.py        # 3 × 10 s, interleaved with an idle loop

Prints the process CPU (user + sys) per second of wall time, with the probe running and with
the loop only sleeping, and their difference as a share of one core.
"""

from __future__ import annotations

import statistics
import time
from array import array

import anyio

from llmbench_async.loadgen.runner import lag_probe


async def _for(seconds: float, probe: bool) -> float:
    samples: array[float] = array("d")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with anyio.move_on_after(seconds):
        if probe:
            await lag_probe(samples)
        else:
            await anyio.sleep(seconds + 1)
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def main() -> None:
    with_probe, idle = [], []
    for _ in range(3):
        with_probe.append(anyio.run(_for, 10.0, True))
        idle.append(anyio.run(_for, 10.0, False))
    a, b = statistics.median(with_probe), statistics.median(idle)
    print(f"probe: {100 * a:.3f}% of a core; idle loop: {100 * b:.3f}%; cost {100 * (a - b):.3f}%")


if __name__ == "__main__":
    main()
