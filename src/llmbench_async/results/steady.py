"""Steady state and convergence (docs/intervals.md).

* `--until-stable 'ttft.p99:5%'`: `Convergence.check` tells the runner, once a window,
  whether every listed percentile is known well enough: its 95 % interval (results/
  intervals.py) is closed and its half-width is at most the given share of its value.
* The steady-state window: from the first instant the requests in flight reached the
  target concurrency (closed loop; an open loop: the first measured arrival, its rate being
  the target), never before the first request measured (after warm-up and ramp), until the
  last measured request was scheduled. `SteadyAcc` is fed every record and gives the
  window's own metrics: the measured requests due inside it.

Pure computation: nothing here prints or knows about HTTP.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError, ThresholdError
from ..metrics import RecordReader, metric
from ..records import RequestRecord
from .gate import parse_metric_ref
from .intervals import interval_of
from .stats import describe

__all__ = [
    "STEADY_KEYS",
    "Convergence",
    "SteadyAcc",
    "parse_until_stable",
    "saved_convergence",
    "steady_from_records",
    "steady_state",
    "steady_target",
]

# the per-request metrics the steady-state window reports (summary keys)
STEADY_KEYS: tuple[str, ...] = ("ttft_ms", "e2e_ms", "tpot_ms")
_NS_PER_S = 1e9
_NAN = float("nan")


# embeddings answers carry no tokens: these metrics never get a sample there
_TOKEN_METRICS = ("ttft", "ttfc", "itl", "tpot", "output_tokens_per_s")


def parse_until_stable(texts: Iterable[str], api: str = "chat") -> tuple[tuple[str, float], ...]:
    """`ttft.p99:5%` → (("ttft.p99", 0.05),); ConfigError naming the flag when bad, or
    when the run's API never gives the metric a sample (a run that could never converge)."""
    out: dict[str, float] = {}
    for text in texts:
        what = f"--until-stable {text!r}"
        name, colon, share = text.strip().rpartition(":")
        if not colon or not share.strip().endswith("%"):
            raise ConfigError(f"{what}: expected METRIC.pNN:PCT, e.g. ttft.p99:5%")
        try:
            ref = parse_metric_ref(name)
            percent = float(share.strip()[:-1])
        except ThresholdError as exc:
            raise ConfigError(f"{what}: {exc.reason}") from None
        except ValueError:
            raise ConfigError(f"{what}: {share.strip()!r} is not a percentage") from None
        if ref.quantile is None or ref.bound is not None or not 0 < ref.quantile < 100:
            raise ConfigError(f"{what}: give a percentile of a per-request metric, e.g. ttft.p99")
        if not 0.0 < percent < 100.0:
            raise ConfigError(f"{what}: the relative width must be above 0 % and below 100 %")
        if api == "embeddings" and ref.metric in _TOKEN_METRICS:
            raise ConfigError(f"{what}: embeddings answers have no tokens; use e2e")
        out[str(ref)] = percent / 100.0
    return tuple(out.items())


class Convergence:
    """Whether the listed percentiles are known to their relative widths yet. `samples`
    gives a metric's samples so far (SummaryBuilder.samples_of); `first_send` the first
    measured send instant (ns), the origin of `at_s`."""

    def __init__(
        self,
        targets: Sequence[tuple[str, float]],
        samples: Callable[[str], Sequence[float]],
        first_send: Callable[[], int | None],
    ) -> None:
        self.targets = tuple(targets)
        self._samples = samples
        self._first_send = first_send
        self.converged_at_s: float | None = None
        self.requests: int | None = None  # the fewest samples of a target at convergence
        self.widths: dict[str, float | None] = {ref: None for ref, _ in self.targets}
        self.checks = 0

    def check(self) -> bool:
        """Compute every target's interval now; True once all are narrow enough (then the
        instant and the widths are kept)."""
        if self.converged_at_s is not None:
            return True
        self.checks += 1
        done = True
        counts = []
        for text, share in self.targets:
            ref = parse_metric_ref(text)
            values = self._samples(metric(ref.metric, per_request=True).key)
            found = interval_of(values, ref.quantile or 50.0)
            width = None if found is None else found.relative_half_width
            self.widths[text] = width
            done = done and width is not None and width <= share
            counts.append(len(values))
        first = self._first_send()
        if done and first is not None:
            self.converged_at_s = max(0.0, (time.perf_counter_ns() - first) / _NS_PER_S)
            self.requests = min(counts)
        return self.converged_at_s is not None

    def to_json(self) -> dict[str, Any]:
        """The summary JSON's `convergence`: the rule, whether it held and when."""
        return {
            "targets": {ref: share * 100.0 for ref, share in self.targets},
            "converged": self.converged_at_s is not None,
            "at_s": self.converged_at_s,
            "samples": self.requests,
            "relative_half_width_pct": {
                ref: None if w is None else w * 100.0 for ref, w in self.widths.items()
            },
            "checks": self.checks,
        }


_MAX_TARGETS = 20  # a saved file's --until-stable targets read back (a hostile file: no more)
_MAX_SAVED = 1e9  # a saved figure beyond this is not one the tool wrote


def saved_convergence(found: object) -> dict[str, Any] | None:
    """A results file footer's `convergence`, rebuilt from its expected fields only (text
    capped, numbers finite); None when it is absent or not of that shape."""
    if not isinstance(found, Mapping) or not isinstance(found.get("converged"), bool):
        return None

    def number(value: object) -> float | None:
        """A plausible figure (seconds, percent): finite and within ±1e9, else null."""
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok and abs(value) <= _MAX_SAVED else None  # type: ignore[arg-type]

    def per_target(value: object) -> dict[str, float | None]:
        items = list(value.items())[:_MAX_TARGETS] if isinstance(value, Mapping) else []
        return {str(k)[:100]: number(v) for k, v in items}

    samples, checks = found.get("samples"), found.get("checks")
    return {
        "targets": per_target(found.get("targets")),
        "converged": found["converged"],
        "at_s": number(found.get("at_s")),
        "samples": samples if type(samples) is int else None,
        "relative_half_width_pct": per_target(found.get("relative_half_width_pct")),
        "checks": checks if type(checks) is int else None,
    }


class SteadyAcc:
    """Each record's instants and steady-state metric values, compactly (about 60 bytes a
    request), so the window can be found once the run has ended."""

    def __init__(self, *, latency_from: str = "send") -> None:
        self._from_schedule = latency_from == "schedule"
        self.sends: array[int] = array("q")
        self.ends: array[int] = array("q")
        self.scheduled: array[int] = array("q")
        self.measured: array[int] = array("b")  # 1: neither warm-up nor ramp
        self.ok: array[int] = array("b")
        self.tokens: array[int] = array("q")  # output tokens of an ok request (0: unknown)
        self.values: dict[str, array[float]] = {k: array("d") for k in STEADY_KEYS}
        self._readers = [(self.values[k], _reader(k)) for k in STEADY_KEYS]

    def add(self, r: RequestRecord) -> None:
        self.sends.append(r.send_ns)
        self.ends.append(r.end_ns)
        self.scheduled.append(r.scheduled_ns)
        self.measured.append(0 if (r.warmup or r.ramp) else 1)
        self.ok.append(1 if r.ok else 0)
        self.tokens.append((r.output_tokens or 0) if r.ok else 0)
        shift = r.send_ns - r.scheduled_ns if self._from_schedule else 0
        for values, reader in self._readers:
            value = reader(r, shift) if r.ok else None
            values.append(_NAN if value is None else value)


def _reader(key: str) -> RecordReader:
    reader = metric(key.removesuffix("_ms"), per_request=True).record_value
    assert reader is not None, key
    return reader


def steady_target(config: Mapping[str, Any]) -> int | None:
    """The in-flight target of the steady-state window from a run's public config: the
    closed loop's concurrency (at most the requests it sends); None for an open loop, whose
    target is its rate."""
    concurrency = config.get("concurrency")
    if config.get("rate") is not None or not isinstance(concurrency, int):
        return None
    n, warm = config.get("n"), config.get("warmup_requests")
    if not isinstance(n, int):
        return concurrency
    return min(concurrency, n + (warm if isinstance(warm, int) else 0))


def steady_from_records(records: Iterable[RequestRecord], config: Mapping[str, Any]) -> Any:
    """`steady_state` of saved records (the `report` command), by the run's saved config."""
    acc = SteadyAcc(latency_from=str(config.get("latency_from") or "send"))
    for record in records:
        acc.add(record)
    return steady_state(acc, steady_target(config))


def steady_state(acc: SteadyAcc, target: int | None) -> dict[str, Any]:
    """The summary JSON's `steady_state`. `target`: the closed loop's concurrency (None for
    an open loop). `window` is None, with `reason`, when the run never had one."""
    measured = [i for i, m in enumerate(acc.measured) if m]
    base: dict[str, Any] = {"target_in_flight": target, "window": None, "reason": None}
    if not measured:
        return base | {"reason": "no measured request"}
    first_due = min(acc.scheduled[i] for i in measured)
    reached = first_due if target is None else _reached(acc.sends, acc.ends, target)
    if reached is None:
        return base | {"reason": f"requests in flight never reached {target}"}
    start = max(reached, first_due)
    end = max(acc.scheduled[i] for i in measured)
    inside = [i for i in measured if start <= acc.scheduled[i] <= end]
    if end <= start or not inside:
        return base | {"reason": "the load reached its target only as the last request was due"}
    span_s = (end - start) / _NS_PER_S
    done = [i for i in measured if acc.ok[i] and start <= acc.ends[i] <= end]
    metrics: dict[str, Any] = {}
    for key, values in acc.values.items():
        stats = describe(v for i in inside if (v := values[i]) == v)  # NaN: no value
        metrics[key] = None if stats is None else stats.to_json()
    return base | {
        "window": {
            "start_s": (start - first_due) / _NS_PER_S,
            "end_s": (end - first_due) / _NS_PER_S,
            "duration_s": span_s,
        },
        "requests": len(inside),
        "ok": sum(acc.ok[i] for i in inside),
        "requests_per_s": len(done) / span_s,
        "output_tokens_per_s": sum(acc.tokens[i] for i in done) / span_s,
        "metrics": metrics,
    }


def _reached(sends: Sequence[int], ends: Sequence[int], target: int) -> int | None:
    """The first instant the requests in flight (sent, not yet ended) numbered `target`; at
    equal instants an end is counted before a send."""
    events = sorted([(t, 1) for t in sends] + [(t, -1) for t in ends])
    level = 0
    for instant, step in events:  # (t, -1) sorts before (t, 1)
        level += step
        if level >= target:
            return instant
    return None
