"""The on-disk snapshot shared by the SDK and flagctl.

One JSON document: the client snapshot (`{"flags": [...], "revision": N}`, exactly what
GET /api/client/flags returns) plus where it came from and when it was saved. Written
atomically, so a reader never sees half a file. flagctl's `pull` and the SDK use the same
default path per server, so either can bootstrap the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core import Snapshot, encode_json


@dataclass(frozen=True, slots=True)
class CachedSnapshot:
    snapshot: Snapshot
    server: str
    saved_at: float  # seconds since the epoch

    def age_seconds(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.saved_at)


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("flagd", appauthor=False))


def default_cache_path(server: str) -> Path:
    digest = hashlib.sha256(server.rstrip("/").encode()).hexdigest()[:16]
    return cache_dir() / f"snapshot-{digest}.json"


def encode_cache(snapshot: Snapshot, server: str, saved_at: float | None = None) -> bytes:
    saved = time.time() if saved_at is None else saved_at
    document: dict[str, Any] = snapshot.to_dict()
    document["server"] = server
    document["saved_at"] = (
        datetime.fromtimestamp(saved, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    return encode_json(document)


def write_snapshot(path: Path, snapshot: Snapshot, server: str) -> None:
    """Atomic replace; mode 0600 because targeted user ids may be personal data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snapshot-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(encode_cache(snapshot, server))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_snapshot(path: Path) -> CachedSnapshot | None:
    """The cached snapshot, or None when there is none or it cannot be read."""
    try:
        document = json.loads(path.read_bytes())
        snapshot = Snapshot.from_dict(document)
        saved = document.get("saved_at")
        saved_at = (
            datetime.fromisoformat(saved.replace("Z", "+00:00")).timestamp()
            if isinstance(saved, str)
            else path.stat().st_mtime
        )
        return CachedSnapshot(snapshot, str(document.get("server", "")), saved_at)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
