"""The command line: flags → `RunConfig`, sub-commands, one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
)

EXIT_OK = 0
EXIT_THRESHOLD = 1
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

if TYPE_CHECKING:
    from .benchmark import RunResult
    from .report import RunInfo

SUBCOMMANDS = ("run", "mock-server")

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
    epilog="Other commands: `llmbench-async mock-server --help`. "
    "Exit codes: 0 ok, 2 bad usage, 3 target unusable, 130 SIGINT, 143 SIGTERM.",
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
    n: Annotated[int, typer.Option("--n", "-n", help="Number of requests to send.")] = 10,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Requests in flight at once.")
    ] = 1,
    prompt: Annotated[
        str, typer.Option("--prompt", "-p", help="Prompt text sent in every request.")
    ] = DEFAULT_PROMPT,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="max_tokens asked of the server (tokens).")
    ] = 128,
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
) -> None:
    """Run a benchmark (the default command)."""
    from .mock_server import MockConfig, MockProcess

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
        config = RunConfig(
            base_url=normalize_base_url(url),
            api_key=api_key or env_or(env, "OPENAI_API_KEY", DEFAULT_API_KEY),
            model=model,
            api="chat" if api == "chat" else "completions",
            n=n,
            concurrency=concurrency,
            prompt=prompt,
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
        code = _run_and_report(config)
    raise typer.Exit(code)


def _run_and_report(config: RunConfig) -> int:
    from .benchmark import TargetError, run
    from .report import console_report, summary_json

    progress = not config.quiet and sys.stderr.isatty()
    try:
        result = run(config, progress=progress, handle_signals=True)
    except TargetError as exc:
        raise Failure(str(exc), EXIT_TARGET) from None
    info = run_info(result)
    if config.json_path is not None:
        _write_text(config.json_path, json.dumps(summary_json(result.summary, info), indent=2))
    if not config.quiet:
        width = shutil.get_terminal_size((100, 24)).columns
        sys.stdout.write(console_report(result.summary, info, width=width))
        sys.stdout.flush()
    if result.outcome.interrupted_by == "SIGTERM":
        return EXIT_SIGTERM
    if result.outcome.interrupted_by == "SIGINT":
        return EXIT_SIGINT
    if result.problem is not None:
        _error(result.problem)
        return EXIT_TARGET
    return EXIT_OK


def run_info(result: RunResult) -> RunInfo:
    """Build the report's RunInfo from a RunResult."""
    from .benchmark import tool_version
    from .report import RunInfo

    cfg = result.config
    mode = "stream" if cfg.stream else "no-stream"
    settings = (
        f"{cfg.n} requests · concurrency {cfg.concurrency} · max_tokens {cfg.max_tokens} · "
        f"{mode} · {cfg.api}"
    )
    if cfg.verify is False:
        settings += " · TLS NOT VERIFIED (--insecure)"
    return RunInfo(
        tool_version=tool_version(),
        endpoint=cfg.endpoint,
        model=result.model,
        settings=settings,
        started_at=result.started_at,
        config=cfg.to_public_dict(),
        client=result.client_stats,
        target_concurrency=cfg.concurrency,
        interrupted_by=result.outcome.interrupted_by,
        cancelled=result.outcome.cancelled,
        problem=result.problem,
    )


app.command("mock-server")(mock_server_command)


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text + "\n", encoding="utf-8")
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
