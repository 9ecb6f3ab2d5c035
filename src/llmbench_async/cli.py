"""The command line: flags → `RunConfig`, sub-commands, one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from .cli_mock import MockServerError, mock_server_command
from .config import (
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

EXIT_OK = 0
EXIT_THRESHOLD = 1
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

if TYPE_CHECKING:
    from .benchmark import RunResult
    from .compare import Row
    from .gate import Threshold, Verdict
    from .records import ResultsFile
    from .report import RunInfo
    from .stats import Summary
    from .sweep import Level

SUBCOMMANDS = ("run", "report", "compare", "mock-server")
EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 a --fail-if threshold failed, 2 bad usage, 3 target unusable, "
    "130 SIGINT, 143 SIGTERM."
)
FAIL_IF_HELP = (
    "Exit 1 when the run breaks this threshold (repeatable): METRIC.STAT OP VALUE[UNIT], e.g. "
    "'ttft.p95<800ms', 'e2e.p99<=5s', 'error_rate<1%', 'requests_per_s>=2'. Metrics ttft, "
    "e2e, itl, tpot, queue_delay, output_tokens_per_s; stats mean, min, max, stdev, pNN; "
    "run-level error_rate (%), requests_per_s, output_tokens_per_s (no stat)."
)

app = typer.Typer(
    name="llmbench-async",
    help="A fast, honest load tester for OpenAI-compatible LLM endpoints.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Failure(Exception):
    """A one-line, user-facing failure with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


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
        str, typer.Option("--arrival", help="Open-loop arrivals: poisson or constant.")
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
            "--api", help="API to call: chat (/chat/completions) or completions (/completions)."
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
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the summary JSON to this file.")
    ] = None,
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
    fail_if: Annotated[
        list[str] | None,
        typer.Option("--fail-if", help=FAIL_IF_HELP, show_default=False, metavar="EXPR"),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit", help="Write JUnit XML: one testcase per --fail-if, plus 'no request failed'."
        ),
    ] = None,
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
) -> None:
    """Run a benchmark (the default command)."""
    from .mock_server import MockConfig, MockProcess

    thresholds = _parse_fail_if(fail_if)
    outputs = _Outputs(json_path=json_path, markdown_path=markdown, junit_path=junit, quiet=quiet)
    replace(outputs, results_path=output).check_dirs()

    if api not in ("chat", "completions"):
        raise ConfigError(f"--api must be chat or completions (got {api!r})")
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
        if arrival not in ("poisson", "constant"):
            raise ConfigError(f"--arrival must be poisson or constant (got {arrival!r})")
        if latency_from not in ("send", "schedule"):
            raise ConfigError(f"--latency-from must be send or schedule (got {latency_from!r})")
        config = RunConfig(
            base_url=normalize_base_url(url),
            api_key=key or env_or(env, "OPENAI_API_KEY", DEFAULT_API_KEY),
            model=model,
            api="chat" if api == "chat" else "completions",
            n=n if n is not None or duration_s is not None else 10,
            concurrency=levels_c[0],
            rate=levels_r[0] if levels_r else None,
            arrival="constant" if arrival == "constant" else "poisson",
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
    outputs: _Outputs,
    *,
    stop_on_fail: bool,
) -> int:
    """Run each level in turn, judge it, then report the sweep and the capacity under SLO."""
    from .benchmark import TargetError, run
    from .gate import judge
    from .report_sweep import sweep_console, sweep_json, sweep_junit, sweep_markdown
    from .sweep import LevelResult, capacity_under_slo

    progress = not outputs.quiet and _is_terminal(sys.stderr) and _is_terminal(sys.stdout)
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
        _write_text(outputs.json_path, json.dumps(sweep_json(results, capacity, infos), indent=2))
    markdown = sweep_markdown(results, capacity, judged=judged)
    if outputs.markdown_path is not None:
        _write_text(outputs.markdown_path, markdown)
    _append_step_summary(markdown)
    if outputs.junit_path is not None:
        _write_text(outputs.junit_path, sweep_junit(results))
    if interrupted is not None:
        return EXIT_SIGTERM if interrupted == "SIGTERM" else EXIT_SIGINT
    if all(r.problem is not None for r in results):
        _error(results[0].problem or "every level failed")
        return EXIT_TARGET
    if judged and capacity is None:
        _error("no level of the sweep meets every --fail-if threshold")
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


@dataclass(frozen=True, slots=True)
class _Outputs:
    """Where a report goes besides the console, and whether the console gets it."""

    json_path: Path | None = None
    markdown_path: Path | None = None
    junit_path: Path | None = None
    quiet: bool = False
    results_path: Path | None = None  # `run -o`: written by the run itself

    def check_dirs(self) -> None:
        """Fail before the run, not after it, when an output file cannot be created."""
        for flag, path in (
            ("--output", self.results_path),
            ("--json", self.json_path),
            ("--markdown", self.markdown_path),
            ("--junit", self.junit_path),
        ):
            if path is not None and not path.absolute().parent.is_dir():
                raise ConfigError(f"{flag}: directory {path.absolute().parent} does not exist")


def _run_and_report(config: RunConfig, thresholds: Sequence[Threshold], outputs: _Outputs) -> int:
    from .benchmark import TargetError, run

    progress = not config.quiet and _is_terminal(sys.stderr) and _is_terminal(sys.stdout)
    try:
        result = run(config, progress=progress, handle_signals=True)
    except TargetError as exc:
        raise Failure(str(exc), EXIT_TARGET) from None
    verdicts = _publish(result.summary, run_info(result), thresholds, outputs)
    # a signal or an unusable target outranks a failed threshold (whose table is shown anyway)
    if result.outcome.interrupted_by == "SIGTERM":
        return EXIT_SIGTERM
    if result.outcome.interrupted_by == "SIGINT":
        return EXIT_SIGINT
    if result.problem is not None:
        _error(result.problem)
        return EXIT_TARGET
    return _threshold_exit(verdicts)


def _publish(
    summary: Summary, info: RunInfo, thresholds: Sequence[Threshold], outputs: _Outputs
) -> tuple[Verdict, ...]:
    """Judge the thresholds; print the console report; write JSON, Markdown, JUnit and the
    GitHub step summary."""
    from .gate import judge
    from .report import console_report, junit_xml, markdown_report, summary_json

    verdicts = judge(summary, thresholds)
    if not outputs.quiet:
        width = shutil.get_terminal_size((100, 24)).columns
        text = console_report(
            summary, info, width=width, verdicts=verdicts, color=_use_color(sys.stdout)
        )
        sys.stdout.write(text)
        sys.stdout.flush()
    if outputs.json_path is not None:
        document = summary_json(summary, info, verdicts)
        _write_text(outputs.json_path, json.dumps(document, indent=2))
    markdown = markdown_report(summary, info, verdicts)
    if outputs.markdown_path is not None:
        _write_text(outputs.markdown_path, markdown)
    _append_step_summary(markdown)
    if outputs.junit_path is not None:
        _write_text(outputs.junit_path, junit_xml(summary, info, verdicts))
    return verdicts


def _threshold_exit(verdicts: Sequence[Verdict]) -> int:
    """Exit 1 with one line naming the failed thresholds, else 0."""
    from .report import threshold_tally

    failed = [v for v in verdicts if not v.passed]
    if not failed:
        return EXIT_OK
    details = "; ".join(
        f"{v.threshold} (observed {v.observed_text}, limit {v.threshold.limit_text})"
        for v in failed
    )
    _error(f"{threshold_tally(verdicts)}: {details}")
    return EXIT_THRESHOLD


def _parse_fail_if(texts: Sequence[str] | None) -> tuple[Threshold, ...]:
    from .gate import ThresholdError, parse_thresholds

    try:
        return parse_thresholds(texts or ())
    except ThresholdError as exc:
        raise ConfigError(f"--fail-if {exc.expression!r}: {exc.reason}") from None


def run_info(result: RunResult) -> RunInfo:
    """Build the report's RunInfo from a RunResult."""
    from .benchmark import tool_version
    from .report import RunInfo

    cfg = result.config
    public = cfg.to_public_dict()
    return RunInfo(
        tool_version=tool_version(),
        endpoint=cfg.endpoint,
        model=result.model,
        settings=_settings(public),
        started_at=result.started_at,
        config=public,
        client=result.client_stats,
        target_concurrency=cfg.concurrency,
        interrupted_by=result.outcome.interrupted_by,
        cancelled=result.outcome.cancelled,
        problem=result.problem,
    )


def results_info(results: ResultsFile, path: Path) -> RunInfo:
    """Build the report's RunInfo from a saved results file (header and footer lines)."""
    from .compare import endpoint_of
    from .report import RunInfo

    header = results.header
    cfg: Mapping[str, Any] = header.get("config") or {}
    footer = results.footer
    problem = None
    if footer is None:
        problem = (
            f"{path} has no footer line: the run did not end normally (crash or kill); "
            f"the report covers the {len(results.records)} requests it saved"
        )
    concurrency = cfg.get("concurrency")
    client = footer.get("client") if footer is not None else None
    return RunInfo(
        tool_version=str(header.get("version") or "?"),
        endpoint=endpoint_of(cfg),
        model=str(cfg.get("model") or "?"),
        settings=_settings(cfg),
        started_at=str(header.get("started_at") or ""),
        config=cfg,
        client=client if isinstance(client, dict) else None,
        target_concurrency=concurrency if isinstance(concurrency, int) else None,
        interrupted_by=footer.get("interrupted_by") if footer is not None else None,
        cancelled=int(footer.get("cancelled") or 0) if footer is not None else 0,
        problem=problem,
    )


def _is_summary_json(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "metrics" in doc and "requests" in doc


def _settings(cfg: Mapping[str, Any]) -> str:
    """`10 requests · concurrency 5 · max_tokens 128 · stream · chat` from a public config
    (the same line for a run and for its results file read back by `report`)."""
    mode = "stream" if cfg.get("stream", True) else "no-stream"
    settings = f"{_load_line(cfg)} · max_tokens {cfg.get('max_tokens', '?')} · {mode} · "
    settings += str(cfg.get("api", "chat"))
    if cfg.get("verify") is False:
        settings += " · TLS NOT VERIFIED (--insecure)"
    return settings


_LOAD_FIELDS = (
    "n",
    "concurrency",
    "rate",
    "arrival",
    "seed",
    "max_concurrency",
    "duration_s",
    "warmup_requests",
    "warmup_s",
)


def _load_line(cfg: Mapping[str, Any]) -> str:
    simple = f"{cfg.get('n', '?')} requests · concurrency {cfg.get('concurrency', '?')}"
    if all(not cfg.get(k) for k in ("rate", "duration_s", "warmup_requests", "warmup_s")):
        return simple
    try:  # open loop, duration or warm-up: RunConfig says it best
        load = RunConfig(**{k: cfg[k] for k in _LOAD_FIELDS if k in cfg})
        return load.load_description()
    except (ConfigError, TypeError, ValueError):
        return simple


@app.command(
    "report",
    epilog="Exit codes: 0 ok, 1 a --fail-if threshold failed, 2 bad usage or unreadable file.",
)
def report_command(
    results: Annotated[
        Path,
        typer.Argument(
            help="Per-request results file written by `run -o` (JSON lines).",
            show_default=False,
            metavar="RESULTS",
        ),
    ],
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the summary JSON to this file.")
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help="Write a Markdown summary. It is also appended to $GITHUB_STEP_SUMMARY when set.",
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit", help="Write JUnit XML: one testcase per --fail-if, plus 'no request failed'."
        ),
    ] = None,
    fail_if: Annotated[
        list[str] | None,
        typer.Option("--fail-if", help=FAIL_IF_HELP, show_default=False, metavar="EXPR"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no report.")] = False,
) -> None:
    """Re-render the report of a saved run from its results file (no network)."""
    from .records import read_results
    from .stats import summarize

    thresholds = _parse_fail_if(fail_if)
    outputs = _Outputs(json_path=json_path, markdown_path=markdown, junit_path=junit, quiet=quiet)
    outputs.check_dirs()
    try:
        saved = read_results(results)
    except OSError as exc:
        raise ConfigError(f"cannot read {results}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{results} is not a results file (not text)") from None
    if not saved.header:
        what = "a summary JSON (--json)" if _is_summary_json(results) else "not a results file"
        raise ConfigError(
            f"{results} is {what}; `report` needs the per-request JSONL written by `run -o`"
        )
    latency_from = (saved.header.get("config") or {}).get("latency_from", "send")
    summary = summarize(
        saved.records, latency_from=latency_from if latency_from == "schedule" else "send"
    )
    verdicts = _publish(summary, results_info(saved, results), thresholds, outputs)
    raise typer.Exit(_threshold_exit(verdicts))


@app.command(
    "compare",
    epilog="Exit codes: 0 no regression beyond tolerance, 1 NEW is worse beyond "
    "--max-regression, 2 bad usage or unreadable files.",
)
def compare_command(
    base: Annotated[
        Path,
        typer.Argument(
            help="The reference run: results JSONL (-o) or summary JSON (--json).",
            show_default=False,
            metavar="BASE",
        ),
    ],
    new: Annotated[
        Path,
        typer.Argument(
            help="The run to judge: results JSONL (-o) or summary JSON (--json).",
            show_default=False,
            metavar="NEW",
        ),
    ],
    max_regression: Annotated[
        list[str] | None,
        typer.Option(
            "--max-regression",
            metavar="PERCENT|METRIC.STAT=PERCENT",
            help="Exit 1 when NEW is worse than BASE by more than this: '10%' for every metric, "
            "'ttft.p95=15%' for one (repeatable). For error_rate it is in percentage points.",
            show_default=False,
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help="Write the comparison as Markdown. It is also appended to $GITHUB_STEP_SUMMARY "
            "when set.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no table.")] = False,
) -> None:
    """Compare two runs: key metrics side by side, the change, and regressions."""
    from .compare import compare, load_run, parse_tolerances
    from .report import comparison_markdown, comparison_report

    tolerances = parse_tolerances(max_regression or ())
    _Outputs(markdown_path=markdown).check_dirs()
    comparison = compare(load_run(base), load_run(new), tolerances)
    if not quiet:
        sys.stdout.write(comparison_report(comparison, color=_use_color(sys.stdout)))
        sys.stdout.flush()
    text = comparison_markdown(comparison)
    if markdown is not None:
        _write_text(markdown, text)
    _append_step_summary(text)
    bad = comparison.regressions
    if bad:
        listed = "; ".join(_regression_text(row) for row in bad)
        _error(f"NEW is worse than BASE beyond tolerance: {listed}")
        raise typer.Exit(EXIT_THRESHOLD)
    raise typer.Exit(EXIT_OK)


def _regression_text(row: Row) -> str:
    unit = " pt" if row.change_unit == "pt" else "%"
    if row.new is None:
        return f"{row.ref} has no data in NEW"
    change = "from 0" if row.change is None else f"{row.change:+.1f}{unit}"
    return f"{row.ref} {change} (limit {row.tolerance:g}{unit})"


app.command("mock-server")(mock_server_command)


def _is_terminal(stream: TextIO) -> bool:
    """A terminal that understands cursor movement (not a pipe, a file or TERM=dumb)."""
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _use_color(stream: TextIO) -> bool:
    """ANSI colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return _is_terminal(stream) and not os.environ.get("NO_COLOR")


def _append_step_summary(markdown: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY (GitHub Actions' job summary) when it is set."""
    target = os.environ.get("GITHUB_STEP_SUMMARY", "").strip()
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    except OSError as exc:
        sys.stderr.write(
            f"llmbench-async: warning: cannot append to $GITHUB_STEP_SUMMARY ({target}): "
            f"{exc.strerror or exc}\n"
        )


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc.strerror or exc}", EXIT_USAGE) from None


def _error(message: str) -> None:
    sys.stderr.write(f"llmbench-async: error: {message}\n")
    sys.stderr.flush()


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
        _error("interrupted")
        return EXIT_SIGINT
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except Failure as exc:
        _error(str(exc))
        return exc.code
    except MockServerError as exc:
        _error(str(exc))
        return 1
    except typer.TyperException as exc:
        # usage errors (exit code 2) and the like, squeezed to one line
        _error(" ".join(exc.format_message().split()))
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
