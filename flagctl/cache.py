"""flagctl's offline snapshot: the SDK's on-disk cache format, at the SDK's default path.

`flagctl pull` therefore leaves a file an SDK can bootstrap from, and an SDK's cache serves
`flagctl eval`. Writing is atomic, so a reader never sees half a snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Connection

if TYPE_CHECKING:
    from flagd.sdk.cache import CachedSnapshot

    from .client import FlagdClient


def path_for(connection: Connection) -> Path:
    from flagd.sdk.cache import default_cache_path

    return default_cache_path(connection.server)


def save(connection: Connection, document: dict[str, Any]) -> Path:
    from flagd.core import Snapshot
    from flagd.sdk.cache import write_snapshot

    path = path_for(connection)
    write_snapshot(path, Snapshot.from_dict(document), connection.server)
    return path


def load(connection: Connection) -> CachedSnapshot | None:
    from flagd.sdk.cache import read_snapshot

    return read_snapshot(path_for(connection))


def pull(client: FlagdClient) -> tuple[dict[str, Any], Path]:
    """GET /api/client/flags (the SDK key) and save it; returns the document and the path."""
    document = client.client_flags().body
    if not isinstance(document, dict) or not isinstance(document.get("flags"), list):
        from .errors import CliError

        raise CliError(f"{client.connection.server} sent a flag snapshot flagctl cannot read")
    return document, save(client.connection, document)


def complete_keys(
    server: str | None, profile: str | None, incomplete: str
) -> list[tuple[str, str]]:
    """Flag keys for shell completion, from the cached snapshot only: never a network call,
    never an error (a completion that fails must fail silently)."""
    from .config import resolve
    from .errors import CliError

    try:
        cached = load(resolve(server=server, profile=profile))
    except (CliError, OSError):
        return []
    if cached is None:
        return []
    return [
        (flag.key, f"{'on' if flag.enabled else 'off'}, {flag.rollout_percentage}%")
        for flag in cached.snapshot.flags
        if flag.key.startswith(incomplete)
    ]
