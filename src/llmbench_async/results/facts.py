"""The facts every output of a run, a sweep or a comparison states: the target (endpoint,
API, model), the load, the in-flight cap, the warnings and the client's self-check limits.
Each is decided here once; the console, JSON, Markdown, JUnit, HTML and step-summary
renderers only format them.

A saved run is described by data: the results header and the summary JSON carry `target`
(endpoint, API, model) and `load`, and `SavedRun` reads them back for `report` and
`compare`. Files written before those fields existed are read from their saved config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..redact import mask_url

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = [
    "CPU_WARN_PERCENT",
    "LAG_WARN_MS",
    "MOCK_ENDPOINT",
    "SavedRun",
    "client_warnings",
    "describe_target",
    "in_flight_cap",
    "peak_text",
]

LAG_WARN_MS = 20.0  # event-loop lag p99 above this: the client's own delay is in the latencies
CPU_WARN_PERCENT = 90.0  # one process's CPU share above this: the client was saturated
MOCK_ENDPOINT = "mock"  # the built-in mock's endpoint as saved (its port is not a setting)
BUSY_CLIENT = (
    "the client itself was busy (event-loop lag or a saturated core), so latencies include "
    "client delay; use --workers (one process per core) or lower the load"
)


def describe_target(config: RunConfig) -> dict[str, Any]:
    """`target` (endpoint, API, model asked for) and `load` of a run, as saved data."""
    return {
        "target": {
            "endpoint": endpoint_text(config),
            "api": config.api,
            "model": models_text(config.models, config.model_mix) or config.model,
        },
        "load": config.load_description(),
        # a trace replay is an open loop: capped by --max-concurrency alone
        "in_flight_cap": in_flight_cap(
            config.rate or config.trace, config.concurrency, config.max_concurrency
        ),
    }


def models_text(models: tuple[str, ...], mix: str | None) -> str:
    """Several models, as every output names them: `a, b (round-robin)`; "" for one."""
    return f"{', '.join(models)} ({mix or 'round-robin'})" if len(models) > 1 else ""


def endpoint_text(config: RunConfig) -> str:
    """The endpoint as saved and shown: `mock` for the built-in mock, else the URL with any
    credentials masked."""
    if config.target_name is not None:
        return config.target_name
    return mask_url(config.endpoint)


def in_flight_cap(rate: object, concurrency: object, max_concurrency: object) -> int | None:
    """The most requests that may be in flight: the concurrency (closed loop), the
    --max-concurrency cap (open loop), or None (an open loop without a cap)."""
    limit = max_concurrency if rate else concurrency
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None


def peak_text(peak: object, cap: int | None) -> str:
    """`13/32` (peak in flight / the cap) or `13` when nothing capped it."""
    return f"{peak}" + (f"/{cap}" if cap else "")


def client_warnings(client: Mapping[str, Any] | None, workers: int = 1) -> list[str]:
    """The self-check's warning, when the client's own loop or core was the bottleneck."""
    if not client or client.get("ray"):
        return []
    lag = client.get("loop_lag_ms") or {}
    per_process_cpu = _float(client.get("cpu_percent")) / max(1, workers)
    if _float(lag.get("p99")) > LAG_WARN_MS or per_process_cpu > CPU_WARN_PERCENT:
        return [BUSY_CLIENT]
    return []


def run_warnings(
    summary_warnings: Sequence[object], client: Mapping[str, Any] | None, config: Mapping[str, Any]
) -> tuple[str, ...]:
    """Every warning of one run, in order: the Summary's own (data), then the client's."""
    workers = config.get("workers")
    found = [warning_text(w) for w in summary_warnings]
    found += client_warnings(client, workers if isinstance(workers, int) else 1)
    return tuple(dict.fromkeys(found))


def warning_text(warning: object) -> str:
    """One warning as a line: a string as it is, or a record's `text` or `message`."""
    if isinstance(warning, str):
        return warning
    for name in ("text", "message"):
        value = getattr(warning, name, None)
        if isinstance(value, str):
            return value
    return str(warning)


def tally_text(failed: int, total: int) -> str:
    """`all 3 thresholds passed` or `1 of 3 thresholds failed`, as every output words it."""
    noun = "threshold" if total == 1 else "thresholds"
    if not failed:
        return f"all {total} {noun} passed" if total > 1 else f"1 {noun} passed"
    return f"{failed} of {total} {noun} failed"


def sweep_load(labels: Sequence[str], level_load: str) -> str:
    """The load of a whole sweep, `sweep c=1, c=2, c=4 · 8 requests per level`, from its
    levels' labels and one level's load description (whose limits every level shares)."""
    shape, sep, limits = level_load.partition(" · ")
    text = f"sweep {', '.join(labels)}"
    cap = shape.rpartition(", ")[2]  # an open loop's cap on requests in flight, if any
    if cap.startswith("at most ") and cap.endswith(" in flight"):
        text += f" · {cap}"
    return text + (f" · {limits} per level" if sep else "")


def capacity_text(capacity: Mapping[str, Any] | None, judged: bool) -> str:
    """The capacity under SLO as every output of a sweep states it: exact or a lower bound,
    from the capacity's JSON (`sweep.Capacity.to_json`)."""
    if not judged or capacity is None:
        return "not judged (no --fail-if)"
    label, failing = capacity.get("label"), capacity.get("first_failing_level")
    if label is None:
        return f"none (the lowest level, {failing or 'the lowest'}, already fails)"
    if capacity.get("bound") == "lower":
        return f"capacity ≥ {label} (not reached); every level passed"
    return f"{label} ({failing or '?'} fails)"


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


@dataclass(frozen=True, slots=True)
class SavedRun:
    """What a saved run (results header or summary JSON) says about itself."""

    endpoint: str
    api: str
    model: str
    load: str
    in_flight_cap: int | None
    started_at: str
    tool_version: str
    config: Mapping[str, Any]

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> SavedRun:
        """A results file's header line (any version)."""
        return cls._read(header, header.get("version"))

    @classmethod
    def from_summary(cls, doc: Mapping[str, Any]) -> SavedRun:
        """A summary JSON document (any version)."""
        tool = doc.get("tool")
        return cls._read(doc, tool.get("version") if isinstance(tool, Mapping) else None)

    @classmethod
    def _read(cls, doc: Mapping[str, Any], version: object) -> SavedRun:
        cfg = _mapping(doc.get("config"))
        target = _mapping(doc.get("target"))
        load = doc.get("load")
        cap = doc.get("in_flight_cap", _legacy_cap(cfg))
        return cls(
            endpoint=_text(target.get("endpoint")) or legacy_endpoint(cfg),
            api=_text(target.get("api")) or _text(cfg.get("api")) or "?",
            model=_text(target.get("model")) or _text(cfg.get("model")) or "?",
            load=_text(load) if isinstance(load, str) and load else legacy_load(cfg),
            in_flight_cap=cap if isinstance(cap, int) and not isinstance(cap, bool) else None,
            started_at=_text(doc.get("started_at")),
            tool_version=_text(version) or "?",
            config=cfg,
        )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _legacy_cap(cfg: Mapping[str, Any]) -> int | None:
    open_loop = cfg.get("rate") or cfg.get("trace")
    return in_flight_cap(open_loop, cfg.get("concurrency"), cfg.get("max_concurrency"))


def legacy_endpoint(cfg: Mapping[str, Any]) -> str:
    """The endpoint of a file written before `target` was saved: --endpoint as given, else
    the base URL joined with the saved API's path."""
    from ..wire.apis import api_spec

    if cfg.get("endpoint_url"):
        return mask_url(str(cfg["endpoint_url"]))
    base_url = cfg.get("base_url")
    if not base_url:
        return "?"
    try:
        path = api_spec(str(cfg.get("api") or "chat")).path
    except ValueError:
        return mask_url(str(base_url))
    base, sep, query = str(base_url).partition("?")
    return mask_url(f"{base}/{path}" + (sep + query if sep else ""))


_LOAD_FIELDS = (
    "n",
    "concurrency",
    "rate",
    "arrival",
    "burstiness",
    "seed",
    "max_concurrency",
    "duration_s",
    "warmup_requests",
    "warmup_s",
    "ramp_up_s",
)


def legacy_load(cfg: Mapping[str, Any]) -> str:
    """The load line of a file written before `load` was saved, from its config."""
    from ..config import RunConfig
    from ..errors import ConfigError

    simple = f"{cfg.get('n', '?')} requests · concurrency {cfg.get('concurrency', '?')}"
    try:
        return RunConfig(**{k: cfg[k] for k in _LOAD_FIELDS if k in cfg}).load_description()
    except (ConfigError, TypeError, ValueError):
        return simple
