"""`RequestRecord`, the one currency of the program, and the JSONL results file.

All instants are integer nanoseconds from one monotonic clock (`time.perf_counter_ns`).
In memory they are absolute; in the results file they are relative to the run's start
(`t0`), which is also what reading a file back gives: every metric is a difference of
instants, so both forms yield the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from .errors import ConfigError
from .limits import MAX_FIELD_CHARS, MAX_RESULTS_FILE_BYTES, MAX_RESULTS_LINE_BYTES
from .outcomes import finish_text, response_id_text, served_model
from .redact import one_line

TokenSource = Literal["usage", "chunks", "none"]

RESULTS_SCHEMA = "llmbench-async/results/v1"
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Everything measured about one request (all instants in ns, one monotonic clock)."""

    index: int
    scheduled_ns: int
    send_ns: int
    end_ns: int
    headers_ns: int | None = None
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    first_content_ns: int | None = None  # first event with content (not reasoning)
    # gaps between consecutive output-carrying events, in ns (len == output events - 1)
    token_gaps_ns: tuple[int, ...] = ()
    output_events: int = 0
    output_tokens: int | None = None
    input_tokens: int | None = None
    reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens
    token_source: TokenSource = "none"
    status: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    attempts: int = 1
    # first attempt's send instant when retries happened (None: same as send_ns)
    first_send_ns: int | None = None
    response_id: str | None = None
    warmup: bool = False
    # where the request sits in the workload (None: not applicable)
    session: int | None = None  # multi-turn: the session (conversation) it belongs to
    turn: int | None = None  # multi-turn: 1-based turn within its session
    group: int | None = None  # shared prefixes: which prefix group (0-based)
    inputs: int | None = None  # embeddings: inputs in the batch
    # the cause of each retried attempt, in order (`retry_cause`: http_429, http_5xx, ...)
    retry_causes: tuple[str, ...] = ()
    ramp: bool = False  # due inside --ramp-up: kept in the results file, not in statistics
    # the connection was ready: a pooled one taken, or a new one through TCP (+TLS) set-up
    ready_ns: int | None = None
    connect_ns: int | None = None  # time to get that connection: 0 if reused (a duration)
    new_connection: bool | None = None  # None: unknown (no connection reached, or HTTP/2)
    note: str | None = None  # something odd about a request that still counted
    # why the answer ended, in the API's words (chat `finish_reason`, Responses `completed` or
    # `incomplete:REASON`, Messages `stop_reason`); None: none came (see docs/outcomes.md)
    finish_reason: str | None = None
    model: str | None = None  # the model the response named (None: it named none)
    # the id we sent (--request-id-header; the same on every attempt) and the W3C trace id
    # of --traceparent; None: not sent
    request_id: str | None = None
    trace_id: str | None = None
    # prompt tokens the server took from its prefix cache (usage details; None: not said)
    cached_tokens: int | None = None
    # what the server said of its own time (docs/server-timing.md): `source` and the
    # server's `queue_ms`, `prefill_ms`, `decode_ms` where it gives them; None: nothing said
    server_timing: Mapping[str, Any] | None = None
    # set-up phases (durations, ns) of the connection this request was the first to use:
    # name resolution, TCP connect, TLS handshake (None: not measured, reused, or no TLS);
    # `preconnected`: that connection was opened before the clock (--preconnect), so the
    # phases are outside this request's latency
    dns_ns: int | None = None
    tcp_ns: int | None = None
    tls_ns: int | None = None
    preconnected: bool = False
    # the model this request asked for, when the run spread requests over several (--model
    # a,b,c); None: the run's one model (the header's config.model)
    requested_model: str | None = None
    trace_row: int | None = None  # trace replay: the trace file's line this request came from
    # trace replay: when the runner handed the row on to be sent (an instant); its lateness
    # against `scheduled_ns` (the row's instant in the trace) is the dispatch lag
    dispatched_ns: int | None = None
    request_bytes: int | None = None  # the request body's size as sent (None: older files)
    extra: Mapping[str, Any] = field(default_factory=lambda: _NO_EXTRA)  # shared when empty

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    @property
    def ttft_ns(self) -> int | None:
        """Send instant → first output-carrying event."""
        return None if self.first_token_ns is None else self.first_token_ns - self.send_ns

    @property
    def connect_ms(self) -> float | None:
        """Connect time in ms (0 for a reused connection), None when not known."""
        return None if self.connect_ns is None else self.connect_ns / 1e6

    @property
    def headers_wait_ns(self) -> int | None:
        """Send instant → the response head's arrival (time to response headers)."""
        return None if self.headers_ns is None else self.headers_ns - self.send_ns

    @property
    def latency_split(self) -> dict[str, float] | None:
        """E2E (ms) split into what the server reported (queue, prefill, decode: only the
        parts it gave) and the rest (network + client = E2E − the server's parts); None
        when the server reported no part."""
        timing = self.server_timing
        if not timing:
            return None
        parts = {k: float(timing[k]) for k in _SPLIT if timing.get(k) is not None}
        if not parts:
            return None
        parts["rest_ms"] = self.e2e_ns / 1e6 - sum(parts.values())
        return parts

    @property
    def ttfc_ns(self) -> int | None:
        """Send instant → first content event (reasoning excluded)."""
        return None if self.first_content_ns is None else self.first_content_ns - self.send_ns

    @property
    def e2e_ns(self) -> int:
        """Send instant → end of the response."""
        return self.end_ns - self.send_ns

    @property
    def queue_delay_ns(self) -> int:
        """Scheduled instant → (first attempt's) send instant."""
        first = self.send_ns if self.first_send_ns is None else self.first_send_ns
        return first - self.scheduled_ns

    @property
    def dispatch_lag_ns(self) -> int | None:
        """Trace replay: the row's instant in the trace → handed on to be sent."""
        return None if self.dispatched_ns is None else self.dispatched_ns - self.scheduled_ns

    @property
    def retry_wait_ns(self) -> int:
        """Time spent on failed attempts and backoff before the reported attempt."""
        return 0 if self.first_send_ns is None else self.send_ns - self.first_send_ns

    @property
    def tpot_ns(self) -> float | None:
        """(last output − first output) / (output tokens − 1)."""
        if (
            self.first_token_ns is None
            or self.last_token_ns is None
            or self.output_tokens is None
            or self.output_tokens < 2
        ):
            return None
        return (self.last_token_ns - self.first_token_ns) / (self.output_tokens - 1)

    @property
    def output_tokens_per_s(self) -> float | None:
        """Output tokens / E2E seconds, for one request."""
        if not self.output_tokens or self.e2e_ns <= 0:
            return None
        return self.output_tokens * 1e9 / self.e2e_ns


_INSTANTS = (
    "scheduled_ns",
    "first_send_ns",
    "ready_ns",
    "send_ns",
    "headers_ns",
    "first_token_ns",
    "last_token_ns",
    "first_content_ns",
    "end_ns",
)


_WORKLOAD_TAGS = ("session", "turn", "group", "inputs", "trace_row", "request_bytes")
_SPLIT = ("queue_ms", "prefill_ms", "decode_ms")  # server_timing parts, in order
_SERVER_FIELDS = ("request_id", "trace_id", "cached_tokens", "server_timing")
_PHASES = ("dns_ns", "tcp_ns", "tls_ns")


def record_to_json(record: RequestRecord, t0_ns: int) -> dict[str, Any]:
    """The JSONL line for one record, instants relative to `t0_ns`."""
    line: dict[str, Any] = {"type": "request", "index": record.index}
    for name in _INSTANTS:
        value = getattr(record, name)
        line[name] = None if value is None else value - t0_ns
    line["token_gaps_ns"] = list(record.token_gaps_ns)
    line["output_events"] = record.output_events
    line["output_tokens"] = record.output_tokens
    line["input_tokens"] = record.input_tokens
    line["reasoning_tokens"] = record.reasoning_tokens
    line["token_source"] = record.token_source
    line["status"] = record.status
    line["error_kind"] = record.error_kind
    line["error_message"] = record.error_message
    line["attempts"] = record.attempts
    line["response_id"] = record.response_id
    line["finish_reason"] = record.finish_reason
    line["model"] = record.model
    if record.requested_model is not None:
        line["requested_model"] = record.requested_model
    line["connect_ns"] = record.connect_ns
    line["new_connection"] = record.new_connection
    for name in (*_PHASES, *_SERVER_FIELDS):
        line[name] = getattr(record, name)
    if record.server_timing is not None:
        line["server_timing"] = dict(record.server_timing)
    line["latency_split"] = record.latency_split
    if record.preconnected:
        line["preconnected"] = True
    if record.note is not None:
        line["note"] = record.note
    if record.warmup:
        line["warmup"] = True
    for name in _WORKLOAD_TAGS:  # written only when set
        value = getattr(record, name)
        if value is not None:
            line[name] = value
    if record.dispatched_ns is not None:
        line["dispatched_ns"] = record.dispatched_ns - t0_ns
    if record.retry_causes:
        line["retry_causes"] = list(record.retry_causes)
    if record.ramp:
        line["ramp"] = True
    if record.extra:
        line["extra"] = dict(record.extra)
    return line


def record_from_json(line: Mapping[str, Any]) -> RequestRecord:
    """Inverse of `record_to_json` (instants stay relative to the file's t0)."""
    return RequestRecord(
        index=int(line["index"]),
        scheduled_ns=int(line["scheduled_ns"]),
        send_ns=int(line["send_ns"]),
        end_ns=int(line["end_ns"]),
        headers_ns=_opt_int(line.get("headers_ns")),
        first_token_ns=_opt_int(line.get("first_token_ns")),
        last_token_ns=_opt_int(line.get("last_token_ns")),
        first_content_ns=_opt_int(line.get("first_content_ns")),
        token_gaps_ns=tuple(int(g) for g in line.get("token_gaps_ns") or ()),
        output_events=int(line.get("output_events") or 0),
        output_tokens=_opt_int(line.get("output_tokens")),
        input_tokens=_opt_int(line.get("input_tokens")),
        reasoning_tokens=_opt_int(line.get("reasoning_tokens")),
        token_source=line.get("token_source") or "none",
        status=_opt_int(line.get("status")),
        error_kind=line.get("error_kind"),
        error_message=line.get("error_message"),
        attempts=int(line.get("attempts") or 1),
        first_send_ns=_opt_int(line.get("first_send_ns")),
        response_id=response_id_text(line.get("response_id")),
        warmup=bool(line.get("warmup", False)),
        session=_opt_int(line.get("session")),
        turn=_opt_int(line.get("turn")),
        group=_opt_int(line.get("group")),
        inputs=_opt_int(line.get("inputs")),
        request_bytes=_opt_int(line.get("request_bytes")),
        retry_causes=tuple(str(c) for c in line.get("retry_causes") or ()),
        ramp=bool(line.get("ramp", False)),
        ready_ns=_opt_int(line.get("ready_ns")),
        connect_ns=_opt_int(line.get("connect_ns")),
        new_connection=_opt_bool(line.get("new_connection")),
        note=line.get("note"),
        # names from a server, read back as the client keeps them: bounded and printable
        finish_reason=finish_text(_opt_str(line.get("finish_reason"))),
        model=served_model(_opt_str(line.get("model"))),
        request_id=_opt_str(line.get("request_id")),
        trace_id=_opt_str(line.get("trace_id")),
        cached_tokens=_opt_int(line.get("cached_tokens")),
        server_timing=line.get("server_timing"),
        dns_ns=_opt_int(line.get("dns_ns")),
        tcp_ns=_opt_int(line.get("tcp_ns")),
        tls_ns=_opt_int(line.get("tls_ns")),
        preconnected=bool(line.get("preconnected", False)),
        requested_model=served_model(_opt_str(line.get("requested_model"))),
        extra=dict(line.get("extra") or {}),
        trace_row=_opt_int(line.get("trace_row")),
        dispatched_ns=_opt_int(line.get("dispatched_ns")),
    )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    """A text field; None when absent (files written before the field existed)."""
    return None if value is None else str(value)


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True, slots=True)
class ResultsFile:
    """A results file read back: its header, its records and its footer (if the run ended)."""

    header: dict[str, Any]
    records: list[RequestRecord]
    footer: dict[str, Any] | None


def read_results(path: Path, warn: Callable[[str], None] | None = None) -> ResultsFile:
    """Read a JSONL results file through the inbound boundary: a regular file of at most
    1 GiB, lines of at most 4 MiB, strict JSON, each record's fields typed (a wrong type is
    one ConfigError naming the file, line and field). A truncated last line (crash
    mid-write) is ignored; a corrupt line before it is skipped with one warning line."""
    header: dict[str, Any] = {}
    footer: dict[str, Any] | None = None
    records: list[RequestRecord] = []
    for number, obj in _iter_lines(path, warn or _warn):
        kind = obj.get("type")
        where = f"{path} line {number}"
        if kind == "header":
            header = _mapping_fields(obj, where, ("config", "route", "environment"))
            check_saved_config(header.get("config") or {}, where)
        elif kind == "request":
            records.append(record_from_json(check_record(obj, where)))
        elif kind == "footer":
            footer = _mapping_fields(obj, where, ("server_metrics",))
            if footer.get("server_metrics") is not None:
                check_saved_scrape(footer["server_metrics"], where)
    return ResultsFile(header=header, records=records, footer=footer)


def _iter_lines(path: Path, warn: Callable[[str], None]) -> Iterator[tuple[int, dict[str, Any]]]:
    from .inbound import check_file, lines, loads

    check_file(path, "", MAX_RESULTS_FILE_BYTES)
    bad: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None  # a bad line: corrupt unless it is the last
    with path.open("rb") as fh:
        for number, raw in lines(fh, str(path), MAX_RESULTS_LINE_BYTES, MAX_RESULTS_FILE_BYTES):
            if not raw.strip():
                continue
            if pending is not None:
                bad.append(pending)
                pending = None
            try:
                obj = loads(raw, f"line {number}")
            except ConfigError as exc:
                pending = (number, str(exc))
                continue
            if isinstance(obj, dict):
                yield number, obj
            else:
                bad.append((number, f"line {number}: not a JSON object"))
    if bad:
        plural = "s" if len(bad) > 1 else ""
        warn(f"{path}: skipped {len(bad)} corrupt line{plural} (first: {bad[0][1][:120]})")


def _warn(message: str) -> None:
    import sys

    sys.stderr.write(f"llmbench-async: warning: {one_line(message)}\n")


def _mapping_fields(obj: dict[str, Any], where: str, names: tuple[str, ...]) -> dict[str, Any]:
    for name in names:
        if obj.get(name) is not None and not isinstance(obj[name], dict):
            raise ConfigError(f"{where}: field {name!r} must be an object")
    return obj


_INTS = ("index", "scheduled_ns", "send_ns", "end_ns")  # required
_OPT_INTS = (
    "headers_ns", "first_token_ns", "last_token_ns", "first_content_ns", "output_events",
    "output_tokens", "input_tokens", "reasoning_tokens", "status", "attempts", "first_send_ns",
    "session", "turn", "group", "inputs", "ready_ns", "connect_ns", "cached_tokens",
    "dns_ns", "tcp_ns", "tls_ns", "trace_row", "dispatched_ns", "request_bytes",
)  # fmt: skip
_BOOLS = ("warmup", "ramp", "new_connection", "preconnected")
_INT_RANGE = 2**62  # instants (ns) and counts beyond this are not a run's


def check_record(obj: dict[str, Any], where: str) -> dict[str, Any]:
    """A request line's fields of the types `record_from_json` expects, integers within
    ±2**62, text fields cut to `MAX_FIELD_CHARS`; a ConfigError naming `where` and the
    field otherwise."""
    for name in (*_INTS, *_OPT_INTS):
        value = obj.get(name)
        if value is None and name not in _INTS:
            continue
        if not _is_int(value):
            raise ConfigError(
                f"{where}: field {name!r} must be a whole number within ±2**62 (got {_kind(value)})"
            )
    for name in _BOOLS:
        if obj.get(name) is not None and not isinstance(obj[name], bool):
            raise ConfigError(f"{where}: field {name!r} must be true or false")
    gaps = obj.get("token_gaps_ns")
    if gaps is not None and not (isinstance(gaps, list) and all(_is_int(g) for g in gaps)):
        raise ConfigError(f"{where}: field 'token_gaps_ns' must be a list of integers")
    causes = obj.get("retry_causes")
    if causes is not None and not (
        isinstance(causes, list) and all(isinstance(c, str) for c in causes)
    ):
        raise ConfigError(f"{where}: field 'retry_causes' must be a list of strings")
    if obj.get("extra") is not None and not isinstance(obj["extra"], dict):
        raise ConfigError(f"{where}: field 'extra' must be an object")
    _check_server_timing(obj, where)
    for name, value in obj.items():
        if isinstance(value, str):  # error messages and other texts: a bounded excerpt
            obj[name] = value[:MAX_FIELD_CHARS]
    return obj


def _check_server_timing(obj: dict[str, Any], where: str) -> None:
    """`server_timing`: an object of at most 16 fields, each a finite number from 0 to
    1e12 or (`source`) a short text; the derived `latency_split` is recomputed, not read."""
    timing = obj.get("server_timing")
    obj.pop("latency_split", None)
    if timing is None:
        return
    ok = isinstance(timing, dict) and len(timing) <= 16
    for key, value in timing.items() if ok else ():
        if key == "source":
            ok = ok and isinstance(value, str) and len(value) <= 40
        else:
            ok = ok and _is_finite(value) and 0 <= value <= 1e12
    if not ok:
        raise ConfigError(f"{where}: field 'server_timing' must hold non-negative numbers")


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):  # an older writer's 12.0
        return value.is_integer() and abs(value) <= _INT_RANGE
    return isinstance(value, int) and abs(value) <= _INT_RANGE


def _kind(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r:.24}"
    names = {str: "text", list: "a list", dict: "an object", bool: "a boolean"}
    return names.get(type(value), "null")


_NUMBER = (int, float)
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(
        ("n", "concurrency", "max_concurrency", "seed", "warmup_requests", "workers", "batch",
         "turns", "prefix_tokens", "prefix_groups", "max_tokens", "ray_actors", "ray_per_node",
         "trace_block_tokens"),
        (int,),
    ),
    **dict.fromkeys(
        ("rate", "duration_s", "warmup_s", "ramp_up_s", "phase_s", "grace_s", "burstiness",
         "think_time_s", "trace_speed"),
        _NUMBER,
    ),
    **dict.fromkeys(
        ("base_url", "api_key", "model", "api", "arrival", "prompt", "latency_from",
         "endpoint_url", "api_key_header", "max_tokens_field", "proxy", "dataset",
         "dataset_format", "prompt_file", "output", "ray_address", "request_id_header",
         "trace", "trace_format", "session_header", "run_id"),
        (str,),
    ),
    **dict.fromkeys(
        ("stream", "ignore_eos", "sample_prompts", "replay_history", "proxy_env", "http2",
         "preconnect", "calibrate", "traceparent"),
        (bool,),
    ),
    **dict.fromkeys(("extra_body", "headers", "timeouts", "retry"), (dict,)),
    **dict.fromkeys(
        ("goodput", "input_tokens", "input_token_range", "output_token_range"), (list,)
    ),
    "verify": (bool, str),
}  # fmt: skip


def check_saved_config(config: Mapping[str, Any], where: str) -> None:
    """The saved run's settings of the types the reports read (a field absent or null is
    fine: older files lack newer fields); a ConfigError naming the field otherwise."""
    for name, value in config.items():
        kinds = _CONFIG_TYPES.get(name)
        if value is None or kinds is None:
            continue
        wrong = not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool))
        if not wrong and isinstance(value, _NUMBER) and not isinstance(value, bool):
            wrong = abs(value) > _INT_RANGE
        if not wrong and name == "goodput":
            wrong = not all(isinstance(item, str) for item in value)
        elif not wrong and isinstance(value, list):
            wrong = not all(item is None or _is_int(item) for item in value)
        if wrong:
            raise ConfigError(f"{where}: field 'config.{name}' has the wrong type ({_kind(value)})")


def check_saved_scrape(doc: Mapping[str, Any], where: str) -> None:
    """A saved `timeseries.server` document of the shape the reports draw: a ConfigError
    naming the field otherwise."""
    shape: dict[str, tuple[type, ...]] = {
        "url": (str,), "interval_s": _NUMBER, "scrapes": (int,), "failures": (int,),
        "first_error": (str, type(None)), "metrics": (dict,),
    }  # fmt: skip
    for name, kinds in shape.items():
        if not isinstance(doc.get(name), kinds) or isinstance(doc.get(name), bool):
            raise ConfigError(f"{where}: field 'server_metrics.{name}' is missing or mistyped")
    sources = doc.get("sources", [])  # several URLs (absent from older files)
    if not isinstance(sources, list) or not all(
        isinstance(s, dict) and isinstance(s.get("url"), str) for s in sources
    ):
        raise ConfigError(f"{where}: field 'server_metrics.sources' is mistyped")
    for key, series in doc["metrics"].items():
        field = f"server_metrics.metrics.{str(key)[:40]}"
        if not isinstance(series, dict) or not all(
            isinstance(series.get(n), str) for n in ("label", "kind", "source")
        ):
            raise ConfigError(f"{where}: field {field!r} is missing or mistyped")
        t_s, value = series.get("t_s"), series.get("value")
        if not (isinstance(t_s, list) and isinstance(value, list) and len(t_s) == len(value)):
            raise ConfigError(f"{where}: field {field!r}: t_s and value must be lists alike")
        if not all(_is_finite(v) for v in (*t_s, *value)):
            raise ConfigError(f"{where}: field {field!r} holds a value that is not a number")


def _is_finite(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool) and abs(value) < 1e300
