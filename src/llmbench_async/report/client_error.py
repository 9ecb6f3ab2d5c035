"""The client-error block of a calibrated run's report (console and Markdown; the JSON's
`client_error` is `ClientError.to_json()`): the error the client adds to each clock at p50,
p99 and max, the calibration's loop lag and CPU, and the one-line verdict."""

from __future__ import annotations

from ..metrics import format_number
from ..results.calibration import CLOCKS, WAVES, ClientError

__all__ = ["client_error_console", "client_error_markdown"]

_COLUMNS = ("p50", "p99", "max")


def _cell(err: ClientError, clock: str, stat: str) -> str:
    """One statistic in ms; a rounding-size negative (−0.0001) shows as 0."""
    value = err.value(clock, stat) or 0.0
    return format_number(0.0 if abs(value) < 0.0005 else value)


def _heading(err: ClientError) -> str:
    matched = f"{err.matched} requests matched"
    if err.unmatched:
        matched += f", {err.unmatched} unmatched"
    return (
        f"Client error (ours − the built-in mock's truth, ms; replayed {err.replay.text()}; "
        f"{matched})"
    )


def _self_check(err: ClientError) -> str:
    lag = err.loop_lag_ms
    return (
        f"calibration loop lag p50 {lag.get('p50', 0.0):.1f} ms, p99 {lag.get('p99', 0.0):.1f} "
        f"ms; CPU {err.cpu_percent:.0f}% ({err.workers} process{'es' if err.workers > 1 else ''})"
    )


def _waves(err: ClientError) -> str | None:
    """`first wave (8): TTFT p99 …, E2E p99 … · the rest (32): …`; None when not split."""
    parts = []
    for wave, name in zip(WAVES, ("first wave", "the rest"), strict=True):
        stats = [(c, err.value(f"{c}:{wave}", "p99")) for c in ("ttft", "e2e")]
        known = [f"{CLOCKS[c]} p99 {format_number(v)}" for c, v in stats if v is not None]
        count = len(err.samples.get(f"e2e:{wave}") or err.samples.get(f"ttft:{wave}") or ())
        if known:
            parts.append(f"{name} ({count}): {', '.join(known)} ms")
    return " · ".join(parts) or None


def client_error_console(err: ClientError) -> list[str]:
    """The console block: heading, one row per clock, self-check and the verdict."""
    label_w = max(len(label) for label in CLOCKS.values())
    out = [_heading(err), f"  {'':<{label_w}}" + "".join(f"{c:>10}" for c in _COLUMNS)]
    for clock, label in CLOCKS.items():
        if not err.samples.get(clock):
            continue
        cells = "".join(f"{_cell(err, clock, c):>10}" for c in _COLUMNS)
        out.append(f"  {label:<{label_w}}{cells}")
    waves = _waves(err)
    if waves is not None:
        out.append(f"  {waves}")
    out.append(f"  {_self_check(err)}")
    out.append(f"{'Verdict' if err.fine else '!! Verdict'}: {err.verdict}")
    return out


def client_error_markdown(err: ClientError) -> list[str]:
    """The Markdown block: the verdict, then a table of each clock's error."""
    mark = "✅" if err.fine else "⚠️"
    out = [f"**{_heading(err)}**", "", f"{mark} {err.verdict}", ""]
    out.append("| clock | " + " | ".join(_COLUMNS) + " |")
    out.append("|---|" + "---:|" * len(_COLUMNS))
    for clock, label in CLOCKS.items():
        if err.samples.get(clock):
            cells = " | ".join(_cell(err, clock, c) for c in _COLUMNS)
            out.append(f"| {label} | {cells} |")
    out.append("")
    waves = _waves(err)
    out.append(_self_check(err) + ("" if waves is None else f"; {waves}"))
    return out
