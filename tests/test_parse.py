"""The flag-string parsers (cli/parse.py): each value as typed, and each mistake as one
line naming the flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench_async.cli.parse import (
    auto_workers,
    is_loopback,
    parse_extra_body,
    parse_fail_if,
    parse_input_range,
    parse_levels,
    parse_lost_after,
    parse_min_achieved,
    parse_warmup,
    parse_workers,
    read_key_file,
)
from llmbench_async.errors import ConfigError


def test_warmup_is_a_count_or_a_time_never_a_bare_fraction() -> None:
    assert parse_warmup("20") == (20, 0.0)
    assert parse_warmup("10s") == (0, 10.0)
    assert parse_warmup("500ms") == (0, 0.5)
    with pytest.raises(ConfigError, match="a bare number is a request count"):
        parse_warmup("2.5")


def test_levels_are_positive_finite_and_a_vegeta_rate_gets_a_hint() -> None:
    assert parse_levels("1,4,16", "--concurrency", int) == [1, 4, 16]
    assert parse_levels(" 2.5 ", "--rate", float) == [2.5]
    for bad in ("0", "-1", "inf", "nan"):
        with pytest.raises(ConfigError, match="finite and more than 0"):
            parse_levels(bad, "--rate", float)
    with pytest.raises(ConfigError, match="vegeta's 50/1s is --rate 50"):
        parse_levels("50/1s", "--rate", float)


def test_fail_if_errors_name_the_flag_and_the_expression() -> None:
    assert len(parse_fail_if(["ttft.p95<800ms", "error_rate<1%"])) == 2
    assert parse_fail_if(None) == ()
    with pytest.raises(ConfigError, match=r"^--fail-if 'bogus\.p95<1s'"):
        parse_fail_if(["bogus.p95<1s"])


def test_lost_after_is_a_count_or_off() -> None:
    assert parse_lost_after("10") == 10
    assert [parse_lost_after(t) for t in ("off", "0", "never", "NONE")] == [0, 0, 0, 0]
    with pytest.raises(ConfigError, match="--lost-after must be a count"):
        parse_lost_after("-3")


def test_min_achieved_takes_a_percent_a_share_or_a_bare_percent() -> None:
    assert parse_min_achieved("90%") == pytest.approx(0.9)
    assert parse_min_achieved("90") == pytest.approx(0.9)
    assert parse_min_achieved("0.9") == pytest.approx(0.9)
    for bad in ("150%", "-1", "lots", "nan"):
        with pytest.raises(ConfigError, match="--min-achieved must be a percentage"):
            parse_min_achieved(bad)


def test_extra_body_is_one_json_object() -> None:
    assert parse_extra_body(None) == {}
    assert parse_extra_body('{"top_p": 0.5}') == {"top_p": 0.5}
    with pytest.raises(ConfigError, match="must be a JSON object"):
        parse_extra_body("[1]")
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_extra_body('{"a": NaN}')


def test_input_range_and_workers() -> None:
    assert parse_input_range(None) is None
    assert parse_input_range("512:64") == (512, 64)
    assert parse_workers("3", 8, loopback=False) == 3
    assert parse_workers("auto", 1, loopback=True) == 1
    with pytest.raises(ConfigError, match="--workers must be a number or auto"):
        parse_workers("many", 8, loopback=False)


def test_key_file_is_one_line_and_never_shown(tmp_path: Path) -> None:
    good = tmp_path / "key"
    good.write_text("sk-secret-0001\n")
    assert read_key_file(good) == "sk-secret-0001"
    two = tmp_path / "two"
    two.write_text("sk-secret-0002\nX-Injected: 1\n")
    with pytest.raises(ConfigError, match="more than one line") as caught:
        read_key_file(two)
    assert "sk-secret-0002" not in str(caught.value)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        read_key_file(empty)


def test_auto_workers_leaves_a_core_for_a_server_on_this_host() -> None:
    assert auto_workers(512, loopback=True, cpus=2) == 1
    assert auto_workers(512, loopback=False, cpus=2) == 2
    assert auto_workers(512, loopback=True, cpus=8) == 7
    assert auto_workers(3, loopback=False, cpus=8) == 3
    assert auto_workers(512, loopback=True, cpus=1) == 1
    for url in ("http://127.0.0.1:8000/v1", "http://localhost/v1", "http://[::1]:9/v1"):
        assert is_loopback(url)
    for url in ("https://api.openai.com/v1", "http://10.0.0.5:8000/v1"):
        assert not is_loopback(url)
