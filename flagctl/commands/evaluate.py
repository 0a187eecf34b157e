"""`flagctl eval`: offline evaluation from the cached snapshot, with flagd's own core."""

from __future__ import annotations

import json as jsonlib
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from .. import output
from ..errors import CliError, UsageError
from ..options import Json, Profile, SdkKey, Server, complete_flag_key, connect

if TYPE_CHECKING:
    from flagd.core import FlagSet
    from flagd.sdk.cache import CachedSnapshot

    from ..config import Connection

STALE_AFTER = 3600.0  # seconds; older snapshots get a hint to pull


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)


def evaluate(
    user: Annotated[
        str | None,
        typer.Argument(metavar="USER", show_default=False, help="The user id to evaluate for."),
    ] = None,
    flags: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FLAG",
            show_default=False,
            autocompletion=complete_flag_key,
            help="Flag keys (default: every flag in the snapshot).",
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            "-e",
            help="Show why: disabled, targeted, rollout (with the bucket), not_found.",
        ),
    ] = False,
    json: Json = False,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh", help="Pull a fresh snapshot first (needs the server and SDK key)."
        ),
    ] = False,
    users: Annotated[
        str | None,
        typer.Option(
            "--users",
            metavar="FILE",
            show_default=False,
            help="Evaluate every user id in FILE (one a line, blank lines skipped, '-' for "
            "stdin) and print one JSON line per user; then every argument is a flag key.",
        ),
    ] = None,
    server: Server = None,
    sdk_key: SdkKey = None,
    profile: Profile = None,
) -> None:
    """Evaluate flags for a user, offline.

    Uses the last snapshot saved by `pull`, `list` or `watch`, so it works with flagd
    stopped. Data goes to stdout; which snapshot was used, and its age, to stderr.
    --json prints {"user_id", "revision", "snapshot_age_seconds", "flags": {KEY:
    {"enabled", "reason", "bucket"}}}.

    \b
    flagctl eval user-42
    flagctl eval user-42 new-checkout --explain
    flagctl eval user-42 --json
    flagctl eval --users ids.txt new-checkout > results.jsonl
    """
    keys = [k for k in ([user] if users is not None and user is not None else []) + (flags or [])]
    if users is None and user is None:
        raise UsageError("give a USER to evaluate for, or --users FILE")
    users_file = None if users is None else _open_users(users)
    connection = connect(server, None, sdk_key, profile)
    if refresh:
        from .. import cache
        from ..client import FlagdClient

        cache.pull(FlagdClient(connection))
    cached = _load(connection)
    _announce(connection, cached)
    from flagd.core import FlagSet

    snapshot = cached.snapshot
    flag_set = FlagSet.from_flags(snapshot.flags, snapshot.revision)
    age = round(cached.age_seconds(), 3)
    if users_file is not None:
        _evaluate_users(flag_set, keys or _all_keys(flag_set), _users(users_file), age)
        return
    assert user is not None
    keys = flags or _all_keys(flag_set)
    results = [(key, flag_set.explain(key, user)) for key in keys]
    if json:
        output.print_json(
            {
                "user_id": user,
                "revision": snapshot.revision,
                "snapshot_age_seconds": age,
                "flags": {key: result.to_dict() for key, result in results},
            }
        )
    else:
        output.print_evaluations(results, explain)


def _load(connection: Connection) -> CachedSnapshot:
    from .. import cache

    cached = cache.load(connection)
    if cached is None:
        raise CliError(
            f"no snapshot of {connection.server} yet: run `flagctl pull` while flagd is "
            "reachable, then eval works offline"
        )
    return cached


def _announce(connection: Connection, cached: CachedSnapshot) -> None:
    age = cached.age_seconds()
    count = len(cached.snapshot.flags)
    hint = "; `flagctl pull` or --refresh for a newer one" if age > STALE_AFTER else ""
    output.message(
        f"snapshot of {cached.server or connection.server} at revision "
        f"{cached.snapshot.revision} ({count} flags), pulled {output.age_words(age)} ago{hint}"
    )


def _all_keys(flag_set: FlagSet) -> list[str]:
    return sorted(flag_set.by_key)


def _open_users(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8", newline="")  # closed by _users
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def _users(stream: TextIO) -> Iterator[str]:
    """One id a line, exactly as written (spaces are part of an id); blank lines skipped."""
    with stream:
        for line in stream:
            user = line.removesuffix("\n").removesuffix("\r")
            if user:
                yield user


def _evaluate_users(flag_set: FlagSet, keys: list[str], users: Iterable[str], age: float) -> None:
    """One JSON line per user, in the `eval --json` shape.

    The decision is flagd.core's (`CompiledFlag.explain`); only the encoding is done here,
    from fragments prepared once per flag, because at 10^7 evaluations json.dumps of a
    nested dict per result would be most of the time.
    """
    from flagd.core import explain

    head = f',"revision":{flag_set.revision},"snapshot_age_seconds":{age},"flags":{{'
    prepared = [
        (jsonlib.dumps(key, ensure_ascii=False) + ":", flag_set.by_key.get(key)) for key in keys
    ]
    fragments: dict[Any, str] = {}
    write = sys.stdout.write
    for user in users:
        parts = []
        for prefix, compiled in prepared:
            result = explain(compiled, user)
            fragment = fragments.get(result)
            if fragment is None:
                fragment = fragments[result] = jsonlib.dumps(
                    result.to_dict(), separators=(",", ":")
                )
            parts.append(prefix + fragment)
        write(
            '{"user_id":'
            + jsonlib.dumps(user, ensure_ascii=False)
            + head
            + ",".join(parts)
            + "}}\n"
        )
