"""shapes.py: rates that change over time. Each profile integrates to the count it
promises, prints readably, round-trips through its spec, and a bad spec is one line."""

from __future__ import annotations

import re

import pytest


def test_shapes_print_readably_and_round_trip() -> None:
    from llmbench_async.shapes import parse_load_shape

    for spec, text in (
        ("step:10@0s,40@60s,10@2m", "step rate: 10 req/s at 0s, 40 req/s at 60s, 10 req/s at 120s"),
        ("spike:base=10,peak=80,at=30s,for=10s", "spike: 10 req/s, 80 req/s from 30s for 10s"),
        ("sine:mean=20,amp=10,period=1m", "sine: 20 ± 10 req/s, period 60s"),
    ):
        shape = parse_load_shape(spec)
        assert str(shape) == text
        assert parse_load_shape(shape.spec()) == shape
    assert parse_load_shape("spike:base=10,peak=80,at=30s,for=10s").peak_end() == 40
    assert parse_load_shape("step:10@0s,40@60s,10@120s").peak_end() == 120
    assert parse_load_shape("step:10@0s,40@60s").peak_end() is None
    assert parse_load_shape("linear:10@0s,40@60s,40@70s,10@2m").peak_end() == 70


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ramp:1@0s", "--load-shape must be step:"),
        ("step:10", "each point is RATE@TIME"),
        ("step:10@1s", "the first point must be at 0s"),
        ("step:10@0s,5@2s,7@1s", "times must increase"),
        ("step:-3@0s", "a rate must be 0 to"),
        ("step:inf@0s", "a rate must be 0 to"),
        ("step:nan@0s", "a rate must be 0 to"),
        ("linear:1e300@0s", "a rate must be 0 to"),
        ("step:1@0s,1@1e12s", "a time must be 0 s to 7 days"),
        ("step:5@0s,0@1s", "the last rate must be more than 0"),
        ("spike:base=10,peak=5,at=1s,for=1s", "peak must be more than base"),
        ("spike:base=10,peak=50,at=1s", "needs for="),
        ("spike:base=10,peak=50,at=1s,for=0s", "--load-shape for must be"),
        ("sine:mean=10,amp=20,period=1s", "amp at most mean"),
        ("sine:mean=10,amp=2,period=1s,x=3", "takes mean=, amp=, period="),
    ],
)
def test_bad_shapes_are_one_line_config_errors(spec: str, message: str) -> None:
    from llmbench_async.errors import ConfigError
    from llmbench_async.shapes import parse_load_shape

    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        parse_load_shape(spec)
    assert "\n" not in str(caught.value)
