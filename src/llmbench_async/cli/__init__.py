"""The command line: sub-commands, `--version`, "did you mean", one-line errors, exit codes.

cli/options.py   every option, in its help panel (cli/layout.py: the panels and help layout)
cli/flags.py     the flags as plain data, and flags → RunConfig (no typer)
cli/run.py       `run` (the default command): flags → RunConfig → run → publish → exit
cli/pipeline.py  the run's path, start to exit code
cli/results.py   `report` and `compare`: saved runs re-rendered, judged, compared
cli/mock.py      `mock-server`: the built-in mock, served until Ctrl-C
cli/calibrate.py `calibrate`: the client's own error on each clock, against the mock

The top wing: it may import every wing below it (report, session, loadgen, watch, results,
wire), the ground and the mock; nothing of the package imports it.
"""

from __future__ import annotations

import sys
from typing import Any

from .._version import VERSION
from ..errors import ConfigError, ExitCode, LlmbenchError, error
from ..wire.httpx_compat import skip_httpx_command_line

SUBCOMMANDS = ("run", "report", "compare", "mock-server", "calibrate")
_VERSION_FLAGS = ("--version", "-V")


def _command(name: str) -> Any:
    """The click command for one sub-command, built alone: only its module is imported, and
    typer parses its flags without a command group in front."""
    import typer
    from typer.main import get_command

    from .layout import PanelCommand
    from .options import EXIT_CODES_HELP

    app = typer.Typer(
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    if name == "run":
        from .run import run_command

        epilog = (
            "Other commands: `llmbench-async report --help`, `llmbench-async compare --help`, "
            "`llmbench-async mock-server --help`, `llmbench-async calibrate --help`; "
            f"`llmbench-async --version`. {EXIT_CODES_HELP}"
        )
        app.command("run", cls=PanelCommand, epilog=epilog)(run_command)
    elif name == "report":
        from .results import REPORT_EPILOG, report_command

        app.command("report", cls=PanelCommand, epilog=REPORT_EPILOG)(report_command)
    elif name == "compare":
        from .results import COMPARE_EPILOG, compare_command

        app.command("compare", epilog=COMPARE_EPILOG)(compare_command)
    elif name == "calibrate":
        from .calibrate import calibrate_command

        app.command("calibrate", cls=PanelCommand, epilog=EXIT_CODES_HELP)(calibrate_command)
    else:
        from .mock import mock_server_command

        app.command("mock-server")(mock_server_command)
    from .metavars import apply_metavars

    command = get_command(app)
    apply_metavars(command)
    return command


def _with_default_command(argv: list[str]) -> list[str]:
    """`llmbench-async [OPTIONS]` means `llmbench-async run [OPTIONS]`; a mistyped
    sub-command is a usage error with a suggestion."""
    if argv and argv[0] in SUBCOMMANDS:
        return argv
    if argv and not argv[0].startswith("-") and ":" not in argv[0]:  # a URL goes to run
        import difflib  # only for a mistyped command

        close = difflib.get_close_matches(argv[0], SUBCOMMANDS, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"commands: {', '.join(SUBCOMMANDS)}"
        raise ConfigError(f"no such command '{argv[0]}'; {hint}")
    return ["run", *argv]


def _unknown_option(exc: Any) -> str | None:
    """For an unknown option that is another tool's flag: its line naming ours."""
    from .habits import foreign_hint

    if type(exc).__name__ != "NoSuchOption":  # typer's vendored click or click itself
        return None
    return foreign_hint(str(getattr(exc, "option_name", "")))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every failure into one line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 1 and args[0] in _VERSION_FLAGS:
        sys.stdout.write(f"llmbench-async {VERSION}\n")
        return ExitCode.OK
    skip_httpx_command_line()
    import typer

    try:
        name, *rest = _with_default_command(args)
        command = _command(name)
        if name == "run":
            from .habits import apply_habits
            from .layout import fill_optional_values

            rest = fill_optional_values(apply_habits(rest, command.params), command.params)
        result = command.main(args=rest, prog_name=f"llmbench-async {name}", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        error("interrupted")
        return ExitCode.SIGINT
    except LlmbenchError as exc:
        error(str(exc))
        return exc.exit_code
    except typer.TyperException as exc:
        # usage errors (exit code 2) and the like, squeezed to one line
        error(_unknown_option(exc) or " ".join(exc.format_message().split()))
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    return result if isinstance(result, int) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
