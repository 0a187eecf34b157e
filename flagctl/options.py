"""Options shared by the commands. Connection options read their environment twins in
config.resolve (not through Typer), so that a rejected key can be reported with where it
came from and so that a profile sits between the environment and local discovery."""

from __future__ import annotations

from typing import Annotated

import typer

from .config import Connection


def complete_flag_key(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    from .cache import complete_keys

    return complete_keys(_typed(ctx, "server"), _typed(ctx, "profile"), incomplete)


def _typed(ctx: typer.Context | None, name: str) -> str | None:
    """An option as typed on the line being completed: after the command, else before it."""
    while ctx is not None:
        if ctx.params.get(name):
            return str(ctx.params[name])
        ctx = ctx.parent  # type: ignore[assignment]
    return None


Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        "-s",
        metavar="URL",
        show_default=False,
        help="flagd base URL [env: FLAGCTL_SERVER]",
    ),
]
AdminKey = Annotated[
    str | None,
    typer.Option(
        "--admin-key",
        metavar="KEY",
        show_default=False,
        help="admin API key [env: FLAGCTL_ADMIN_KEY]",
    ),
]
SdkKey = Annotated[
    str | None,
    typer.Option(
        "--sdk-key",
        metavar="KEY",
        show_default=False,
        help="SDK API key, for reading snapshots [env: FLAGCTL_SDK_KEY]",
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        show_default=False,
        help="profile in the config file [env: FLAGCTL_PROFILE; default: default]",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
FlagKey = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="Flag key (or id).",
        show_default=False,
        autocompletion=complete_flag_key,
    ),
]


def connect(
    server: str | None = None,
    admin_key: str | None = None,
    sdk_key: str | None = None,
    profile: str | None = None,
) -> Connection:
    from .config import resolve

    return resolve(server, admin_key, sdk_key, profile)
