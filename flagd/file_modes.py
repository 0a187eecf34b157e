"""The state directory and its files are private to flagd's user: 0700 and 0600.

Files flagd creates are private from their first byte (no window in which another user
could open them). A directory that already exists is left as it is, with a warning if
others can enter it: it may be one the operator chose and shares (a backup group, /srv),
and flagd's own files in it are 0600 whatever the directory's mode.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("flagd")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dir(path: Path) -> None:
    """Create `path` with mode 0700 (parents as `mkdir -p` would) unless it exists."""
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True)
    except FileExistsError:
        return
    # mkdir's mode passes through the umask, which can only remove bits; chmod makes it
    # exactly 0700 even under an unusual umask such as 0o277.
    os.chmod(path, PRIVATE_DIR)


def warn_if_shared(path: Path) -> None:
    """An existing directory is not chmodded (it may be shared on purpose): say so."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "the state directory is accessible to other users; flagd's files in it are "
            "0600, but consider `chmod 700` on it",
            extra={"fields": {"path": path, "mode": f"{mode:04o}"}},
        )


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists; tighten it if it does."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        make_private(path)
    else:
        os.close(fd)


def make_private(path: Path) -> None:
    """Mode 0600 for an existing file of flagd's that others can read (an earlier release
    created its SQLite files 0644); a missing file is fine."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        os.chmod(path, mode & PRIVATE_FILE)
    except PermissionError:  # another user's file: say so, flagd can still use it
        log.warning(
            "a file of flagd's is readable by other users and cannot be made private",
            extra={"fields": {"path": path, "mode": f"{mode:04o}"}},
        )
    else:
        log.info(
            "made a file private to flagd's user",
            extra={"fields": {"path": path, "was": f"{mode:04o}", "now": f"{mode & 0o600:04o}"}},
        )
