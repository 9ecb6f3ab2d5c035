"""The command line: flags → `RunConfig`, sub-commands, one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import typer

from .cli_mock import MockServerError, mock_server_command
from .cli_results import (
    COMPARE_EPILOG,
    REPORT_EPILOG,
    FailIfOption,
    JsonOption,
    JunitOption,
    compare_command,
    report_command,
)
from .cli_workloads import (
    BatchOption,
    BurstinessOption,
    DatasetFormatOption,
    DatasetOption,
    GoodputOption,
    MaxInputOption,
    MaxOutputOption,
    MinInputOption,
    MinOutputOption,
    PrefixGroupsOption,
    PrefixTokensOption,
    ReplayHistoryOption,
    ThinkTimeOption,
    TurnsOption,
    workload_fields,
)
from .config import (
    APIS,
    DEFAULT_API_KEY,
    DEFAULT_BASE_URL,
    DEFAULT_PROMPT,
    ConfigError,
    RetryPolicy,
    RunConfig,
    Timeouts,
    env_or,
    normalize_base_url,
    parse_duration,
    parse_header,
    parse_levels,
    parse_warmup,
)
from .publish import (
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_TARGET,
    EXIT_THRESHOLD,
    EXIT_USAGE,
    Failure,
    Outputs,
    append_step_summary,
    error,
    is_terminal,
    parse_fail_if,
    publish,
    run_info,
    threshold_exit,
    write_text,
)

if TYPE_CHECKING:
    from .gate import Threshold
    from .report import RunInfo
    from .sweep import Level

SUBCOMMANDS = ("run", "report", "compare", "mock-server")
EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 a --fail-if threshold failed, 2 bad usage, 3 target unusable, "
    "130 SIGINT, 143 SIGTERM."
)

app = typer.Typer(
    name="llmbench-async",
    help="A fast, honest load tester for OpenAI-compatible LLM endpoints.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command(
    "run",
    epilog="Other commands: `llmbench-async report --help`, `llmbench-async compare --help`, "
    f"`llmbench-async mock-server --help`. {EXIT_CODES_HELP}",
)
def run_command(
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Endpoint base URL, with or without /v1. "
            f"Default: $OPENAI_BASE_URL, else {DEFAULT_BASE_URL}.",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="API key sent as a Bearer token. Default: $OPENAI_API_KEY, else sk-xxx. "
            "Never printed or saved.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model id. Default: the first id from GET /v1/models."),
    ] = None,
    api_key_file: Annotated[
        Path | None,
        typer.Option("--api-key-file", help="Read the API key from this file (first line)."),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            "-n",
            help="Requests to send (per sweep level). Default 10, or no limit with --duration.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        str,
        typer.Option(
            "--concurrency",
            "-c",
            help="Requests in flight at once (closed loop). A list like 1,4,16 runs a sweep.",
        ),
    ] = "1",
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            help="Open loop: arrivals per second (requests/s) whatever the server "
            "does. A list like 1,2,4 runs a sweep.",
            show_default=False,
        ),
    ] = None,
    arrival: Annotated[
        str,
        typer.Option(
            "--arrival", help="Open-loop arrivals: poisson, constant or gamma (see --burstiness)."
        ),
    ] = "poisson",
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed for Poisson arrivals, prompt sampling and synthetic prompts.",
            show_default=False,
        ),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option(
            "--max-concurrency",
            help="Open loop: cap on requests in flight; arrivals "
            "beyond it wait (and the wait shows as queue delay). Default: no cap.",
            show_default=False,
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            help="Keep sending for this long (e.g. 60s, 2m) instead of --n requests.",
            show_default=False,
        ),
    ] = None,
    warmup: Annotated[
        str | None,
        typer.Option(
            "--warmup",
            help="Warm-up first: a duration (10s) or a request count "
            "(20). Kept in -o, marked, left out of the statistics.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            help="Processes sharing the load, each with its own event "
            "loop: a number or 'auto' (one per CPU).",
        ),
    ] = "1",
    latency_from: Annotated[
        str,
        typer.Option(
            "--latency-from",
            help="Where TTFT and E2E start: send (the request went "
            "out) or schedule (it was due: includes queue delay).",
        ),
    ] = "send",
    prompt: Annotated[
        str, typer.Option("--prompt", "-p", help="Prompt text sent in every request.")
    ] = DEFAULT_PROMPT,
    prompt_file: Annotated[
        Path | None,
        typer.Option(
            "--prompt-file",
            help="Prompts: .txt (one per line) or .jsonl "
            '({"prompt": ...} or {"messages": [...]}, optional max_tokens), cycled.',
        ),
    ] = None,
    sample_prompts: Annotated[
        bool,
        typer.Option(
            "--sample-prompts",
            help="Draw prompts at random (--seed) instead of cycling through them.",
        ),
    ] = False,
    input_tokens: Annotated[
        str | None,
        typer.Option(
            "--input-tokens",
            help="Synthetic prompts of about N tokens, or MEAN:STDEV "
            "(e.g. 512:64), one word ≈ one token.",
            show_default=False,
        ),
    ] = None,
    max_tokens: Annotated[
        int,
        typer.Option(
            "--max-tokens", "--output-tokens", help="max_tokens asked of the server (tokens)."
        ),
    ] = 128,
    ignore_eos: Annotated[
        bool,
        typer.Option(
            "--ignore-eos", help="Send vLLM's ignore_eos so every output runs to max_tokens."
        ),
    ] = False,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="Extra HTTP header 'Name: value' (repeatable). "
            "Values of secret-looking names are never printed.",
            show_default=False,
        ),
    ] = None,
    extra_body: Annotated[
        str | None,
        typer.Option(
            "--extra-body",
            help="JSON object merged into every request body (e.g. '{\"temperature\": 0}').",
            show_default=False,
        ),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Stream responses (SSE).")
    ] = True,
    api: Annotated[
        str,
        typer.Option(
            "--api",
            help="API to call: chat (/chat/completions), completions (/completions), "
            "responses (/responses), messages (Anthropic /messages) or embeddings (/embeddings).",
        ),
    ] = "chat",
    timeout: Annotated[
        float, typer.Option("--timeout", help="Total deadline per request attempt (seconds).")
    ] = 300.0,
    connect_timeout: Annotated[
        float, typer.Option("--connect-timeout", help="TCP + TLS connect timeout (seconds).")
    ] = 10.0,
    read_timeout: Annotated[
        float,
        typer.Option("--read-timeout", help="Longest silence between received chunks (seconds)."),
    ] = 60.0,
    retries: Annotated[
        int, typer.Option("--retries", help="Extra attempts on retryable failures.")
    ] = 3,
    max_backoff: Annotated[
        float,
        typer.Option("--max-backoff", help="Cap on any wait between attempts (seconds)."),
    ] = 30.0,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Do not verify TLS certificates.")
    ] = False,
    ca_bundle: Annotated[
        Path | None, typer.Option("--ca-bundle", help="CA certificates file (PEM) to verify TLS.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write one JSON line per request to this file."),
    ] = None,
    json_path: JsonOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print no report and no progress bar.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option("--grace", help="On Ctrl-C, time in-flight requests may finish (seconds)."),
    ] = 2.0,
    mock: Annotated[
        bool,
        typer.Option(
            "--mock",
            help="Benchmark the built-in mock server (started in its own process on a free "
            "loopback port; TTFT 200 ms, ITL 10 ms, 64 tokens).",
        ),
    ] = False,
    fail_if: FailIfOption = None,
    junit: JunitOption = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help="Write a Markdown summary (key metrics, thresholds). It is also appended to "
            "$GITHUB_STEP_SUMMARY when that is set.",
        ),
    ] = None,
    stop_on_fail: Annotated[
        bool,
        typer.Option(
            "--stop-on-fail",
            help="Sweeps: stop at the first level that breaks a --fail-if threshold.",
        ),
    ] = False,
    # --- workloads branch: datasets, multi-turn, shared prefixes, arrivals, goodput ---
    burstiness: BurstinessOption = 1.0,
    batch: BatchOption = 1,
    turns: TurnsOption = None,
    think_time: ThinkTimeOption = None,
    replay_history: ReplayHistoryOption = False,
    dataset: DatasetOption = None,
    dataset_format: DatasetFormatOption = None,
    min_input_tokens: MinInputOption = None,
    max_input_tokens: MaxInputOption = None,
    min_output_tokens: MinOutputOption = None,
    max_output_tokens: MaxOutputOption = None,
    prefix_tokens: PrefixTokensOption = 0,
    prefix_groups: PrefixGroupsOption = 1,
    goodput: GoodputOption = None,
) -> None:
    """Run a benchmark (the default command)."""
    from .mock_server import MockConfig, MockProcess

    thresholds = parse_fail_if(fail_if)
    outputs = Outputs(json_path=json_path, markdown_path=markdown, junit_path=junit, quiet=quiet)
    replace(outputs, results_path=output).check_dirs()

    if api not in APIS:
        raise ConfigError(f"--api must be one of {', '.join(APIS)} (got {api!r})")
    if insecure and ca_bundle is not None:
        raise ConfigError("--insecure and --ca-bundle exclude each other")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ConfigError(f"--ca-bundle: cannot read {ca_bundle}")
    if grace < 0:
        raise ConfigError(f"--grace must be 0 or more (got {grace})")
    env = os.environ
    with ExitStack() as stack:
        if mock:
            server = stack.enter_context(MockProcess(MockConfig()))
            url = server.base_url
        else:
            url = base_url or env_or(env, "OPENAI_BASE_URL", DEFAULT_BASE_URL)
        key = _read_key_file(api_key_file) if api_key_file is not None else api_key
        duration_s = parse_duration(duration, "--duration") if duration is not None else None
        warm_n, warm_s = parse_warmup(warmup) if warmup is not None else (0, 0.0)
        levels_c = [int(c) for c in parse_levels(concurrency, "--concurrency", int)]
        levels_r = parse_levels(rate, "--rate", float) if rate is not None else None
        if levels_r is not None and len(levels_c) > 1:
            raise ConfigError("sweep either --concurrency or --rate, not both")
        if arrival not in ("poisson", "constant", "gamma"):
            raise ConfigError(f"--arrival must be poisson, constant or gamma (got {arrival!r})")
        if latency_from not in ("send", "schedule"):
            raise ConfigError(f"--latency-from must be send or schedule (got {latency_from!r})")
        config = RunConfig(
            base_url=normalize_base_url(url),
            api_key=key or env_or(env, "OPENAI_API_KEY", DEFAULT_API_KEY),
            model=model,
            api=api,
            n=n if n is not None or duration_s is not None else 10,
            concurrency=levels_c[0],
            rate=levels_r[0] if levels_r else None,
            arrival=cast(Literal["poisson", "constant", "gamma"], arrival),
            seed=seed,
            max_concurrency=max_concurrency,
            duration_s=duration_s,
            warmup_requests=warm_n,
            warmup_s=warm_s,
            workers=_parse_workers(workers, max(levels_c)),
            latency_from="schedule" if latency_from == "schedule" else "send",
            prompt=prompt,
            prompt_file=_check_readable(prompt_file, "--prompt-file"),
            sample_prompts=sample_prompts,
            input_tokens=_input_tokens(input_tokens),
            ignore_eos=ignore_eos,
            extra_body=_parse_extra_body(extra_body),
            headers=dict(parse_header(h) for h in header or ()),
            max_tokens=max_tokens,
            stream=stream,
            timeouts=Timeouts(total=timeout, connect=connect_timeout, read=read_timeout),
            retry=RetryPolicy(retries=retries, max_backoff=max_backoff),
            verify=False if insecure else (str(ca_bundle) if ca_bundle else True),
            output=output,
            json_path=json_path,
            quiet=quiet,
            grace_s=grace,
            **workload_fields(  # workloads branch
                burstiness=burstiness,
                batch=batch,
                turns=turns,
                think_time=think_time,
                replay_history=replay_history,
                dataset=dataset,
                dataset_format=dataset_format,
                input_range=(min_input_tokens, max_input_tokens),
                output_range=(min_output_tokens, max_output_tokens),
                prefix_tokens=prefix_tokens,
                prefix_groups=prefix_groups,
                goodput=goodput,
            ),
        )
        if len(levels_c) > 1 or (levels_r is not None and len(levels_r) > 1):
            from .sweep import sweep_configs

            configs = sweep_configs(config, concurrency=levels_c, rate=levels_r)
            code = _run_sweep(configs, thresholds, outputs, stop_on_fail=stop_on_fail)
        else:
            code = _run_and_report(config, thresholds, outputs)
    raise typer.Exit(code)


def _run_sweep(
    levels: Sequence[Level],
    thresholds: Sequence[Threshold],
    outputs: Outputs,
    *,
    stop_on_fail: bool,
) -> int:
    """Run each level in turn, judge it, then report the sweep and the capacity under SLO."""
    from .benchmark import TargetError, run
    from .gate import judge
    from .report_sweep import sweep_console, sweep_json, sweep_junit, sweep_markdown
    from .sweep import LevelResult, capacity_under_slo

    progress = not outputs.quiet and is_terminal(sys.stderr) and is_terminal(sys.stdout)
    results: list[LevelResult] = []
    infos: list[RunInfo] = []
    interrupted: str | None = None
    for level in levels:
        try:
            result = run(level.config, progress=progress, handle_signals=True, keep_records=False)
        except TargetError as exc:
            raise Failure(str(exc), EXIT_TARGET) from None
        verdicts = judge(result.summary, thresholds)
        done = LevelResult(
            level, result.summary, verdicts, result.problem, result.outcome.interrupted_by
        )
        results.append(done)
        infos.append(run_info(result))
        if not outputs.quiet:
            s = result.summary
            ttft = s.percentile("ttft_ms", 99)
            verdict = (" · SLO " + ("pass" if done.passed else "FAIL")) if thresholds else ""
            sys.stderr.write(
                f"{level.label}: {s.ok} ok, {s.failed} failed, {s.requests_per_s:.2f} req/s, "
                f"TTFT p99 {'–' if ttft is None else f'{ttft:.1f} ms'}{verdict}\n"
            )
        interrupted = result.outcome.interrupted_by
        if interrupted or (stop_on_fail and thresholds and not done.passed):
            break
    capacity = capacity_under_slo(results) if thresholds else None
    judged = bool(thresholds)
    if not outputs.quiet:
        width = shutil.get_terminal_size((100, 24)).columns
        sys.stdout.write(f"llmbench-async sweep → {infos[0].endpoint}\n")
        sys.stdout.write(f"model {infos[0].model}\n\n")
        sys.stdout.write(sweep_console(results, capacity, judged=judged, width=width))
        sys.stdout.flush()
    if outputs.json_path is not None:
        write_text(outputs.json_path, json.dumps(sweep_json(results, capacity, infos), indent=2))
    markdown = sweep_markdown(results, capacity, judged=judged)
    if outputs.markdown_path is not None:
        write_text(outputs.markdown_path, markdown)
    append_step_summary(markdown)
    if outputs.junit_path is not None:
        write_text(outputs.junit_path, sweep_junit(results))
    if interrupted is not None:
        return EXIT_SIGTERM if interrupted == "SIGTERM" else EXIT_SIGINT
    if all(r.problem is not None for r in results):
        error(results[0].problem or "every level failed")
        return EXIT_TARGET
    if judged and capacity is None:
        error("no level of the sweep meets every --fail-if threshold")
        return EXIT_THRESHOLD
    return EXIT_OK


def _read_key_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--api-key-file: cannot read {path}: {_reason(exc)}") from None
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not key:
        raise ConfigError(f"--api-key-file: {path} is empty")
    return key


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def _check_readable(path: Path | None, flag: str) -> Path | None:
    if path is not None and not path.is_file():
        raise ConfigError(f"{flag}: cannot read {path}: no such file")
    return path


def _input_tokens(spec: str | None) -> tuple[int, int] | None:
    from .workload import parse_input_tokens

    if spec is None:
        return None
    synthetic = parse_input_tokens(spec)
    return synthetic.mean, synthetic.stdev


def _parse_extra_body(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--extra-body is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise ConfigError("--extra-body must be a JSON object")
    return body


def _parse_workers(text: str, concurrency: int) -> int:
    from .workers import auto_workers

    if text.strip().lower() == "auto":
        return auto_workers(concurrency)
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--workers must be a number or auto (got {text!r})") from None
    if value < 1:
        raise ConfigError(f"--workers must be at least 1 (got {value})")
    return value


def _run_and_report(config: RunConfig, thresholds: Sequence[Threshold], outputs: Outputs) -> int:
    from .benchmark import TargetError, run

    progress = not config.quiet and is_terminal(sys.stderr) and is_terminal(sys.stdout)
    try:
        result = run(config, progress=progress, handle_signals=True)
    except TargetError as exc:
        raise Failure(str(exc), EXIT_TARGET) from None
    verdicts = publish(result.summary, run_info(result), thresholds, outputs)
    # a signal or an unusable target outranks a failed threshold (whose table is shown anyway)
    if result.outcome.interrupted_by == "SIGTERM":
        return EXIT_SIGTERM
    if result.outcome.interrupted_by == "SIGINT":
        return EXIT_SIGINT
    if result.problem is not None:
        error(result.problem)
        return EXIT_TARGET
    return threshold_exit(verdicts)


app.command("report", epilog=REPORT_EPILOG)(report_command)
app.command("compare", epilog=COMPARE_EPILOG)(compare_command)
app.command("mock-server")(mock_server_command)


def _with_default_command(argv: list[str]) -> list[str]:
    """`llmbench-async [OPTIONS]` means `llmbench-async run [OPTIONS]`."""
    if argv and argv[0] in SUBCOMMANDS:
        return argv
    return ["run", *argv]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every failure into one line and an exit code."""
    args = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="llmbench-async", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        error("interrupted")
        return EXIT_SIGINT
    except ConfigError as exc:
        error(str(exc))
        return EXIT_USAGE
    except Failure as exc:
        error(str(exc))
        return exc.code
    except MockServerError as exc:
        error(str(exc))
        return 1
    except typer.TyperException as exc:
        # usage errors (exit code 2) and the like, squeezed to one line
        error(" ".join(exc.format_message().split()))
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
