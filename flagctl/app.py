"""The Typer application and its one error boundary.

Start-up is kept short: command modules import only Typer at the top; HTTP, Rich, the
evaluation core and the cache are imported inside the commands that use them. When the
command line names a command, only that command's module is loaded and turned into a
click command (the others cost ~20 ms and are not needed); `--help`, completion and
unknown names get the whole application.

The command runs here rather than through Typer's `main`, which prints usage errors as a
four-line block and exits 1 on a closed stdout; every outcome is decided in `run`.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import Annotated, Any

import typer

from . import output
from .errors import CliError, ExitCode, describe_usage_error
from .options import AdminKey, Profile, SdkKey, Server

HELP = """Manage, watch and evaluate the feature flags of a flagd server.

\b
  flagctl create new-checkout --rollout 10 --enabled
  flagctl list
  flagctl toggle new-checkout
  flagctl watch
  flagctl pull && flagctl eval user-42 --explain

\b
Connection: with a flagd running on this machine, nothing to set up. Otherwise
pass --server, --admin-key, --sdk-key before or after the command (after wins),
or set FLAGCTL_SERVER, FLAGCTL_ADMIN_KEY, FLAGCTL_SDK_KEY, or save them with
`flagctl config set` (named profiles: --profile NAME). Options win over the
environment, the environment over the config file.
`flagctl COMMAND -h` for details.
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
PROG = "flagctl"
# Options of the application itself that take a value (the command name is found after them).
VALUE_OPTIONS = frozenset({"--server", "-s", "--admin-key", "--sdk-key", "--profile", "-p"})


def _version(value: bool) -> None:
    if value:
        from .commands.version import text

        output.write_text(text())
        raise typer.Exit()


def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    server: Server = None,
    admin_key: AdminKey = None,
    sdk_key: SdkKey = None,
    profile: Profile = None,
) -> None:
    """Connection options typed before the command become the defaults of the command's own
    options of the same name: one meaning wherever they are typed, and the command's own
    (typed after) win. A command without such an option (`version`) ignores it."""
    given = {
        name: value
        for name, value in (
            ("server", server),
            ("admin_key", admin_key),
            ("sdk_key", sdk_key),
            ("profile", profile),
        )
        if value is not None
    }
    if given and ctx.invoked_subcommand:
        command = ctx.command.get_command(ctx, ctx.invoked_subcommand)  # type: ignore[attr-defined]
        ctx.default_map = {ctx.invoked_subcommand: _defaults(command, given)}


def _defaults(command: Any, given: dict[str, str]) -> dict[str, Any]:
    """A click default_map for `command`: its own options, or its subcommands' (config)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        return {name: _defaults(sub, given) for name, sub in subcommands.items()}
    names = {param.name for param in command.params}
    return {name: value for name, value in given.items() if name in names}


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
    """The command named on the command line: the first word that is not an option of the
    application or an option's value."""
    words = iter(argv)
    for word in words:
        if word in VALUE_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def command(argv: list[str], completing: bool = False) -> Any:
    """The click command to run, with stdlib coercion for its simple parameters."""
    from typer.main import get_command

    from .fastparams import install
    from .metavars import plain_arguments

    click_command = get_command(build(None if completing else command_name(argv)))
    install(click_command)
    plain_arguments(click_command)
    if completing:
        # add_completion=False leaves Typer's shell classes unregistered; the scripts in
        # completions/ call back here with this variable set.
        from typer.completion import completion_init

        completion_init()
    return click_command


def run(argv: list[str]) -> int:
    """Run the command line; every outcome becomes an exit status and at most one line."""
    click_command: Any = None
    try:
        completing = bool(os.environ.get(COMPLETE_VAR))
        click_command = command(argv, completing)
        if completing:  # answers the shell and exits
            click_command.main(argv, prog_name=PROG, complete_var=COMPLETE_VAR)
        with click_command.make_context(PROG, list(argv)) as ctx:
            click_command.invoke(ctx)
    except typer.Exit as exc:  # --help, --version
        return exc.exit_code
    except CliError as exc:
        output.error(str(exc))
        return exc.exit_code
    except typer.TyperException as exc:  # click's usage errors
        from typer._click.exceptions import NoArgsIsHelpError

        if isinstance(exc, NoArgsIsHelpError):  # `flagctl` alone: the help, as a usage error
            output.message(exc.format_message())
        else:
            output.error(describe_usage_error(exc, _command_path(click_command, argv)))
        return getattr(exc, "exit_code", ExitCode.USAGE)
    except (typer.Abort, EOFError):
        output.error("aborted")
        return ExitCode.ERROR
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return stdout_closed()
    except Exception as exc:  # a bug: one line unless asked for the traceback
        if os.environ.get("FLAGCTL_DEBUG"):
            raise
        output.error(
            f"unexpected error: {type(exc).__name__}: {exc} (FLAGCTL_DEBUG=1 shows the traceback)"
        )
        return ExitCode.ERROR
    return ExitCode.OK


def _command_path(click_command: Any, argv: list[str]) -> str:
    """`flagctl config set` for a usage error click raised without saying where."""
    path, current, rest = [PROG], click_command, argv
    while (name := command_name(rest)) in getattr(current, "commands", {}):
        path.append(name)
        current, rest = current.commands[name], rest[rest.index(name) + 1 :]
    return " ".join(path)


def stdout_closed() -> int:
    """Whoever read stdout stopped (`flagctl list | head -1`): that is their choice, not a
    failure, so flagctl ends quietly with status 0, as under `set -o pipefail` a script
    would want. What is still buffered goes to /dev/null, so the final flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return ExitCode.OK


def main() -> None:
    status = run(sys.argv[1:])
    try:
        sys.stdout.flush()  # here rather than at exit, where a closed pipe prints a warning
    except BrokenPipeError:
        status = stdout_closed()
    raise SystemExit(status)
