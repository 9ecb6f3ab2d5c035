"""Habits from other load testers, through the command line as users type them: the target
URL as an argument, other tools' flags named with ours, a bare number for a share in
--fail-if refused, value names in --help, the first run of a CI comparison."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_cli

from llmbench_async.cli.habits import FOREIGN_FLAGS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "coming-from.md"


def _one_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("llmbench-async: error: "), stderr
    return lines[0].removeprefix("llmbench-async: error: ")


def _summary(*args: str) -> dict[str, object]:
    res = run_cli(*args, "-n", "2", "-q", "--json", "-")
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["requests"]["ok"] == 2
    return dict(doc)


@pytest.mark.parametrize(
    ("path", "endpoint", "api"),
    [
        ("", "/v1/chat/completions", "chat"),
        ("/v1", "/v1/chat/completions", "chat"),
        ("/v1/", "/v1/chat/completions", "chat"),
        ("/v1/chat/completions", "/v1/chat/completions", "chat"),
        ("/v1/completions", "/v1/completions", "completions"),
        ("/v1/responses", "/v1/responses", "responses"),
        ("/v1/messages", "/v1/messages", "messages"),
        ("/v1/embeddings", "/v1/embeddings", "embeddings"),
    ],
)
def test_url_as_first_argument(instant_mock_url: str, path: str, endpoint: str, api: str) -> None:
    origin = instant_mock_url.removesuffix("/v1")
    doc = _summary(origin + path)
    target = doc["target"]
    assert isinstance(target, dict) and target["endpoint"] == origin + endpoint
    config = doc["config"]
    assert isinstance(config, dict) and config["api"] == api


def test_url_after_the_flags_as_oha_and_hey_take_it(instant_mock_url: str) -> None:
    res = run_cli("-c", "2", "-n", "2", "-q", "--json", "-", instant_mock_url)
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["requests"]["ok"] == 2


def test_url_with_an_api_path_not_under_v1_is_the_endpoint(instant_mock_url: str) -> None:
    """An Azure-style path: the URL is the endpoint as given (path and query kept)."""
    origin = instant_mock_url.removesuffix("/v1")
    url = origin + "/v1/chat/completions?api-version=1"
    doc = _summary(url, "-m", "mock-model")
    target = doc["target"]
    assert isinstance(target, dict) and target["endpoint"].startswith(
        origin + "/v1/chat/completions"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("http://127.0.0.1:9/v1", "http://127.0.0.1:8/v1"), "one target URL, please (got 2"),
        (
            ("http://127.0.0.1:9/v1", "--base-url", "http://127.0.0.1:9/v1"),
            "the target URL http://127.0.0.1:9/v1 and --base-url both name the target",
        ),
        (
            ("http://127.0.0.1:9/v1/messages", "--api", "chat"),
            "the target URL's path names --api messages",
        ),
        (("http://u:sekrit@127.0.0.1:9/v1", "--mock"), "the target URL http://127.0.0.1:9/v1 and"),
    ],
)
def test_url_argument_conflicts(args: tuple[str, ...], message: str) -> None:
    res = run_cli(*args, "-q")
    assert res.code == 2, res.stderr
    assert _one_error(res.stderr).startswith(message)
    assert "sekrit" not in res.stderr


@pytest.mark.parametrize("where", ["first", "last"])
def test_host_and_port_without_a_scheme_get_a_hint(where: str) -> None:
    args = (
        ("localhost:8000/v1", "-n", "1") if where == "first" else ("-n", "1", "localhost:8000/v1")
    )
    res = run_cli(*args)
    assert res.code == 2
    assert _one_error(res.stderr) == (
        "a target URL needs its scheme: http://localhost:8000/v1 or https://localhost:8000/v1"
    )


def test_a_word_that_is_no_url_is_still_no_command() -> None:
    res = run_cli("rn", "-n", "1")
    assert res.code == 2 and _one_error(res.stderr) == "no such command 'rn'; did you mean 'run'?"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--num-prompts", "5"), "--num-prompts is vLLM's flag; here use -n N"),
        (("--save-result",), "--save-result is vLLM's flag; here use --json FILE"),
        (("-z", "2m"), "-z is oha/hey's flag; here use --duration DURATION"),
        (("-z2m",), "-z is oha/hey's flag; here use --duration DURATION"),
        (("--request-rate", "4"), "--request-rate is vLLM's flag; here use --rate RATE"),
        (("--request-rate=inf",), "--request-rate is vLLM's flag; here use --rate RATE"),
        (("--ready-check-timeout-sec", "60"), "--ready-check-timeout-sec is vLLM's flag; here "
         "use --ready-timeout DURATION"),
        (("--dataset-name", "random"), "--dataset-name is vLLM's flag; here use --input-tokens"),
        (("--random-input-len", "512"), "--random-input-len is vLLM's flag; here use "
         "--input-tokens N"),
        (("--random-output-len", "128"), "--random-output-len is vLLM's flag; here use "
         "--max-tokens N"),
        (("--result-dir", "out"), "--result-dir is vLLM's flag; here use --json"),
        (("--vus", "10"), "--vus is k6's flag; here use -c N"),
        (("--iterations", "10"), "--iterations is k6's flag; here use -n N"),
        (("-rate", "50/1s"), "-rate is vegeta's flag; here use --rate RATE (per second: "
         "vegeta's 50/1s is --rate 50)"),
        (("-duration", "30s"), "-duration is vegeta's flag; here use --duration DURATION"),
        (("-workers", "8"), "-workers is vegeta's flag; here use --max-concurrency N (with "
         "--rate) (our --workers is OS processes)"),
        (("--target", "http://x"), "--target is guidellm's flag; here use --base-url URL"),
        (("--rate-type", "sweep"), "--rate-type is guidellm's flag; here use -c N"),
        (("--max-seconds", "30"), "--max-seconds is guidellm's flag; here use --duration"),
        (("--max-requests", "30"), "--max-requests caps a --trace replay; for guidellm's "
         "--max-requests (the request count) use -n N"),
        (("--data", "prompt_tokens=256"), "--data is guidellm's flag; here use --input-tokens"),
        (("-t", "5"), "-t is oha/hey's flag; here use --timeout DURATION"),
        (("-d", "{}"), "-d is oha/hey (body), k6 (duration)'s flag"),
        (("-q", "10"), "-q is --quiet here; for oha/hey's -q (requests per second) use --rate"),
        (("-m", "POST"), "-m is --model here; oha/hey's -m is the HTTP method (POST)"),
        (("-h2",), "-h2 is hey's flag; here use --http2"),
    ],
)  # fmt: skip
def test_other_tools_flags_name_ours(args: tuple[str, ...], message: str) -> None:
    res = run_cli("--base-url", "http://127.0.0.1:9/v1", *args)
    assert res.code == 2, res.stderr
    assert _one_error(res.stderr).startswith(message)


def test_our_flags_with_those_letters_keep_their_meaning(instant_mock_url: str) -> None:
    """-q with no number after it, -m with a model name: ours, not the other tools'."""
    res = run_cli(instant_mock_url, "-m", "mock-model", "-q", "-n", "1")
    assert res.code == 0 and res.stdout == "", res.stderr
    res = run_cli(instant_mock_url, "--prompt", "--num-prompts", "-n", "1", "-q")
    assert res.code == 0, res.stderr  # an option's value is never taken for a flag


def test_max_concurrency_without_rate_explains_vllm() -> None:
    res = run_cli("--base-url", "http://127.0.0.1:9/v1", "-m", "m", "--max-concurrency", "8")
    assert res.code == 2
    assert "what vLLM's --max-concurrency does without a rate) use -c N" in _one_error(res.stderr)


def test_unknown_flags_not_in_the_table_keep_the_suggestion() -> None:
    res = run_cli("--base-url", "http://127.0.0.1:9/v1", "--promt", "x")
    assert res.code == 2
    assert _one_error(res.stderr).startswith("No such option: --promt")


def test_the_table_is_printed_in_the_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for entry in FOREIGN_FLAGS:
        assert f"`{entry.flag}`" in text, entry.flag
    assert len({e.flag for e in FOREIGN_FLAGS}) == len(FOREIGN_FLAGS)


@pytest.mark.parametrize(
    ("expr", "hint"),
    [
        ("error_rate<0.01", "error_rate is a share: a bare number is ambiguous; write 1% for "
         "a share (k6's 0.01 is 1%, else 0.01%)"),
        ("error_rate<=5", "error_rate is a share: a bare number is ambiguous; write 1% for a "
         "share (5%)"),
        ("retry_rate<0.5", "retry_rate is a share"),
        ("good_fraction>=0.9", "good_fraction is a share"),
    ],
)  # fmt: skip
def test_bare_number_for_a_share_is_refused(expr: str, hint: str) -> None:
    res = run_cli("--base-url", "http://127.0.0.1:9/v1", "-m", "m", "--fail-if", expr)
    assert res.code == 2
    assert _one_error(res.stderr) == f"--fail-if {expr!r}: {hint}" or hint in res.stderr


def test_shares_with_percent_and_zero_work(instant_mock_url: str) -> None:
    res = run_cli(
        instant_mock_url, "-n", "2", "-q", "--fail-if", "error_rate<1%",
        "--fail-if", "error_rate<=0", "--fail-if", "retry_rate<=0.5%",
    )  # fmt: skip
    assert res.code == 0, res.stderr
    res = run_cli(instant_mock_url, "-n", "2", "-q", "--fail-if", "error_rate>0.5%")
    assert res.code == 1, res.stderr  # no request failed: 0 % is not above 0.5 %


def test_help_names_values_and_units() -> None:
    res = run_cli("--help")
    assert res.code == 0
    assert not re.search(r"<(str|int|float|path)>", res.stdout), res.stdout
    for shown in (
        "--timeout DURATION",
        "--base-url URL",
        "--fail-if EXPR",
        "-H, --header HEADER",
        "--json PATH",
        "--rate RATE",
        "--extra-body JSON",
        "-m, --model NAME",
    ):
        assert shown in res.stdout, shown
    assert "a bare number is seconds" in res.stdout
    first = res.stdout.index("Target:")
    assert first < res.stdout.index("Load:") < res.stdout.index("Outputs:")
    for command in ("report", "compare", "mock-server"):
        res = run_cli(command, "--help")
        assert res.code == 0 and not re.search(r"<(str|int|float|path)>", res.stdout), command


def test_compare_first_run_saves_the_baseline(instant_mock_url: str, tmp_path: Path) -> None:
    summary, baseline = tmp_path / "s.json", tmp_path / "perf" / "baseline.json"
    assert run_cli(instant_mock_url, "-n", "2", "-q", "--json", str(summary)).code == 0
    missing = run_cli("compare", str(baseline), str(summary))
    assert missing.code == 2
    assert "--init-baseline saves NEW as the baseline" in _one_error(missing.stderr)
    first = run_cli("compare", str(baseline), str(summary), "--init-baseline", "--markdown",
                    str(tmp_path / "c.md"))  # fmt: skip
    assert first.code == 0, first.stderr
    assert first.stderr == (
        f"llmbench-async: no baseline at {baseline} yet: saved this run ({summary}) as the "
        "baseline\n"
    )
    assert baseline.read_bytes() == summary.read_bytes()
    assert "no baseline yet" in (tmp_path / "c.md").read_text()
    again = run_cli("compare", str(baseline), str(summary), "--init-baseline", "-q")
    assert again.code == 0 and "no baseline" not in again.stderr, again.stderr
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    bad = run_cli("compare", str(tmp_path / "b2.json"), str(junk), "--init-baseline")
    assert bad.code == 2 and not (tmp_path / "b2.json").exists()
