"""The Typer application: thin commands over FlagdClient, one error boundary."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from flagd import __version__

from . import output
from .client import CliError, FlagdClient
from .config import resolve

app = typer.Typer(
    help="Manage flags on a flagd server.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

ServerOption = Annotated[
    str | None, typer.Option("--server", envvar="FLAGCTL_SERVER", help="flagd base URL")
]
AdminKeyOption = Annotated[
    str | None,
    typer.Option("--admin-key", envvar="FLAGCTL_ADMIN_KEY", help="admin API key"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _client(server: str | None, admin_key: str | None) -> FlagdClient:
    return FlagdClient(resolve(server, admin_key, None))


@app.command()
def version() -> None:
    """Print flagctl's version."""
    typer.echo(f"flagctl {__version__}")


@app.command("list")
def list_flags(server: ServerOption = None, admin_key: AdminKeyOption = None,
               json: JsonOption = False) -> None:
    """List every flag, newest first."""
    flags = _client(server, admin_key).admin("GET", "/api/admin/flags")
    if json:
        output.print_json(flags)
    else:
        output.print_flags(flags)


@app.command()
def get(key: str, server: ServerOption = None, admin_key: AdminKeyOption = None,
        json: JsonOption = False) -> None:
    """Show one flag."""
    flag = _client(server, admin_key).admin("GET", f"/api/admin/flags/{quote(key, safe='')}")
    if json:
        output.print_json(flag)
    else:
        output.print_flags([flag])


def main() -> None:
    try:
        app()
    except CliError as exc:
        output.error(str(exc))
        raise SystemExit(1) from None
