"""Moving flag sets: pull (the offline snapshot), export and import (files for backups and
review in git)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import output
from ..errors import CliError, UsageError
from ..options import AdminKey, Json, Profile, SdkKey, Server, connect


def register(app: typer.Typer) -> None:
    app.command()(pull)
    app.command()(export)
    app.command("import")(import_flags)


def pull(
    json: Json = False, server: Server = None, sdk_key: SdkKey = None, profile: Profile = None
) -> None:
    """Save the flags for offline `eval` (SDK key).

    The snapshot is written where the Python SDK looks for its cache, so an application can
    start from it too.
    """
    from .. import cache
    from ..client import FlagdClient

    client = FlagdClient(connect(server, None, sdk_key, profile))
    document, path = cache.pull(client)
    count, revision = len(document["flags"]), document.get("revision", 0)
    if json:
        output.print_json(
            {
                "server": client.connection.server,
                "revision": revision,
                "flags": count,
                "path": str(path),
            }
        )
    else:
        output.message(
            f"pulled revision {revision} ({count} flags) from "
            f"{client.connection.server} into {path}"
        )


def export(
    output_file: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            show_default=False,
            help="Write to FILE instead of stdout.",
        ),
    ] = None,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Write every flag as JSON, for backups and review.

    Fields: key, description, enabled, rollout_percentage, targeted_users; oldest first.

    \b
    flagctl export -o flags.json      # back up, or commit for review
    flagctl import flags.json         # make a server match the file
    """
    import json

    from ..client import FlagdClient
    from ..importplan import export_document

    flags = FlagdClient(connect(server, admin_key, None, profile)).admin("GET", "/api/admin/flags")
    text = json.dumps(export_document(flags), indent=2, ensure_ascii=False) + "\n"
    if output_file is None or output_file == "-":
        output.write_text(text)
        return
    _write_atomic(Path(output_file), text)
    output.message(f"exported {len(flags)} flags to {output_file}")


def _write_atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None


def import_flags(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE", show_default=False, help="A file from `flagctl export` ('-' for stdin)."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Show the plan and change nothing.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete flags that are not in the file.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Do not ask before deleting (needed in scripts)."),
    ] = False,
    json: Json = False,
    server: Server = None,
    admin_key: AdminKey = None,
    profile: Profile = None,
) -> None:
    """Make the server's flags match a file from export.

    Creates the missing flags and updates the different ones.

    The plan is printed first (+ create, ~ update, - delete). Flags only on the server are
    kept unless --prune. Every flag in the file is checked before anything changes. A plan
    that deletes asks first, like `delete` (--yes to skip, as needed in scripts).
    """
    from ..client import FlagdClient
    from ..importplan import make_plan, parse_document

    raw = _read_input(file)
    desired = parse_document(raw, "stdin" if file == "-" else file)
    client = FlagdClient(connect(server, admin_key, None, profile))
    plan = make_plan(desired, client.admin("GET", "/api/admin/flags"), prune)
    asking = bool(plan.delete) and not dry_run and not yes
    if asking and (file == "-" or not output.stdin_is_terminal()):
        raise UsageError(
            f"import would delete {_flags(len(plan.delete))}: stdin is not a terminal, so nobody "
            "can confirm; pass --yes to import anyway (--dry-run shows the plan)"
        )
    if not json:
        output.print_plan(plan, dry_run)
    if asking and not output.confirm(f"Delete {_flags(len(plan.delete))} and apply the plan?"):
        raise CliError("import cancelled, nothing changed")
    if not dry_run:
        _apply(client, plan)
        if not json:
            output.message("done" if not plan.empty else "nothing to do: the server matches")
    if json:
        output.print_json({**plan.to_dict(), "applied": not dry_run})


def _flags(count: int) -> str:
    return f"{count} flag{'' if count == 1 else 's'}"


def _read_input(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror or exc}") from None


def _apply(client: Any, plan: Any) -> None:
    from ..client import flag_path

    steps: list[tuple[str, str, Any, int | None]] = [
        ("POST", "/api/admin/flags", flag, None) for flag in plan.create
    ]
    steps += [
        ("PUT", flag_path(key), {k: v for k, v in flag.items() if k != "key"}, plan.versions[key])
        for key, flag, _change in plan.update
    ]
    steps += [("DELETE", flag_path(key), None, plan.versions[key]) for key in plan.delete]
    for done, (method, path, body, version) in enumerate(steps):
        try:
            client.admin(method, path, body, if_match=version)
        except CliError as exc:
            raise CliError(f"import stopped after {done} of {len(steps)} changes: {exc}") from None
