"""One flagd per data directory, held with an flock on `flagd.lock` for the process lifetime.

The directory holds flagd.json (where a local flagctl finds the daemon) and keys.json with
either store, and the SQLite file with the embedded one: a second flagd on it would take
over flagd.json and leave flagctl pointing at whichever exits first. The kernel releases
the lock when the process ends however it ends, so a stale lock file never blocks a start.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path

LOCK_FILE = "flagd.lock"
RUNTIME_FILE = "flagd.json"

log = logging.getLogger("flagd")

# The open lock file: closing it (or exiting) releases the lock, so it lives as long as we do.
_held: list[int] = []


class DataDirInUse(OSError):
    """Another flagd holds the data directory."""


def lock_data_dir(state_dir: Path) -> None:
    """Take the data directory for this process, or raise DataDirInUse naming the holder.

    A directory that cannot hold a lock file (read-only, PostgreSQL with configured keys)
    is only a warning, as flagd.json is: nothing else there needs to be written.
    """
    path = state_dir / LOCK_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.warning("cannot lock the data directory %s: %s", state_dir, exc)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd, state_dir)
        os.close(fd)
        raise DataDirInUse(
            f"another flagd ({holder}) is using the data directory {state_dir}: stop it, "
            "or give this one its own --data-dir / FLAGD_DATA_DIR"
        ) from None
    except OSError as exc:  # a file system without flock support
        os.close(fd)
        log.warning("cannot lock the data directory %s: %s", state_dir, exc)
        return
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held.append(fd)


def _holder(fd: int, state_dir: Path) -> str:
    """ "pid N, serving URL" from the lock file and flagd.json, as far as they tell."""
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        pid = ""
    described = f"pid {pid}" if pid.isdigit() else "pid unknown"
    try:
        runtime = json.loads((state_dir / RUNTIME_FILE).read_text())
    except (OSError, ValueError):
        return described
    if isinstance(runtime, dict) and runtime.get("pid") == pid and runtime.get("url"):
        described += f", serving {runtime['url']}"
    return described
