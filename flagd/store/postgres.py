"""The scale-out store: PostgreSQL through an asyncpg pool.

Revisions come from a one-row counter that each write bumps inside its transaction. The
row lock on that counter is held until commit, so revisions are contiguous and commit in
order; to keep that global lock short, the bump and the change record are one statement,
the last one before COMMIT.

Connection-level failures surface as StoreUnavailable. The pool replaces broken
connections on its own, so a store whose server went away works again once it is back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import asyncpg

from ..core import Change, DuplicateKey, Flag, Snapshot, StoreUnavailable, encode_json
from .base import Decide, Keep, Put, Remember, Remove, WriteResult, ref_lookups

# Any constant works as long as every flagd uses the same one: it serialises schema setup.
_SCHEMA_LOCK = 0x666C6167_64000001

_COLUMNS = (
    "key, description, enabled, rollout_percentage, targeted_users, version, created_at, updated_at"
)
_SELECT_FLAG = f"SELECT id::text, {_COLUMNS} FROM flags"

# Failures that mean "the database cannot be reached or cannot serve right now", as
# opposed to a mistake in a statement. TimeoutError (an OSError) covers the connect,
# acquire and command timeouts; OperatorInterventionError covers the server shutting
# down or restarting (57P01..57P03) and cancelled statements.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing", ...
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # failed over to a standby
    # A connection the server has just ended (its FATAL message read, its EOF not yet)
    # is still handed out by the pool; using it fails with "another operation is in
    # progress". The pool discards it on release.
    asyncpg.exceptions.InternalClientError,
)
# InterfaceErrors that are our own mistakes, not the server's absence.
_NOT_UNAVAILABLE: tuple[type[BaseException], ...] = (asyncpg.DataError,)


def _unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, _UNAVAILABLE) and not isinstance(exc, _NOT_UNAVAILABLE)


# The revision bump and the change record, in one statement, as late as possible.
_APPEND_CHANGE = """
WITH next AS (
    UPDATE store_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision
){placed}
INSERT INTO flag_changes (revision, action, flag_key, flag, actor, changed_at)
SELECT revision, $1::text, $2::text, $3::jsonb, $4::text, $5::text FROM next
RETURNING revision
"""
_APPEND_CHANGE_ONLY = _APPEND_CHANGE.format(placed="")
# A created flag is ordered by the revision that created it, as in the SQLite store.
_APPEND_CHANGE_AND_PLACE = _APPEND_CHANGE.format(
    placed=""", placed AS (
    UPDATE flags SET created_revision = next.revision FROM next WHERE flags.id = $6::uuid
)"""
)


class PostgresStore:
    def __init__(
        self,
        database_url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
        acquire_timeout: float = 5.0,
    ) -> None:
        self._url = database_url
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._acquire_timeout = acquire_timeout
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({_redact(self._url)!r})"

    async def open(self) -> None:
        """Create the pool and apply schema.sql. Safe to call again after a failure."""
        if self._pool is not None:
            return
        schema = resources.files(__package__).joinpath("schema.sql").read_text()
        try:
            pool = await asyncpg.create_pool(
                self._url,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
                init=_init_connection,
                server_settings={"application_name": "flagd"},
            )
        except (*_UNAVAILABLE, asyncpg.PostgresError) as exc:
            # At start, a wrong password or a missing database is "unavailable" too:
            # the daemon reports not-ready rather than crashing.
            raise StoreUnavailable(self._explain("cannot connect to PostgreSQL", exc)) from exc
        try:
            async with pool.acquire(timeout=self._acquire_timeout) as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await conn.execute(schema)
        except BaseException as exc:
            pool.terminate()
            if isinstance(exc, (*_UNAVAILABLE, asyncpg.PostgresError)):
                message = self._explain("cannot apply the PostgreSQL schema", exc)
                raise StoreUnavailable(message) from exc
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=self._command_timeout)
        except (*_UNAVAILABLE, asyncpg.PostgresError):
            pool.terminate()

    async def snapshot(self) -> Snapshot:
        async with (
            self._connection() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            revision = await conn.fetchval("SELECT revision FROM store_revision WHERE id = 1")
            flags = await _select_flags(conn)
        return Snapshot(int(revision), tuple(flags))

    async def list_flags(self) -> list[Flag]:
        async with self._connection() as conn:
            return await _select_flags(conn)

    async def get_flag(self, ref: str) -> Flag | None:
        lookups = ref_lookups(ref)
        if not lookups:
            return None
        async with self._connection() as conn:
            return await _find(conn, lookups, lock=False)

    async def latest_revision(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval("SELECT revision FROM store_revision WHERE id = 1"))

    async def changes_after(self, revision: int, limit: int) -> list[Change]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT revision, action, flag_key, flag, actor, changed_at FROM flag_changes"
                " WHERE revision > $1 ORDER BY revision LIMIT $2",
                revision,
                limit,
            )
        return [
            Change(
                revision=row[0],
                action=row[1],
                key=row[2],
                flag=Flag.from_dict(row[3]) if row[3] is not None else None,
                actor=row[4],
                at=row[5],
            )
            for row in rows
        ]

    async def write(
        self,
        ref: str | None,
        decide: Decide,
        actor: str,
        at: str,
        remember: Remember | None = None,
    ) -> WriteResult:
        async with self._connection() as conn, conn.transaction():
            if remember is not None:
                # First, before any flag or the counter: a concurrent retry with this key
                # waits here for the attempt it retries, then replays it.
                replay = await _claim(conn, remember, at)
                if replay is not None:
                    return replay
            current = await _find(conn, ref_lookups(ref), lock=True) if ref is not None else None
            decision = decide(current)
            if isinstance(decision, Keep):
                await _remember(conn, remember, current)
                return WriteResult(current, None)
            if isinstance(decision, Remove):
                assert current is not None, "Remove needs a current flag"
                await conn.execute("DELETE FROM flags WHERE id = $1::uuid", current.id)
                key, flag, action = current.key, None, "deleted"
            else:
                assert isinstance(decision, Put)
                flag, action, key = decision.flag, decision.action, decision.flag.key
                await (_insert if action == "created" else _update)(conn, flag)
            await _remember(conn, remember, flag)
            record = (action, key, flag.to_dict() if flag else None, actor, at)
            if action == "created":
                assert flag is not None
                revision = await conn.fetchval(_APPEND_CHANGE_AND_PLACE, *record, flag.id)
            else:
                revision = await conn.fetchval(_APPEND_CHANGE_ONLY, *record)
        return WriteResult(flag, Change(int(revision), action, key, flag, actor, at))

    async def purge_idempotency_keys(self, now: float) -> int:
        async with self._connection() as conn:
            status = await conn.execute("DELETE FROM idempotency_keys WHERE expires_at <= $1", now)
        return int(status.rsplit(" ", 1)[-1])

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        try:
            conn = await pool.acquire(timeout=self._acquire_timeout)
        except Exception as exc:
            if _unavailable(exc):
                raise StoreUnavailable(self._explain("PostgreSQL is unavailable", exc)) from exc
            raise
        try:
            yield conn
        except Exception as exc:
            if not _unavailable(exc):
                raise
            # Drop the connection at once: resetting a connection to a server that has
            # stopped answering would wait out another timeout before we could report.
            # (If the pool has already taken it back, there is nothing left to drop.)
            with suppress(asyncpg.InterfaceError):
                conn.terminate()
            raise StoreUnavailable(self._explain("PostgreSQL is unavailable", exc)) from exc
        finally:
            try:
                await pool.release(conn)
            except Exception as exc:
                if not _unavailable(exc):
                    raise
                raise StoreUnavailable(self._explain("PostgreSQL is unavailable", exc)) from exc

    def _explain(self, what: str, exc: BaseException) -> str:
        # "cannot call Transaction.__aexit__(): the underlying connection is closed" says
        # less than the failure that closed it.
        while isinstance(exc, asyncpg.InterfaceError) and _unavailable(exc.__context__):
            exc = exc.__context__
        detail = str(exc).strip() or ("timed out" if isinstance(exc, TimeoutError) else "")
        message = f"{what} at {_redact(self._url)}: {type(exc).__name__}"
        if detail:
            message += f": {detail}"
        for secret in _secrets(self._url):
            message = message.replace(secret, "***")
        return message


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_json, decoder=json.loads
    )


def _encode_json(value: Any) -> str:
    return encode_json(value).decode()


_CLAIM = """
INSERT INTO idempotency_keys (key, request_hash, status, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key) DO UPDATE SET
    request_hash = EXCLUDED.request_hash, status = EXCLUDED.status, response = NULL,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE idempotency_keys.expires_at <= $6
RETURNING true
"""


async def _claim(conn: asyncpg.Connection, remember: Remember, at: str) -> WriteResult | None:
    """Take the key for this write (None), or the response remembered under it."""
    claimed = await conn.fetchval(
        _CLAIM,
        remember.key,
        remember.request_hash,
        remember.status,
        at,
        remember.expires_at,
        remember.now,
    )
    if claimed:
        return None
    # The key is held and committed (ON CONFLICT waited for its transaction): read it.
    row = await conn.fetchrow(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE key = $1",
        remember.key,
    )
    return remember.replay(row[0], row[1], row[2])


async def _remember(conn: asyncpg.Connection, remember: Remember | None, flag: Flag | None) -> None:
    if remember is not None and flag is not None:
        await conn.execute(
            "UPDATE idempotency_keys SET response = $2::jsonb WHERE key = $1",
            remember.key,
            flag.to_dict(),
        )


async def _insert(conn: asyncpg.Connection, flag: Flag) -> None:
    # created_revision is set to the creating revision by _APPEND_CHANGE_AND_PLACE. The
    # insert comes before the revision bump so that two creates of one key wait on each
    # other's key, never on the counter while holding a key (which could deadlock).
    inserted = await conn.fetchval(
        f"INSERT INTO flags (id, {_COLUMNS}, created_revision)"
        " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, 0)"
        " ON CONFLICT (key) DO NOTHING RETURNING true",
        flag.id,
        flag.key,
        flag.description,
        flag.enabled,
        flag.rollout_percentage,
        list(flag.targeted_users),
        flag.version,
        flag.created_at,
        flag.updated_at,
    )
    if not inserted:
        raise DuplicateKey(f"a flag with key '{flag.key}' already exists")


async def _update(conn: asyncpg.Connection, flag: Flag) -> None:
    await conn.execute(
        "UPDATE flags SET description = $2, enabled = $3, rollout_percentage = $4,"
        " targeted_users = $5, version = $6, updated_at = $7 WHERE id = $1::uuid",
        flag.id,
        flag.description,
        flag.enabled,
        flag.rollout_percentage,
        list(flag.targeted_users),
        flag.version,
        flag.updated_at,
    )


def _row_to_flag(row: asyncpg.Record) -> Flag:
    return Flag(
        id=row[0],
        key=row[1],
        description=row[2],
        enabled=row[3],
        rollout_percentage=row[4],
        targeted_users=tuple(row[5]),
        version=row[6],
        created_at=row[7],
        updated_at=row[8],
    )


async def _select_flags(conn: asyncpg.Connection) -> list[Flag]:
    rows = await conn.fetch(f"{_SELECT_FLAG} ORDER BY created_revision DESC")
    return [_row_to_flag(row) for row in rows]


async def _find(
    conn: asyncpg.Connection, lookups: list[tuple[str, str]], *, lock: bool
) -> Flag | None:
    suffix = " FOR UPDATE" if lock else ""
    for column, value in lookups:
        param = "$1::uuid" if column == "id" else "$1"
        row = await conn.fetchrow(f"{_SELECT_FLAG} WHERE {column} = {param}{suffix}", value)
        if row is not None:
            return _row_to_flag(row)
    return None


def _secrets(url: str) -> set[str]:
    """Every spelling of a password the URL carries (userinfo or ?password=)."""
    try:
        parts = urlsplit(url)
        found = {parts.password or ""}
        found.update(value for name, value in parse_qsl(parts.query) if name == "password")
    except ValueError:
        return set()
    found |= {unquote(value) for value in found}
    return {value for value in found if value}


def _redact(url: str) -> str:
    """The URL with its password (in the userinfo or the query) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostinfo}"
    query = "&".join(
        "password=***" if item.split("=", 1)[0] == "password" else item
        for item in parts.query.split("&")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query if parts.query else "", ""))
