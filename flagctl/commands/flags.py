"""Managing flags: create, update, enable, disable, toggle, delete, get, list."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer

from .. import output
from ..errors import CliError, UsageError
from ..options import AdminKey, FlagKey, Json, Profile, SdkKey, Server, connect

Rollout = Annotated[
    int | None,
    typer.Option(
        "--rollout",
        "-r",
        min=0,
        max=100,
        metavar="PERCENT",
        show_default=False,
        help="Share of users (0-100) that get the flag, by a stable hash of the id.",
    ),
]
Description = Annotated[
    str | None,
    typer.Option("--description", "-d", metavar="TEXT", show_default=False, help="What it is for."),
]


def register(app: typer.Typer) -> None:
    for command in (create, update, enable, disable, toggle, delete, get, list_flags):
        name = "list" if command is list_flags else command.__name__
        app.command(name)(command)


def _admin(server: str | None, admin_key: str | None, profile: str | None) -> Any:
    from ..client import FlagdClient

    return FlagdClient(connect(server, admin_key, None, profile))


def _flag_path(key: str, suffix: str = "") -> str:
    from ..client import flag_path

    return flag_path(key, suffix)


def _done(flag: dict[str, Any], json: bool, text: str) -> None:
    if json:
        output.print_json(flag)
    else:
        output.message(text)


def create(
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY", show_default=False, help="Letters, digits and '-', up to 64."
        ),
    ],
    description: Description = None,
    enabled: Annotated[
        bool, typer.Option("--enabled/--disabled", help="Turn it on at once.")
    ] = False,
    rollout: Rollout = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            metavar="USER",
            show_default=False,
            help="A user id that always gets the flag while it is on (repeat for more).",
        ),
    ] = None,
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Create a flag (off, 0% rollout, no targets unless told).

    \b
    flagctl create new-checkout -d "New checkout flow" --rollout 10 --enabled
    flagctl create beta-dashboard --target alice --target bob
    """
    body: dict[str, Any] = {"key": key, "enabled": enabled}
    if description is not None:
        body["description"] = description
    if rollout is not None:
        body["rollout_percentage"] = rollout
    if target:
        body["targeted_users"] = target
    flag = _admin(server, admin_key, profile).admin("POST", "/api/admin/flags", body)
    _done(flag, json, f"created {flag['key']} ({output.summary(flag)})")


def update(
    key: FlagKey,
    description: Description = None,
    enabled: Annotated[
        bool | None,
        typer.Option("--enabled/--disabled", show_default=False, help="Turn it on or off."),
    ] = None,
    rollout: Rollout = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            metavar="USER",
            show_default=False,
            help="Replace the targeted users with these (repeat for more).",
        ),
    ] = None,
    add_target: Annotated[
        list[str] | None,
        typer.Option(
            "--add-target", metavar="USER", show_default=False, help="Add a targeted user."
        ),
    ] = None,
    remove_target: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-target", metavar="USER", show_default=False, help="Remove a targeted user."
        ),
    ] = None,
    clear_targets: Annotated[
        bool, typer.Option("--clear-targets", help="Remove every targeted user.")
    ] = False,
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Change a flag's fields; anything not given stays as it is.

    \b
    flagctl update new-checkout --rollout 50
    flagctl update beta-dashboard --add-target carol --remove-target bob
    """
    from ..changes import describe

    if (
        all(v is None for v in (description, enabled, rollout, target, add_target, remove_target))
        and not clear_targets
    ):
        raise UsageError(
            "nothing to update: give --description, --enabled/--disabled, --rollout, "
            "--target, --add-target, --remove-target or --clear-targets"
        )
    client = _admin(server, admin_key, profile)
    before = client.admin("GET", _flag_path(key))
    body: dict[str, Any] = {}
    if description is not None:
        body["description"] = description
    if enabled is not None:
        body["enabled"] = enabled
    if rollout is not None:
        body["rollout_percentage"] = rollout
    if target is not None or add_target or remove_target or clear_targets:
        if target is not None:
            users = list(target)
        else:
            users = [] if clear_targets else list(before["targeted_users"])
        users += [u for u in add_target or () if u not in users]
        removed = set(remove_target or ())
        body["targeted_users"] = [u for u in users if u not in removed]
    # If-Match: an edit of the target list must not undo a change made meanwhile.
    flag = client.admin("PUT", _flag_path(before["key"]), body, if_match=before["version"])
    change = describe(before, flag)
    _done(
        flag,
        json,
        f"updated {flag['key']}: {change}"
        if change != "no change"
        else f"{flag['key']} already as asked ({output.summary(flag)})",
    )


SET_ENABLED_ATTEMPTS = 5  # each retry follows another writer's change to the same flag


def _set_enabled(
    key: str, on: bool, json: bool, server: str | None, admin_key: str | None, profile: str | None
) -> None:
    """PUT {"enabled": on}, never a toggle: repeating it is harmless, and a PUT that changes
    nothing records nothing. The PUT is conditional on the version just read, so "was" and
    "changed" describe exactly the state it was applied to; if another write lands between
    the read and the PUT (412), read again and retry."""
    from ..errors import Rejected

    client = _admin(server, admin_key, profile)
    for attempt in range(1, SET_ENABLED_ATTEMPTS + 1):
        before = client.admin("GET", _flag_path(key))
        try:
            flag = client.admin(
                "PUT", _flag_path(before["key"]), {"enabled": on}, if_match=before["version"]
            )
        except Rejected as exc:
            if exc.status == 412 and attempt < SET_ENABLED_ATTEMPTS:
                continue
            raise
        break
    changed = flag["version"] != before["version"]
    word = "enabled" if on else "disabled"
    was = "enabled" if before["enabled"] else "disabled"
    _done(
        {**flag, "changed": changed},
        json,
        f"{flag['key']}: {word} (was {was})"
        if changed
        else f"{flag['key']}: already {word}, nothing changed",
    )


def enable(
    key: FlagKey,
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Turn a flag on (nothing changes if it already is).

    --json prints the flag with "changed": true or false.
    """
    _set_enabled(key, True, json, server, admin_key, profile)


def disable(
    key: FlagKey,
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Turn a flag off (nothing changes if it already is).

    --json prints the flag with "changed": true or false.
    """
    _set_enabled(key, False, json, server, admin_key, profile)


def toggle(
    key: FlagKey,
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Flip a flag: on becomes off, off becomes on."""
    flag = _admin(server, admin_key, profile).admin("PATCH", _flag_path(key, "/toggle"))
    was = "on" if not flag["enabled"] else "off"
    _done(flag, json, f"{flag['key']}: {was} → {output.state_word(flag)}")


def delete(
    key: FlagKey,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Delete a flag (asks first; --yes to skip, as needed in scripts)."""
    client = _admin(server, admin_key, profile)
    flag = client.admin("GET", _flag_path(key))
    if not yes:
        if not output.stdin_is_terminal():
            raise UsageError(
                f"not deleting {flag['key']}: stdin is not a terminal, so nobody can confirm; "
                "pass --yes to delete without asking"
            )
        if not output.confirm(f"Delete flag {flag['key']} ({output.summary(flag)})?"):
            raise CliError(f"{flag['key']} not deleted")
    client.admin("DELETE", _flag_path(flag["key"]), if_match=flag["version"])
    _done({"key": flag["key"], "deleted": True}, json, f"deleted {flag['key']}")


def get(
    key: FlagKey,
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Show one flag."""
    flag = _admin(server, admin_key, profile).admin("GET", _flag_path(key))
    if json:
        output.print_json(flag)
    else:
        output.print_flag(flag)


def list_flags(
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    sdk_key: SdkKey = None,
    profile: Profile = None,
) -> None:
    """List every flag, newest first.

    With the admin key, the list comes from the admin API; with only the SDK key, from the
    client snapshot. When the SDK key is known the offline snapshot is refreshed too.
    """
    from .. import cache
    from ..client import FlagdClient, require_key

    connection = connect(server, admin_key, sdk_key, profile)
    client = FlagdClient(connection)
    if connection.admin_key:
        flags = client.admin("GET", "/api/admin/flags")
        if connection.sdk_key:
            # The list is what was asked for; refreshing the snapshot is a bonus.
            with contextlib.suppress(CliError, OSError):
                cache.pull(client)
    elif connection.sdk_key:
        flags = cache.pull(client)[0]["flags"]
    else:
        require_key(connection, "admin_key")
        return
    if json:
        output.print_json(flags)
    else:
        output.print_flags(flags)
