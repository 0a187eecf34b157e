"""The Store contract, run against both implementations (SQLite and PostgreSQL).

Then the PostgreSQL store's own concerns: concurrent schema setup, fail-fast when the
server is unreachable, and recovery once it is back, without recreating the store.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from flagd.core import (
    Change,
    DuplicateKey,
    Flag,
    NotFound,
    StoreUnavailable,
    VersionConflict,
    parse_create,
    parse_update,
)
from flagd.core.mutations import new_flag, patched_flag, toggled_flag
from flagd.store import Store
from flagd.store.base import Decide, Keep, Put, Remove
from flagd.store.postgres import PostgresStore
from flagd.store.sqlite import SQLiteStore
from tests.conftest import DEADLINE

T0 = "2024-05-01T12:00:00.000Z"
T1 = "2024-05-01T12:00:01.000Z"
ACTOR = "admin"

MakeStore = Callable[[], Store]


# --- decide functions, as the service builds them ------------------------------------


def creating(body: dict[str, object], now: str = T0, flag_id: str | None = None) -> Decide:
    patch = parse_create(body)

    def decide(current: Flag | None) -> Put:
        assert current is None
        return Put(new_flag(patch, flag_id or str(uuid.uuid4()), now), "created")

    return decide


def updating(body: dict[str, object], now: str = T1) -> Decide:
    def decide(current: Flag | None) -> Put | Keep:
        if current is None:
            raise NotFound("no such flag")
        flag = patched_flag(current, parse_update(body, current.key), now)
        return Keep() if flag is None else Put(flag, "updated")

    return decide


def toggling(now: str = T1) -> Decide:
    def decide(current: Flag | None) -> Put:
        if current is None:
            raise NotFound("no such flag")
        return Put(toggled_flag(current, now), "toggled")

    return decide


def deleting(current: Flag | None) -> Remove:
    if current is None:
        raise NotFound("no such flag")
    return Remove()


async def create(store: Store, key: str, **fields: object) -> Flag:
    result = await store.write(None, creating({"key": key, **fields}), ACTOR, T0)
    assert result.flag is not None
    return result.flag


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """A factory of store objects on one fresh, empty database (not yet opened)."""
    if request.param == "sqlite":
        path = tmp_path / "flagd.sqlite3"
        return lambda: SQLiteStore(path)
    url = request.getfixturevalue("new_database")()
    return lambda: PostgresStore(url)


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[Store]:
    opened = make_store()
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def pg_url(new_database: Callable[[], str]) -> str:
    return new_database()


# --- reads by ref ----------------------------------------------------------------------


async def test_create_then_get_by_id_and_by_key(store: Store) -> None:
    result = await store.write(None, creating({"key": "checkout", "enabled": True}), ACTOR, T0)
    flag = result.flag
    assert flag is not None
    assert (flag.key, flag.enabled, flag.version, flag.rollout_percentage) == (
        "checkout",
        True,
        1,
        0,
    )
    assert result.change == Change(1, "created", "checkout", flag, ACTOR, T0)
    assert await store.get_flag(flag.id) == flag
    assert await store.get_flag(flag.id.upper()) == flag
    assert await store.get_flag("checkout") == flag
    assert await store.get_flag("Checkout") is None  # keys are case-sensitive
    assert await store.get_flag("missing") is None
    assert await store.get_flag(str(uuid.uuid4())) is None


async def test_uuid_shaped_key_is_found_by_key_and_ids_win(store: Store) -> None:
    other = await create(store, "other")
    uuid_key = str(uuid.uuid4())
    by_key = await create(store, uuid_key)
    assert await store.get_flag(uuid_key) == by_key
    # A flag whose key is another flag's id: the id is tried first.
    shadow = await create(store, other.id)
    assert await store.get_flag(other.id) == other
    assert await store.get_flag(shadow.id) == shadow
    # Writes resolve refs the same way.
    result = await store.write(uuid_key, toggling(), ACTOR, T1)
    assert result.flag is not None and result.flag.id == by_key.id


@pytest.mark.parametrize(
    "ref",
    ["../", "%00", "a" * 65, "ü", "\x00", "", " ", "a b", "a/b", "'; DROP TABLE flags; --"],
)
async def test_malformed_refs_name_nothing(store: Store, ref: str) -> None:
    await create(store, "present")
    assert await store.get_flag(ref) is None
    seen: list[Flag | None] = []

    def decide(current: Flag | None) -> Keep:
        seen.append(current)
        return Keep()

    assert (await store.write(ref, decide, ACTOR, T1)).change is None
    assert seen == [None]


# --- lists and snapshots ----------------------------------------------------------------


async def test_list_is_newest_first_and_updates_do_not_reorder(store: Store) -> None:
    for key in ("first", "second", "third"):
        await create(store, key)
    await store.write("first", toggling(), ACTOR, T1)
    await store.write("second", updating({"description": "changed"}), ACTOR, T1)
    assert [flag.key for flag in await store.list_flags()] == ["third", "second", "first"]
    snapshot = await store.snapshot()
    assert snapshot.revision == 5
    assert [flag.key for flag in snapshot.flags] == ["third", "second", "first"]
    assert list(snapshot.flags) == await store.list_flags()


async def test_empty_store(store: Store) -> None:
    assert await store.latest_revision() == 0
    assert await store.list_flags() == []
    assert (await store.snapshot()).revision == 0
    assert await store.changes_after(0, 100) == []


# --- writes and the change log -------------------------------------------------------------


async def test_duplicate_key_consumes_no_revision(store: Store) -> None:
    first = await create(store, "dup")
    with pytest.raises(DuplicateKey, match="dup"):
        await create(store, "dup", description="second try")
    assert await store.latest_revision() == 1
    assert await store.list_flags() == [first]
    other = await store.write(None, creating({"key": "next"}), ACTOR, T0)
    assert other.change is not None and other.change.revision == 2


async def test_concurrent_creates_of_one_key(store: Store) -> None:
    results = await asyncio.gather(
        *(store.write(None, creating({"key": "race"}), ACTOR, T0) for _ in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(result, BaseException) for result in results) == 1
    assert all(
        isinstance(result, DuplicateKey) for result in results if isinstance(result, BaseException)
    )
    assert await store.latest_revision() == 1
    assert [change.revision for change in await store.changes_after(0, 100)] == [1]


async def test_update_toggle_delete_record_contiguous_changes(store: Store) -> None:
    created = await create(store, "life", description="d", targeted_users=["u1"])
    updated = (
        await store.write(
            "life",
            updating({"rollout_percentage": 30, "targeted_users": ["u2", "u1"]}),
            "alice",
            T1,
        )
    ).flag
    toggled = (await store.write(created.id, toggling("2024-05-01T12:00:02.000Z"), "bob", T1)).flag
    assert updated is not None and toggled is not None
    assert (updated.version, updated.rollout_percentage, updated.targeted_users) == (
        2,
        30,
        ("u2", "u1"),
    )
    assert updated.created_at == T0 and updated.updated_at == T1
    assert (toggled.version, toggled.enabled, toggled.updated_at) == (
        3,
        True,
        "2024-05-01T12:00:02.000Z",
    )
    deleted = await store.write("life", deleting, "carol", "2024-05-01T12:00:03.000Z")
    assert deleted.flag is None
    assert deleted.change == Change(4, "deleted", "life", None, "carol", "2024-05-01T12:00:03.000Z")
    assert await store.get_flag("life") is None
    assert await store.get_flag(created.id) is None
    assert await store.changes_after(0, 100) == [
        Change(1, "created", "life", created, ACTOR, T0),
        Change(2, "updated", "life", updated, "alice", T1),
        Change(3, "toggled", "life", toggled, "bob", T1),
        deleted.change,
    ]
    assert await store.latest_revision() == 4


async def test_keep_records_nothing(store: Store) -> None:
    flag = await create(store, "steady", description="same", rollout_percentage=10)
    result = await store.write("steady", updating({"description": "same"}), ACTOR, T1)
    assert result.flag == flag and result.change is None
    result = await store.write("steady", updating({}), ACTOR, T1)
    assert result.flag == flag and result.change is None
    assert await store.latest_revision() == 1
    assert await store.get_flag("steady") == flag


async def test_decide_raising_rolls_back(store: Store) -> None:
    flag = await create(store, "guarded")

    def stale(current: Flag | None) -> Put:
        raise VersionConflict("flag is at version 1")

    with pytest.raises(VersionConflict):
        await store.write("guarded", stale, ACTOR, T1)
    with pytest.raises(NotFound):
        await store.write("absent", toggling(), ACTOR, T1)
    assert await store.latest_revision() == 1
    assert await store.get_flag("guarded") == flag
    # The store is usable afterwards (no transaction or lock left behind).
    toggled = await store.write("guarded", toggling(), ACTOR, T1)
    assert toggled.change is not None and toggled.change.revision == 2


async def test_changes_after_orders_and_limits(store: Store) -> None:
    for index in range(5):
        await create(store, f"k{index}")
    assert [c.revision for c in await store.changes_after(0, 3)] == [1, 2, 3]
    assert [c.revision for c in await store.changes_after(2, 10)] == [3, 4, 5]
    assert [c.key for c in await store.changes_after(3, 1)] == ["k3"]
    assert await store.changes_after(5, 10) == []
    assert await store.changes_after(99, 10) == []


async def test_deleted_and_recreated_key_starts_at_version_1(store: Store) -> None:
    old = await create(store, "phoenix")
    await store.write("phoenix", toggling(), ACTOR, T1)
    await store.write("phoenix", deleting, ACTOR, T1)
    await create(store, "later")
    new = await create(store, "phoenix", description="reborn")
    assert new.version == 1 and new.id != old.id and not new.enabled
    assert await store.get_flag("phoenix") == new
    assert await store.get_flag(old.id) is None
    assert [flag.key for flag in await store.list_flags()] == ["phoenix", "later"]
    assert [c.action for c in await store.changes_after(0, 10)] == [
        "created",
        "toggled",
        "deleted",
        "created",
        "created",
    ]


async def test_concurrent_toggles_are_serialised(store: Store) -> None:
    flag = await create(store, "hot")
    results = await asyncio.gather(*(store.write("hot", toggling(), ACTOR, T1) for _ in range(50)))
    final = await store.get_flag("hot")
    assert final is not None and final.version == 51 and final.enabled is flag.enabled
    revisions = sorted(result.change.revision for result in results if result.change)
    assert revisions == list(range(2, 52))
    changes = await store.changes_after(1, 100)
    assert [c.revision for c in changes] == list(range(2, 52))
    assert [c.flag.version for c in changes if c.flag] == list(range(2, 52))
    assert await store.latest_revision() == 51


async def test_snapshots_are_consistent_under_writes(store: Store) -> None:
    await create(store, "seed")

    async def writer(index: int) -> None:
        await create(store, f"w{index}")
        await store.write(f"w{index}", toggling(), ACTOR, T1)

    tasks = [writer(index) for index in range(10)] + [store.snapshot() for _ in range(10)]
    results = await asyncio.gather(*tasks)
    snapshots = [result for result in results if result is not None]
    snapshots.append(await store.snapshot())
    log = await store.changes_after(0, 1000)
    for snapshot in snapshots:
        state: dict[str, Flag] = {}
        for change in log[: snapshot.revision]:
            if change.flag is None:
                state.pop(change.key, None)
            else:
                state[change.key] = change.flag
        assert {flag.key: flag for flag in snapshot.flags} == state
    assert snapshots[-1].revision == 21


# --- persistence and round-trips ----------------------------------------------------------


async def test_state_survives_close_and_reopen(make_store: MakeStore) -> None:
    first = make_store()
    await first.open()
    await create(first, "kept", description="keep me")
    await create(first, "gone")
    await first.write("kept", toggling(), ACTOR, T1)
    await first.write("gone", deleting, ACTOR, T1)
    before = (await first.snapshot(), await first.changes_after(0, 100))
    await first.close()

    second = make_store()
    await second.open()  # applies the schema again: idempotent
    try:
        assert (await second.snapshot(), await second.changes_after(0, 100)) == before
        assert await second.latest_revision() == 4
        result = await second.write(None, creating({"key": "after"}), ACTOR, T0)
        assert result.change is not None and result.change.revision == 5
    finally:
        await second.close()


async def test_largest_targeted_users_round_trip(store: Store) -> None:
    users = [f"user-{index:05d}-".ljust(256, "x") for index in range(10_000)]
    flag = await create(store, "big", targeted_users=users)
    assert flag.targeted_users == tuple(users)
    assert await store.get_flag("big") == flag
    assert (await store.list_flags())[0] == flag
    (change,) = await store.changes_after(0, 1)
    assert change.flag == flag
    shrunk = await store.write("big", updating({"targeted_users": []}), ACTOR, T1)
    assert shrunk.flag is not None and shrunk.flag.targeted_users == ()
    assert await store.get_flag("big") == shrunk.flag


async def test_non_ascii_text_round_trips(store: Store) -> None:
    description = "Ünïcödé ✓ 日本語 🚀 " + "ß" * 200
    flag = await create(store, "intl", description=description, targeted_users=["ユーザー", "😀"])
    assert await store.get_flag("intl") == flag
    assert (await store.snapshot()).flags == (flag,)
    (change,) = await store.changes_after(0, 1)
    assert change.flag == flag
    timestamp = "2024-05-01T14:00:00.123456+02:00"  # any RFC 3339 text, byte-identical
    updated = await store.write("intl", updating({"description": "é"}, now=timestamp), ACTOR, T1)
    assert updated.flag is not None
    fetched = await store.get_flag("intl")
    assert fetched is not None and fetched.updated_at == timestamp and fetched.description == "é"


# --- PostgreSQL only ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://flagd:hunter2@db.example:5432/flagd",
        "postgres://flagd:hunter%402@db.example/flagd?sslmode=require",
        "postgresql://flagd@db.example/flagd?password=hunter2&sslmode=disable",
    ],
)
def test_repr_never_shows_the_password(url: str) -> None:
    shown = repr(PostgresStore(url))
    assert "hunter" not in shown and "db.example" in shown and "***" in shown


@pytest.mark.postgres
async def test_two_instances_apply_the_schema_at_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(4)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        results = await asyncio.gather(*(create(s, f"s{i}") for i, s in enumerate(stores)))
        assert len(results) == 4
        assert await stores[0].latest_revision() == 4
    finally:
        await asyncio.gather(*(store.close() for store in stores))


@pytest.mark.postgres
async def test_unreachable_server_fails_fast_then_open_can_be_retried(
    postgres_server: str,
) -> None:
    proxy = TcpProxy(target_port=5432)
    url = f"postgresql://postgres:s3cr%40t-pw@127.0.0.1:{proxy.port}/postgres?sslmode=disable"
    store = PostgresStore(url)
    assert "s3cr" not in repr(store) and "***" in repr(store)
    # Fails rather than hangs (the deadline is generous; how fast is not a test's question).
    with pytest.raises(StoreUnavailable) as caught:
        async with asyncio.timeout(DEADLINE):
            await store.open()
    assert "s3cr" not in str(caught.value)
    with pytest.raises(StoreUnavailable):
        await store.get_flag("anything")  # not open: unavailable, not a crash

    await proxy.start()
    try:
        await store.open()  # the same object, once the server is reachable
        await store.latest_revision()
    finally:
        await store.close()
        await proxy.stop()


@pytest.mark.postgres
async def test_recovers_when_the_server_goes_away_and_comes_back(pg_url: str) -> None:
    port = int(pg_url.rsplit(":", 1)[1].split("/", 1)[0])
    proxy = TcpProxy(target_port=port)
    await proxy.start()
    store = PostgresStore(pg_url.replace(f":{port}/", f":{proxy.port}/"))
    await store.open()
    try:
        await create(store, "survivor")
        await proxy.stop()  # every connection cut, nothing listening

        for operation in (
            lambda: store.write("survivor", toggling(), ACTOR, T1),
            lambda: store.get_flag("survivor"),
            store.snapshot,
            store.latest_revision,
        ):
            with pytest.raises(StoreUnavailable):
                async with asyncio.timeout(DEADLINE):
                    await operation()

        await proxy.start()
        result = await store.write("survivor", toggling(), ACTOR, T1)
        assert result.change is not None and result.change.revision == 2
        assert (await store.snapshot()).revision == 2
    finally:
        await store.close()
        await proxy.stop()


@pytest.mark.postgres
async def test_recovers_when_backends_are_terminated(pg_url: str, postgres_server: str) -> None:
    admin_url = postgres_server
    store = PostgresStore(pg_url)
    await store.open()
    try:
        await create(store, "survivor")
        # A few pooled connections, then the server ends them all (SQLSTATE 57P01, what a
        # server shutting down or a DBA's pg_terminate_backend sends).
        await asyncio.gather(*(store.snapshot() for _ in range(5)))
        terminated = await terminate_backends(pg_url, admin_url)
        # A pooled connection whose FATAL message has arrived but not yet its EOF can
        # still be handed out once: such a write fails as StoreUnavailable (never
        # anything else), and the pool replaces the connection by itself.
        failures = 0
        while True:
            try:
                result = await store.write("survivor", toggling(), ACTOR, T1)
                break
            except StoreUnavailable:
                failures += 1
                assert failures <= terminated
        assert result.change is not None
        assert await store.latest_revision() == result.change.revision == 2
    finally:
        await store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def terminate_backends(url: str, admin_url: str) -> int:
    database = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(admin_url)
    try:
        pids = [
            row["pid"]
            for row in await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", database
            )
        ]
        assert pids, "the store had no connections to terminate"
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", pids)
        # Wait on the real condition: those backends are gone (the pool may already be
        # opening new ones, which is the point).
        for _ in range(500):
            alive = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                pids,
            )
            if alive == 0:
                return len(pids)
            await asyncio.sleep(0.01)
        raise AssertionError("backends did not terminate")
    finally:
        await admin.close()


class TcpProxy:
    """A TCP forwarder to the PostgreSQL server that can be "switched off": stop() cuts
    every connection and stops listening, so clients see the server vanish."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_writer)),
            asyncio.ensure_future(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        for pump in pumps:
            pump.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
