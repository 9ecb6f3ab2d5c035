"""The exit codes, one table for the command line, the GitHub Action and the Python API."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """What the process exit code (and the Action's `exit-code` output) means."""

    OK = 0  # the run completed and every threshold held; compare found no regression
    THRESHOLD = 1  # a --fail-if threshold failed (a sweep: no level met the SLO), or a regression
    USAGE = 2  # bad usage or unreadable files; compare --strict with differing settings
    TARGET = 3  # the target is unusable (refused, TLS, 401/403, unknown model, all failed)
    SIGINT = 130  # interrupted by Ctrl-C
    SIGTERM = 143  # stopped by SIGTERM
