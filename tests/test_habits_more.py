"""More habits from vLLM bench serve, guidellm and oha: each is one line naming our flag
(exit 2), through the CLI. vLLM's --endpoint is a path; ours is a URL, and a path given
to it says which --api to use."""

from __future__ import annotations

import pytest
from conftest import run_cli

URL = "http://127.0.0.1:9/v1"  # never contacted: the flags are refused first


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0].removeprefix("llmbench-async: error: ")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--num-warmups", "2"], "--num-warmups is vLLM's flag; here use --warmup N"),
        (["--save-detailed"], "--save-detailed is vLLM's flag; here use -o FILE"),
        (["--sharegpt-output-len", "9"], "is vLLM's flag; here use --max-tokens N"),
        (["--tokenizer", "gpt2"], "--tokenizer is vLLM's flag; here use nothing (no tokenizer"),
        (["--processor", "gpt2"], "--processor is guidellm's flag; here use nothing (no tokenizer"),
        (["--disable-keepalive"], "--disable-keepalive is oha's flag; here use --no-preconnect"),
        (["--latency-correction"], "is oha's flag; here use --latency-from schedule"),
        (["--endpoint", "/v1/completions", "-m", "x"], "use --api completions"),
    ],
)  # fmt: skip
def test_other_tools_flags_name_ours(args: list[str], said: str) -> None:
    res = run_cli("--base-url", URL, *args)
    assert res.code == 2
    assert said in _one_line(res.stderr)


def test_a_unit_on_a_retry_count_names_what_the_metric_counts() -> None:
    res = run_cli("--base-url", URL, "--fail-if", "retries.http_429<1%")
    assert res.code == 2
    line = _one_line(res.stderr)
    assert "does not fit retries.http_429 (a count); write a bare number" in line, line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--rate", "50/1s"], "a rate is per second: vegeta's 50/1s is --rate 50"),
        (["--rate=5/s"], "a rate is per second"),
        (["--warmup", "1.5", "--duration", "5s"], "--warmup: a bare number is a request count"),
        (["--warmup", "-3"], "--warmup: a bare number is a request count"),
    ],
)
def test_rate_and_warmup_grammar_say_what_was_meant(args: list[str], said: str) -> None:
    res = run_cli("--base-url", URL, "-m", "m", *args)
    assert res.code == 2
    assert said in _one_line(res.stderr)


def test_a_whole_warmup_count_and_a_warmup_time_still_work(instant_mock_url: str) -> None:
    for warmup in ("1", "200ms"):
        extra = ["--duration", "1s"] if warmup.endswith("s") else ["-n", "2"]
        res = run_cli("--base-url", instant_mock_url, "--warmup", warmup, "-q", *extra)
        assert res.code == 0, res.stderr


def test_the_model_list_url_as_the_argument_is_its_base_url(instant_mock_url: str) -> None:
    for url in (f"{instant_mock_url}/models", f"{instant_mock_url}/models/"):
        res = run_cli(url, "-n", "1", "-q", "--json", "-")
        assert res.code == 0, res.stderr
        assert f'"endpoint": "{instant_mock_url}/chat/completions"' in res.stdout


@pytest.mark.parametrize("api_path", ["/chat/completions", "/embeddings/", "/responses"])
def test_an_api_path_in_the_base_url_names_the_base(api_path: str) -> None:
    for env, args in (
        ({}, ["--base-url", f"{URL}{api_path}"]),
        ({"OPENAI_BASE_URL": f"{URL}{api_path}"}, []),
    ):
        res = run_cli(*args, "-m", "m", "-n", "1", env=env)
        assert res.code == 2, res.stderr
        line = _one_line(res.stderr)
        assert "is the base URL, not an API's path" in line and f"give {URL} and --api" in line


def test_the_model_list_url_as_base_url_is_its_base(instant_mock_url: str) -> None:
    res = run_cli("--base-url", f"{instant_mock_url}/models", "-n", "1", "-q", "--json", "-")
    assert res.code == 0, res.stderr
    assert f'"endpoint": "{instant_mock_url}/chat/completions"' in res.stdout


def test_k6_and_vegeta_compound_durations_say_their_seconds() -> None:
    for text, said in (("1m30s", "k6's 1m30s is 90s"), ("1h30m", "k6's 1h30m is 5400s")):
        res = run_cli("--base-url", URL, "-m", "m", "--timeout", text)
        assert res.code == 2
        line = _one_line(res.stderr)
        assert line.startswith("--timeout must be a duration like 30s") and said in line, line
