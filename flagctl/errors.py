"""Expected failures and the exit codes they map to (the one boundary is app.main)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # an expected failure: one line on stderr
    USAGE = 2  # the command line is wrong or incomplete (click uses 2 as well)
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class CliError(Exception):
    """An expected failure: shown as one line on stderr, exit status 1."""

    exit_code = ExitCode.ERROR


class UsageError(CliError):
    """The command cannot run as given (for example a confirmation nobody can answer)."""

    exit_code = ExitCode.USAGE


class Unreachable(CliError):
    """No HTTP answer at all: refused, timed out, DNS."""


class Rejected(CliError):
    """flagd answered with an error status; `status` and `code` are the server's."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def describe_usage_error(exc: Exception, command_path: str) -> str:
    """Click's usage error as one line with a pointer to the help, e.g. `missing argument
    'KEY' (see 'flagctl create --help')`, instead of its usage block and `Error:` line.
    `command_path` is the fallback for the errors click raises without a context."""
    text = " ".join(str(getattr(exc, "format_message", exc.__str__)()).split()).rstrip(".")
    if text[:2].istitle():  # "Missing argument" → "missing argument"; not "KEY"
        text = text[0].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    return f"{text} (see '{command_path if ctx is None else ctx.command_path} --help')"
