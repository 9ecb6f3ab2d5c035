"""The help layout: the panels options are grouped in, in their order, and `PanelCommand`,
which draws them (typer draws panels only through rich, which costs start-up time, so the
plain help is grouped by each option's `rich_help_panel` here); and the options whose value
may be left out (`--ray` alone means `--ray auto`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typer.core import TyperCommand

TARGET = "Target"
LOAD = "Load"
SCALE = "Scale"
WORKLOAD = "Workload"
LIMITS = "Limits & retries"
OUTPUTS = "Outputs"
OBSERVE = "Observe"
GATE = "CI gate"
# the most used first: what to hit, how hard, what to write, what fails the build
PANELS = (TARGET, LOAD, OUTPUTS, GATE, WORKLOAD, LIMITS, OBSERVE, SCALE)


class PanelCommand(TyperCommand):
    """A command whose plain-text help lists its options panel by panel."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                panel = "Arguments"
            else:
                panel = getattr(param, "rich_help_panel", None) or "Other options"
            groups.setdefault(panel, []).append(record)
        order = ["Arguments", *PANELS]
        for panel in sorted(groups, key=lambda p: order.index(p) if p in order else len(order)):
            with formatter.section(panel):
                formatter.write_dl(groups[panel])


# options whose value may be left out, and what a bare one means (typer has no such option)
OPTIONAL_VALUES = {"--ray": "auto"}


def fill_optional_values(args: list[str], params: Iterable[Any]) -> list[str]:
    """`args` with the value of each bare optional-value option written in: `--ray` last or
    before another option becomes `--ray auto`. The values of options that take one are
    passed over, so `--prompt --ray` keeps its prompt."""
    takes_value = {
        name
        for p in params
        if p.param_type_name == "option" and not p.is_flag and not p.count
        for name in p.opts
    }
    out: list[str] = []
    i = 0
    while i < len(args):
        arg, following = args[i], args[i + 1] if i + 1 < len(args) else None
        out.append(arg)
        i += 1
        if arg == "--":
            break
        if arg in OPTIONAL_VALUES and (following is None or _is_option(following)):
            out.append(OPTIONAL_VALUES[arg])
        elif arg in takes_value and following is not None:
            out.append(following)
            i += 1
    return out + args[i:]


def _is_option(arg: str) -> bool:
    return arg.startswith("-") and arg != "-"
