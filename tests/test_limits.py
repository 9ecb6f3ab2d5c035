"""Every numeric setting is checked in one place (limits.py, run by RunConfig): any value,
NaN, ±inf, huge, negative or zero included, gives a valid RunConfig or a one-line
ConfigError, never another exception."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench_async.cli.flags import Flags, flags_to_config
from llmbench_async.config import RetryPolicy, RunConfig, Timeouts
from llmbench_async.errors import ConfigError
from llmbench_async.limits import LIMITS

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 1, 0.0, -0.0, 1e300, -1e300, 2**63, 10**9, 10**9 + 1]),
)
TEXTS = st.one_of(
    NUMBERS.map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e300", "0", "-5", "10s", "nans", "1,2", "", " "]),
)


def _config_or_error(build: Any) -> RunConfig | None:
    try:
        config = build()
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return None
    assert isinstance(config, RunConfig)
    return config


@settings(max_examples=400, deadline=None)
@given(
    n=NUMBERS,
    concurrency=NUMBERS,
    rate=NUMBERS,
    max_concurrency=NUMBERS,
    duration=NUMBERS,
    warmup=NUMBERS,
    workers=NUMBERS,
    max_tokens=NUMBERS,
    timeouts=st.tuples(NUMBERS, NUMBERS, NUMBERS),
    retry=st.tuples(NUMBERS, NUMBERS),
    grace=NUMBERS,
    tokens=st.tuples(NUMBERS, NUMBERS),
)
def test_run_config_numbers(**v: Any) -> None:
    def build() -> RunConfig:
        return RunConfig(
            n=v["n"],
            concurrency=v["concurrency"],
            rate=v["rate"],
            max_concurrency=v["max_concurrency"],
            duration_s=v["duration"],
            warmup_s=v["warmup"],
            workers=v["workers"],
            max_tokens=v["max_tokens"],
            timeouts=Timeouts(*v["timeouts"]),
            retry=RetryPolicy(retries=v["retry"][0], max_backoff=v["retry"][1]),
            grace_s=v["grace"],
            input_tokens=v["tokens"],
        )

    config = _config_or_error(build)
    if config is not None:
        for limit in LIMITS:
            value: Any = config
            for name in limit.path.split("."):
                value = getattr(value, name)
            assert value is None or (math.isfinite(value) and value <= limit.high)


FLAG_FIELDS = {
    "n": st.one_of(st.none(), st.integers(-(10**20), 10**20)),
    "concurrency": st.one_of(st.none(), TEXTS),
    "rate": st.one_of(st.none(), TEXTS),
    "max_concurrency": st.one_of(st.none(), st.integers(-(10**20), 10**20)),
    "duration": st.one_of(st.none(), TEXTS),
    "warmup": st.one_of(st.none(), TEXTS),
    "workers": TEXTS,
    "input_tokens": st.one_of(st.none(), TEXTS),
    "max_tokens": st.integers(-(10**20), 10**20),
    "timeout": NUMBERS.map(float),
    "connect_timeout": NUMBERS.map(float),
    "read_timeout": NUMBERS.map(float),
    "retries": st.integers(-(10**20), 10**20),
    "max_backoff": NUMBERS.map(float),
    "grace": NUMBERS.map(float),
    "seed": st.one_of(st.none(), st.integers(-(10**20), 10**20)),
    "ramp_up": st.one_of(st.none(), TEXTS),
    "window": TEXTS,
    "scrape_interval": TEXTS,
    "burstiness": NUMBERS.map(float),
    "batch": st.integers(-(10**20), 10**20),
    "turns": st.one_of(st.none(), st.integers(-(10**20), 10**20)),
    "think_time": st.one_of(st.none(), TEXTS),
    "prefix_tokens": st.integers(-(10**20), 10**20),
    "prefix_groups": st.integers(-(10**20), 10**20),
}


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional=FLAG_FIELDS))
def test_flags_to_config_numbers(fields: dict[str, Any]) -> None:
    flags = replace(Flags(base_url="http://127.0.0.1:9", model="m"), **fields)
    _config_or_error(lambda: flags_to_config(flags, {}))


@pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.path)
def test_each_limit_refuses_just_beyond_its_maximum(limit: Any) -> None:
    with pytest.raises(ConfigError, match=limit.flag.split("/")[0]):
        fields: dict[str, Any] = {"rate": 1.0} if limit.path == "max_concurrency" else {}
        config = RunConfig(duration_s=10.0, **fields)
        top, _, sub = limit.path.partition(".")
        value = limit.high * 2 + 1
        if isinstance(getattr(config if not sub else getattr(config, top), sub or top), int):
            value = int(value)
        if sub:
            replace(config, **{top: replace(getattr(config, top), **{sub: value})})
        else:
            replace(config, **{top: value})


@pytest.mark.parametrize("rate", ["1e-320", "1e-300", "1e-7", "4,1e-300"])
def test_a_vanishing_rate_is_refused_before_its_gaps_overflow_the_clock(rate: str) -> None:
    """Through the CLI: a rate whose gaps do not fit the arrival clock (1/1e-320 is
    infinite) is one line, exit 2, not an OverflowError mid-run."""
    res = run_cli("--mock", "-n", "1", "--rate", rate)
    assert res.code == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "--rate must be at least 1e-06" in res.stderr
