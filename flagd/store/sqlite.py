"""The embedded default store: one SQLite file, used from one dedicated thread.

Every call runs on a single worker thread, so the event loop never blocks on SQLite and
writes are serialised, which is what keeps revisions contiguous.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TypeVar

from ..core import Change, DuplicateKey, Flag, Snapshot, StoreUnavailable, encode_json
from ..file_modes import PRIVATE_DIR, create_private_file, make_private
from .base import Decide, Keep, Put, Remember, Remove, WriteResult, ref_lookups

T = TypeVar("T")

_FLAG_COLUMNS = (
    "id, key, description, enabled, rollout_percentage, targeted_users, version,"
    " created_at, updated_at"
)


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flagd-sqlite")
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                raise StoreUnavailable("the SQLite store is not open")
            try:
                return fn(self._db)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite error: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        def connect() -> None:
            if self._db is not None:
                return
            self.path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            # SQLite gives its -wal and -shm files the database file's mode, so a 0600
            # database keeps all three private; files of an earlier release are tightened.
            create_private_file(self.path)
            for suffix in ("-wal", "-shm"):
                make_private(self.path.with_name(self.path.name + suffix))
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")  # readers (and backups) never block writers
            db.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives power loss
            db.execute("PRAGMA busy_timeout=5000")
            schema = resources.files(__package__).joinpath("schema_sqlite.sql").read_text()
            db.executescript(schema)
            self._db = db

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc

    async def close(self) -> None:
        def disconnect() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    async def snapshot(self) -> Snapshot:
        def read(db: sqlite3.Connection) -> Snapshot:
            db.execute("BEGIN")
            try:
                (revision,) = db.execute("SELECT revision FROM store_revision").fetchone()
                flags = _select_flags(db)
            finally:
                db.execute("COMMIT")
            return Snapshot(revision, tuple(flags))

        return await self._run(read)

    async def list_flags(self) -> list[Flag]:
        return await self._run(_select_flags)

    async def get_flag(self, ref: str) -> Flag | None:
        return await self._run(lambda db: _find(db, ref))

    async def latest_revision(self) -> int:
        def read(db: sqlite3.Connection) -> int:
            return int(db.execute("SELECT revision FROM store_revision").fetchone()[0])

        return await self._run(read)

    async def changes_after(self, revision: int, limit: int) -> list[Change]:
        def read(db: sqlite3.Connection) -> list[Change]:
            rows = db.execute(
                "SELECT revision, action, flag_key, flag, actor, changed_at FROM flag_changes"
                " WHERE revision > ? ORDER BY revision LIMIT ?",
                (revision, limit),
            ).fetchall()
            return [
                Change(
                    revision=row[0],
                    action=row[1],
                    key=row[2],
                    flag=Flag.from_dict(json.loads(row[3])) if row[3] else None,
                    actor=row[4],
                    at=row[5],
                )
                for row in rows
            ]

        return await self._run(read)

    async def write(
        self,
        ref: str | None,
        decide: Decide,
        actor: str,
        at: str,
        remember: Remember | None = None,
    ) -> WriteResult:
        def transact(db: sqlite3.Connection) -> WriteResult:
            # IMMEDIATE takes the write lock first: a retry with the same Idempotency-Key
            # runs after the attempt it retries has committed, and replays it.
            db.execute("BEGIN IMMEDIATE")
            try:
                result = _write(db, ref, decide, actor, at, remember)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        try:
            return await self._run(transact)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey("a flag with this key already exists") from exc

    async def purge_idempotency_keys(self, now: float) -> int:
        def purge(db: sqlite3.Connection) -> int:
            return db.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (now,)).rowcount

        return await self._run(purge)


def _claim(db: sqlite3.Connection, remember: Remember, at: str) -> WriteResult | None:
    """Take the key for this write (None), or the response remembered under it."""
    claimed = db.execute(
        "INSERT INTO idempotency_keys (key, request_hash, status, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " request_hash = excluded.request_hash, status = excluded.status, response = NULL,"
        " created_at = excluded.created_at, expires_at = excluded.expires_at"
        " WHERE idempotency_keys.expires_at <= ? RETURNING 1",
        (remember.key, remember.request_hash, remember.status, at, remember.expires_at,
         remember.now),
    ).fetchone()  # fmt: skip
    if claimed:
        return None
    request_hash, status, response = db.execute(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE key = ?",
        (remember.key,),
    ).fetchone()
    return remember.replay(request_hash, status, json.loads(response) if response else None)


def _remember(db: sqlite3.Connection, remember: Remember | None, flag: Flag | None) -> None:
    if remember is not None and flag is not None:
        db.execute(
            "UPDATE idempotency_keys SET response = ? WHERE key = ?",
            (encode_json(flag.to_dict()).decode(), remember.key),
        )


def _write(
    db: sqlite3.Connection,
    ref: str | None,
    decide: Decide,
    actor: str,
    at: str,
    remember: Remember | None,
) -> WriteResult:
    if remember is not None:
        replay = _claim(db, remember, at)
        if replay is not None:
            return replay
    current = _find(db, ref) if ref is not None else None
    decision = decide(current)
    if isinstance(decision, Keep):
        _remember(db, remember, current)
        return WriteResult(current, None)
    if (
        isinstance(decision, Put)
        and decision.action == "created"
        and db.execute("SELECT 1 FROM flags WHERE key = ?", (decision.flag.key,)).fetchone()
    ):
        raise DuplicateKey(f"a flag with key '{decision.flag.key}' already exists")
    (revision,) = db.execute(
        "UPDATE store_revision SET revision = revision + 1 RETURNING revision"
    ).fetchone()
    if isinstance(decision, Remove):
        assert current is not None
        db.execute("DELETE FROM flags WHERE id = ?", (current.id,))
        change = Change(revision, "deleted", current.key, None, actor, at)
    else:
        assert isinstance(decision, Put)
        flag = decision.flag
        values = _flag_row(flag)
        if decision.action == "created":
            db.execute(
                f"INSERT INTO flags ({_FLAG_COLUMNS}, created_revision)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, revision),
            )
        else:
            db.execute(
                "UPDATE flags SET description = ?, enabled = ?, rollout_percentage = ?,"
                " targeted_users = ?, version = ?, updated_at = ? WHERE id = ?",
                (values[2], values[3], values[4], values[5], values[6], values[8], flag.id),
            )
        change = Change(revision, decision.action, flag.key, flag, actor, at)
    _remember(db, remember, change.flag)
    db.execute(
        "INSERT INTO flag_changes (revision, action, flag_key, flag, actor, changed_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            revision,
            change.action,
            change.key,
            encode_json(change.flag.to_dict()).decode() if change.flag else None,
            actor,
            at,
        ),
    )
    return WriteResult(change.flag, change)


def _flag_row(flag: Flag) -> tuple[object, ...]:
    return (
        flag.id,
        flag.key,
        flag.description,
        int(flag.enabled),
        flag.rollout_percentage,
        encode_json(list(flag.targeted_users)).decode(),
        flag.version,
        flag.created_at,
        flag.updated_at,
    )


def _row_to_flag(row: tuple) -> Flag:  # type: ignore[type-arg]
    return Flag(
        id=row[0],
        key=row[1],
        description=row[2],
        enabled=bool(row[3]),
        rollout_percentage=row[4],
        targeted_users=tuple(json.loads(row[5])),
        version=row[6],
        created_at=row[7],
        updated_at=row[8],
    )


def _select_flags(db: sqlite3.Connection) -> list[Flag]:
    rows = db.execute(f"SELECT {_FLAG_COLUMNS} FROM flags ORDER BY created_revision DESC")
    return [_row_to_flag(row) for row in rows]


def _find(db: sqlite3.Connection, ref: str) -> Flag | None:
    for column, value in ref_lookups(ref):
        row = db.execute(f"SELECT {_FLAG_COLUMNS} FROM flags WHERE {column} = ?", (value,))
        found = row.fetchone()
        if found:
            return _row_to_flag(found)
    return None
