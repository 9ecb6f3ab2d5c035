"""Each `run` flag's default is stated in the command's signature (what `--help` shows) and
in `Flags` (what the Python API builds): the two copies must name the same flags and make
the same run, and the defaults make the run the README describes."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from llmbench_async.cli.flags import Flags, flags_to_config
from llmbench_async.cli.run import run_command
from llmbench_async.config import RunConfig


def _defaults() -> tuple[dict[str, Any], dict[str, Any]]:
    params = {n: p.default for n, p in inspect.signature(run_command).parameters.items()}
    fields = {
        f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        for f in dataclasses.fields(Flags)
    }
    return params, fields


def test_the_command_and_flags_declare_the_same_flags_and_defaults() -> None:
    params, fields = _defaults()
    assert sorted(params) == sorted(fields)
    for name, value in params.items():
        if type(value) is type(fields[name]):  # a text default may stand for a number
            assert value == fields[name], name
    # whatever their spelling ('300s' or 300.0), both copies make the same run
    assert flags_to_config(Flags(**params), env={}) == flags_to_config(Flags(), env={})


def test_the_default_flags_make_the_default_run() -> None:
    config = flags_to_config(Flags(), env={})
    plain = RunConfig(base_url=config.base_url)
    for name in ("n", "concurrency", "max_tokens", "stream", "api", "prompt", "timeouts", "retry"):
        assert getattr(config, name) == getattr(plain, name), name
    assert config.lost_after == 10 and config.ready_timeout_s is None
