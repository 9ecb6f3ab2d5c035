"""The `run` command. Its parameters are not written here: they are the fields of `Flags`
(each declared once, with its type, default and help, in options.py and
workload_options.py), so `--help`, the Python API and the run cannot disagree. Importing
this module for `--help` loads neither the pipeline nor the network stack."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import typer

from .flags import Flags


def run_command(**given: Any) -> None:
    """Run a benchmark (the default command). The target is --base-url, --mock, or a URL
    given as an argument: `llmbench-async http://localhost:8000/v1 -n 10`."""
    flags = Flags(**given)
    from .pipeline import run_flags  # the whole run path: loaded only when a run starts

    raise typer.Exit(run_flags(flags))


def _signature() -> inspect.Signature:
    """`run_command`'s parameters for typer: one per field of `Flags`, annotated with the
    field's declared option, defaulting to its declared default."""
    hints = typing.get_type_hints(Flags, include_extras=True)
    return inspect.Signature(
        [
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name]
            )
            for f in dataclasses.fields(Flags)
        ]
    )


run_command.__signature__ = _signature()  # type: ignore[attr-defined]
run_command.__annotations__ = {
    name: p.annotation
    for name, p in run_command.__signature__.parameters.items()  # type: ignore[attr-defined]
}
