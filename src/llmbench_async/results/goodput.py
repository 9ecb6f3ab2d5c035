"""Goodput: the requests that met every per-request SLO, per second and as a share.

`--goodput 'ttft<200ms,tpot<50ms'` reuses the `--fail-if` threshold grammar, judged on each
request instead of on a statistic of the run (vLLM's `--goodput ttft:200 tpot:50`). A failed
request is never good, and a reply whose tool calls or JSON break their schema is the failure
`invalid_output`, so a good request is fast *and* valid. A request without the metric (e.g.
TTFT of a non-streamed request) does not meet its condition, except TPOT of a one-token
reply, which counts as 0 ms.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..metrics import PER_REQUEST, Metric
from ..records import RequestRecord
from .gate import _OPS, Threshold, ThresholdError, parse_threshold

__all__ = ["GOODPUT_METRICS", "GoodputSpec", "is_good", "parse_goodput"]

_OP = re.compile(r"[<>=!]+")

# grammar name → its table entry, for the per-request metrics a single request has a value of
GOODPUT_METRICS: dict[str, Metric] = {m.name: m for m in PER_REQUEST if m.record_value is not None}


@dataclass(frozen=True, slots=True)
class GoodputSpec:
    """Per-request conditions; a request is good when it succeeded and meets all of them."""

    conditions: tuple[Threshold, ...]

    def __str__(self) -> str:
        return ",".join(str(c).replace(".max", "", 1) for c in self.conditions)


def parse_goodput(texts: str | Sequence[str]) -> GoodputSpec:
    """`'ttft<200ms,tpot<50ms'` (or several such strings) → GoodputSpec; ThresholdError
    (a one-line usage error) naming the bad condition."""
    parts = [texts] if isinstance(texts, str) else list(texts)
    conditions = []
    for part in (p.strip() for text in parts for p in text.split(",")):
        if not part:
            continue
        found = _OP.search(part)
        name = part[: found.start()].strip().lower() if found else part
        if found is None or "." in name or name not in GOODPUT_METRICS:
            raise ThresholdError(
                part,
                "--goodput conditions are per request: METRIC OP VALUE[UNIT] with METRIC one "
                f"of {', '.join(GOODPUT_METRICS)} (no statistic), e.g. ttft<200ms",
            )
        try:  # the request's own value is its "max": reuse the gate's parser and units
            conditions.append(parse_threshold(f"{name}.max{part[found.start() :]}"))
        except ThresholdError as exc:
            raise ThresholdError(part, exc.reason.replace(".max", "")) from None
    if not conditions:
        raise ThresholdError(",".join(parts), "--goodput needs at least one condition")
    return GoodputSpec(tuple(conditions))


def is_good(record: RequestRecord, spec: GoodputSpec, *, from_schedule: bool = False) -> bool:
    """Whether one request succeeded and met every condition (latencies from the send
    instant, or from the scheduled one when `from_schedule`, as the statistics are)."""
    if not record.ok:
        return False
    shift = record.send_ns - record.scheduled_ns if from_schedule else 0
    for condition in spec.conditions:
        read = condition.ref.definition.record_value
        if read is None:  # parse_goodput admits only GOODPUT_METRICS
            raise KeyError(f"{condition.ref.metric} has no per-request value for --goodput")
        value = read(record, shift)
        if value is None or not _OPS[condition.op](value, condition.limit):
            return False
    return True
