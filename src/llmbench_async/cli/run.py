"""The `run` command. Its parameters are not written here: they are the fields of `Flags`
(each declared once, with its type, default and help, in options.py and
workload_options.py), so `--help`, the Python API and the run cannot disagree. Importing
this module for `--help` loads neither the pipeline nor the network stack."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any

import typer

from .flags import Flags


def run_command(**given: Any) -> None:
    """Run a benchmark (the default command). The target is --base-url, --mock, or a URL
    given as an argument: `llmbench-async http://localhost:8000/v1 -n 10`."""
    flags = Flags(**given)
    from .pipeline import run_flags  # the whole run path: loaded only when a run starts

    raise typer.Exit(run_flags(flags))


def flag_parameters(names: Iterable[str] | None = None) -> list[inspect.Parameter]:
    """Typer parameters for the fields of `Flags` (all, or those `names`, in that order),
    each annotated with the field's declared option and defaulting to its default."""
    hints = typing.get_type_hints(Flags, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(Flags)}
    return [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=fields[name].default,
            annotation=hints[name],
        )
        for name in (fields if names is None else names)
    ]


def give_signature(command: Callable[..., None], params: list[inspect.Parameter]) -> None:
    """Make `command` (taking **kwargs) show typer these parameters."""
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}


give_signature(run_command, flag_parameters())
