"""`flags_to_config`: the CLI's flags to a RunConfig, tested without typer."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench_async.cli.flags import Flags, flags_to_config, is_sweep
from llmbench_async.cli.parse import auto_workers
from llmbench_async.config import ConfigError, RunConfig
from llmbench_async.pacing import ClosedLoop, ConstantRate, PoissonRate


def test_defaults_come_from_the_environment() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/x/", "OPENAI_API_KEY": "sk-env-key-123"}
    config = flags_to_config(Flags(), env)
    assert config.base_url == "http://127.0.0.1:9/x/v1"
    assert config.api_key == "sk-env-key-123"
    assert config.n == 10
    assert config.shape == ClosedLoop(1)
    assert config.plan.count == 10 and config.plan.slots == 1


def test_flags_win_over_the_environment() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9", "OPENAI_API_KEY": "sk-env"}
    flags = Flags(base_url="http://127.0.0.1:8/v1", api_key="sk-flag")
    config = flags_to_config(flags, env)
    assert (config.base_url, config.api_key) == ("http://127.0.0.1:8/v1", "sk-flag")


def test_open_loop_duration_and_warmup_make_one_plan() -> None:
    flags = Flags(rate="4", arrival="constant", duration="2m", warmup="10s", max_concurrency=3)
    config = flags_to_config(flags, {})
    plan = config.plan
    assert plan.shape == ConstantRate(4.0)
    assert (plan.count, plan.duration_s, plan.warmup_s) == (None, 120.0, 10.0)
    assert plan.max_in_flight == 3 and plan.slots == 3
    poisson = flags_to_config(Flags(rate="2", seed=7), {})
    assert poisson.shape == PoissonRate(2.0, 7)
    assert poisson.plan.slots is None  # no cap: one task per arrival


def test_parsed_values() -> None:
    flags = Flags(
        header=["X-Trace: abc", "Authorization-Extra: s3cret"],
        extra_body='{"temperature": 0}',
        input_tokens="512:64",
        warmup="20",
        insecure=True,
        timeout=5,
        connect_timeout=1,
        read_timeout=2,
        retries=0,
    )
    config = flags_to_config(flags, {})
    assert config.headers == {"X-Trace": "abc", "Authorization-Extra": "s3cret"}
    assert "s3cret" in config.secrets
    assert config.extra_body == {"temperature": 0}
    assert config.input_tokens == (512, 64)
    assert config.warmup_requests == 20
    assert config.verify is False
    assert (config.timeouts.total, config.timeouts.connect, config.timeouts.read) == (5, 1, 2)
    assert config.retry.retries == 0


def test_api_key_file(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("sk-from-file-0001\r\n")
    assert flags_to_config(Flags(api_key_file=key), {}).api_key == "sk-from-file-0001"
    key.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        flags_to_config(Flags(api_key_file=key), {})


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            Flags(api="rerank"),  # not one of the five APIs
            "--api must be one of chat, completions, responses, messages, embeddings",
        ),
        (Flags(arrival="burst", rate="1"), "--arrival must be one of poisson, constant, gamma"),
        (Flags(latency_from="now"), "--latency-from must be send or schedule"),
        (Flags(workers="many"), "--workers must be a number or auto"),
        (Flags(workers="0"), "--workers must be at least 1"),
        (Flags(grace=-1), "--grace must be 0 or more"),
        (Flags(concurrency="1,4", rate="1,2"), "sweep either --concurrency or --rate"),
        (Flags(concurrency="0"), "--concurrency values must be finite and more than 0"),
        (Flags(extra_body="[1]"), "--extra-body must be a JSON object"),
        (Flags(extra_body="{"), "--extra-body is not valid JSON"),
        (Flags(duration="soon"), "--duration must be a duration"),
        (Flags(header=["no colon"]), "--header must look like"),
        (Flags(insecure=True, ca_bundle=Path("x.pem")), "exclude each other"),
        (Flags(ca_bundle=Path("/nonexistent/ca.pem")), "--ca-bundle: cannot read"),
        (Flags(prompt_file=Path("/nonexistent/p.txt")), "--prompt-file: cannot read"),
        (Flags(base_url="ftp://host"), "--base-url must start with http"),
        (Flags(n=0), "--n must be at least 1"),
    ],
)
def test_every_bad_flag_is_one_config_error(flags: Flags, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        flags_to_config(flags, {})


def test_choices_are_checked_by_the_config_itself() -> None:
    """The rules live in RunConfig: the Python API gets the same errors as the CLI."""
    with pytest.raises(ConfigError, match="--api must be one of chat, completions"):
        RunConfig(api="rerank")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--grace must be 0 or more"):
        RunConfig(grace_s=-0.5)


def test_sweeps() -> None:
    assert not is_sweep(Flags(concurrency="4"))
    assert is_sweep(Flags(concurrency="1,4"))
    assert is_sweep(Flags(rate="1,2"))
    config = flags_to_config(Flags(concurrency="2,8"), {})
    assert config.concurrency == 2  # the first level; the sweep replaces it per level


def test_workers_auto_is_capped_by_the_concurrency() -> None:
    assert flags_to_config(Flags(workers="auto", concurrency="1"), {}).workers == 1


def test_workers_auto_on_a_loopback_target_keeps_a_core_free() -> None:
    local = flags_to_config(
        Flags(base_url="http://127.0.0.1:8000", workers="auto", concurrency="64"), {}
    )
    remote = flags_to_config(
        Flags(base_url="http://10.1.2.3:8000", workers="auto", concurrency="64"), {}
    )
    assert local.workers == auto_workers(64, loopback=True)
    assert remote.workers == auto_workers(64, loopback=False)
