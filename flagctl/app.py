"""The Typer application and its one error boundary.

Start-up is kept short: command modules import only Typer at the top; HTTP, Rich, the
evaluation core and the cache are imported inside the commands that use them. When the
command line names a command, only that command's module is loaded and turned into a
click command (the others cost ~20 ms and are not needed); `--help`, completion and
unknown names get the whole application.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import Annotated, Any

import typer

from . import output
from .errors import CliError, ExitCode

HELP = """Manage, watch and evaluate the feature flags of a flagd server.

\b
  flagctl create new-checkout --rollout 10 --enabled
  flagctl list
  flagctl toggle new-checkout
  flagctl watch
  flagctl pull && flagctl eval user-42 --explain

\b
Connection: with a flagd running on this machine, nothing to set up. Otherwise
pass --server, --admin-key, --sdk-key to any command, or set FLAGCTL_SERVER,
FLAGCTL_ADMIN_KEY, FLAGCTL_SDK_KEY, or save them with `flagctl config set`
(named profiles: --profile NAME). Options win over the environment, the
environment over the config file. `flagctl COMMAND --help` for details.
"""

# Command name → the module under flagctl.commands that registers it, in help order.
COMMANDS = {
    "create": "flags",
    "update": "flags",
    "enable": "flags",
    "disable": "flags",
    "toggle": "flags",
    "delete": "flags",
    "get": "flags",
    "list": "flags",
    "pull": "transfer",
    "export": "transfer",
    "import": "transfer",
    "watch": "watch",
    "eval": "evaluate",
    "version": "version",
    "completion": "completion",
    "config": "config",
}
COMPLETE_VAR = "_FLAGCTL_COMPLETE"


def _version(value: bool) -> None:
    if value:
        from .commands.version import text

        output.write_text(text())
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


def build(only: str | None = None) -> typer.Typer:
    """The application: every command, or only `only`'s module when it is a known command."""
    app = typer.Typer(
        help=HELP,
        no_args_is_help=True,
        add_completion=False,  # `flagctl completion SHELL` prints the scripts instead
        rich_markup_mode=None,  # plain help: importing Rich would double the start-up time
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    modules = [COMMANDS[only]] if only in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        import_module(f".commands.{name}", __package__).register(app)
    return app


def command_name(argv: list[str]) -> str | None:
    """The command named on the command line (root options take no values)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def command(argv: list[str] | None = None) -> Any:
    """The click command to run, with stdlib coercion for its simple parameters."""
    from typer.main import get_command

    from .fastparams import install

    completing = bool(os.environ.get(COMPLETE_VAR))
    only = None if completing else command_name(sys.argv[1:] if argv is None else argv)
    click_command = get_command(build(only))
    install(click_command)
    if completing:
        # add_completion=False leaves Typer's shell classes unregistered; the scripts in
        # completions/ call back here with this variable set.
        from typer.completion import completion_init

        completion_init()
    return click_command


def main() -> None:
    try:
        command().main(prog_name="flagctl", complete_var=COMPLETE_VAR)
    except CliError as exc:
        output.error(str(exc))
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except Exception as exc:  # a bug: one line unless asked for the traceback
        if os.environ.get("FLAGCTL_DEBUG"):
            raise
        output.error(
            f"unexpected error: {type(exc).__name__}: {exc} (FLAGCTL_DEBUG=1 shows the traceback)"
        )
        raise SystemExit(ExitCode.ERROR) from None
