"""The state directory is 0700 and every file flagd keeps in it 0600, under a usual umask."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import Flagd

PRIVATE_FILES = [
    "flagd.sqlite3",
    "flagd.sqlite3-wal",
    "flagd.sqlite3-shm",
    "keys.json",
    "flagd.json",
]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """flagd inherits the test's umask; 022 is what a login shell usually has."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_state_directory_and_its_files_are_private(tmp_path: Path, usual_umask: None) -> None:
    state_dir = tmp_path / "new" / "state"  # flagd creates it, and its parent
    # No keys configured: they are generated into keys.json.
    daemon = Flagd(data_dir=tmp_path / "logs", admin_key=None, sdk_key=None)
    daemon.extra_env["FLAGD_DATA_DIR"] = str(state_dir)
    daemon.start()
    try:
        assert mode(state_dir) == 0o700
        for name in PRIVATE_FILES:  # -wal and -shm exist while flagd has the database open
            assert mode(state_dir / name) == 0o600, name
    finally:
        daemon.stop()
    assert "level=warning" not in daemon.log()


def test_files_of_an_earlier_release_are_made_private(tmp_path: Path, usual_umask: None) -> None:
    """An earlier release left the directory 0755 and the SQLite files 0644."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    database = state_dir / "flagd.sqlite3"
    db = sqlite3.connect(database)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE left_behind (x)")
    for name in ("flagd.sqlite3", "flagd.sqlite3-wal", "flagd.sqlite3-shm"):
        os.chmod(state_dir / name, 0o644)
    keys = state_dir / "keys.json"
    keys.write_text('{"admin_api_key": "a-handwritten-admin-key", "sdk_api_key": "an-sdk-key"}')
    os.chmod(keys, 0o644)
    daemon = Flagd(data_dir=state_dir, admin_key=None, sdk_key=None)
    try:
        daemon.start()
        for name in PRIVATE_FILES:
            assert mode(state_dir / name) == 0o600, name
    finally:
        daemon.stop()
        db.close()
    # The directory may be shared on purpose: flagd says so rather than changing it.
    assert mode(state_dir) == 0o755
    log = daemon.log()
    assert "level=warning" in log and "state directory is accessible to other users" in log
    assert "mode=0755" in log
