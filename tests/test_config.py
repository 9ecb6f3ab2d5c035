"""RunConfig (config.py): every rule checked once, one line naming the flag; secrets,
public and wire forms of a config."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from llmbench_async.config import (
    RunConfig,
    Timeouts,
    config_from_wire,
    config_to_wire,
)
from llmbench_async.errors import ConfigError, ExitCode
from llmbench_async.units import check_url, normalize_base_url

BASE = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"api": "rerank"}, "--api must be one of"),
        ({"n": 0}, "--n must be at least 1"),
        ({"concurrency": 0}, "--concurrency must be at least 1"),
        ({"rate": float("nan")}, "--rate"),
        ({"rate": float("inf")}, "--rate"),
        ({"max_tokens": -1}, "--max-tokens"),
        ({"headers": {"X-Bad": "a\r\nInjected: 1"}}, "--header"),
        ({"extra_body": {"model": "other"}}, "--extra-body must not set 'model'"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"timeouts": Timeouts(total=-1.0)}, "--timeout"),
    ],
)
def test_each_bad_value_is_one_line_naming_its_flag(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        RunConfig(base_url=BASE, **fields)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == ExitCode.USAGE


def test_base_urls_are_normalised_and_api_paths_refused() -> None:
    assert normalize_base_url("http://h:8000") == "http://h:8000/v1"
    assert normalize_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    with pytest.raises(ConfigError, match="is the base URL, not an API's path"):
        normalize_base_url("http://h:8000/v1/chat/completions")
    with pytest.raises(ConfigError, match="must start with http"):
        normalize_base_url("ftp://h")


def test_a_url_password_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        check_url("http://user:hunter2-pass@h:80/v1", "--base-url")
    assert "hunter2-pass" not in str(caught.value)


def test_the_secret_set_holds_key_secret_headers_and_url_credentials() -> None:
    config = RunConfig(
        base_url=BASE,
        api_key="sk-secret-0001",
        headers={"X-Api-Token": "tok-secret-0002", "X-Team": "infra"},
        endpoint_url="http://127.0.0.1:9/v1/chat/completions?api_key=q-secret-0003",
        proxy="http://pu:proxy-secret-0004@127.0.0.1:3128",
        proxy_env=False,
    )
    secrets = config.secrets
    for secret in ("sk-secret-0001", "tok-secret-0002", "q-secret-0003", "proxy-secret-0004"):
        assert secret in secrets
    assert "infra" not in secrets
    public = json.dumps(config.to_public_dict())
    for secret in ("sk-secret-0001", "tok-secret-0002", "q-secret-0003", "proxy-secret-0004"):
        assert secret not in public
    assert "infra" in public


def test_the_wire_form_round_trips_for_worker_processes(tmp_path: Path) -> None:
    config = RunConfig(
        base_url=BASE,
        api_key="sk-wire-0001",
        accept_models=("alias",),
        prompt_file=None,
        input_tokens=(256, 16),
        goodput=("ttft<200ms",),
        output=tmp_path / "r.jsonl",
    )
    back = config_from_wire(json.loads(json.dumps(config_to_wire(config))))
    assert back.output is None  # the parent alone writes the results file
    assert back == dataclasses.replace(config, output=None)
    assert (back.api_key, back.accept_models, back.input_tokens, back.goodput) == (
        "sk-wire-0001",
        ("alias",),
        (256, 16),
        ("ttft<200ms",),
    )


def test_load_description_and_endpoint() -> None:
    config = RunConfig(base_url=BASE, concurrency=4, n=20, warmup_requests=2)
    assert config.load_description().startswith("closed loop")
    assert "20 requests" in config.load_description()
    assert "warm-up 2 requests" in config.load_description()
    assert config.endpoint == BASE + "/chat/completions"
    azure = "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=1"
    assert RunConfig(base_url=BASE, endpoint_url=azure, model="m").endpoint == azure
