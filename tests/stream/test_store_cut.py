"""An instance whose PostgreSQL connection is cut keeps streaming every change (issue 12).

Two instances on one database and one Redis channel; B reaches PostgreSQL through a TCP
proxy (tests/api/test_store_outage.py) that the test cuts. Writes go to A. B's stream
clients must receive every change, in order, with no gap and no duplicate, while B's store
stays cut; B can only learn them from Redis (the notification and the change log kept
there). Reconcile is made far slower than any wait here, so nothing arrives through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.api.test_store_outage import PG_ADDRESS, TcpProxy
from tests.daemon import SDK_KEY, Flagd

from .conftest import DaemonFactory
from .helpers import (
    admin_client,
    create,
    eventually,
    metric,
    revision_of,
    store_flags,
    toggle,
    update,
    wait_bus,
)
from .sse import Follower

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

NO_RECONCILE = {"FLAGD_RECONCILE_INTERVAL": "300", "FLAGD_ACCESS_LOG": "false"}
DEADLINE = 10.0  # generous: each change normally arrives within milliseconds
# Over the 64 KiB a notification carries inline: the record only travels in the log.
MANY_USERS = [f"user-{index:05d}" for index in range(8_000)]


class CommitCutProxy(TcpProxy):
    """A TcpProxy that can cut PostgreSQL at the worst moment: after a COMMIT reached the
    server and was applied, before its reply reaches flagd. The write is committed, and
    its instance sees a broken connection (503)."""

    def __init__(self) -> None:
        super().__init__(PG_ADDRESS)
        self.committed = threading.Event()
        self._armed = False
        self._swallowing: set[socket.socket] = set()

    def cut_at_next_commit(self) -> None:
        self.committed.clear()
        self._armed = True

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        towards_server = source.getsockname()[1] == self.port
        try:
            while data := source.recv(65536):
                if towards_server and self._armed and b"COMMIT" in data:
                    self._armed = False
                    self._swallowing.add(sink)  # the server's reply goes nowhere
                elif not towards_server and source in self._swallowing:
                    self.committed.set()  # the server answered: it has committed
                    self.stop()  # no more listening, every connection cut (this one too)
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    @property
    def listening(self) -> bool:
        return self._listener is not None


@pytest.fixture
def proxy() -> Iterator[CommitCutProxy]:
    tcp = CommitCutProxy()
    yield tcp
    tcp.stop()


async def two_instances(
    daemons: DaemonFactory, database: str, proxy: TcpProxy, redis_url: str, channel: str
) -> tuple[Flagd, Flagd]:
    """A on the database directly, B through the proxy; both subscribed to Redis."""
    host_port = f"{PG_ADDRESS[0]}:{PG_ADDRESS[1]}"
    assert host_port in database, database
    through_proxy = database.replace(host_port, f"127.0.0.1:{proxy.port}", 1)
    env = {**NO_RECONCILE, "FLAGD_REDIS_CHANNEL": channel}
    a, b = await asyncio.gather(
        asyncio.to_thread(daemons, database_url=database, redis_url=redis_url, extra_env=env),
        asyncio.to_thread(daemons, database_url=through_proxy, redis_url=redis_url, extra_env=env),
    )
    await wait_bus([a, b], up=True)
    return a, b


async def follow(daemon: Flagd, name: str) -> Follower:
    return await Follower(daemon.url, sdk_key=SDK_KEY, name=name).start()


def expect_in_order(follower: Follower, revision: int) -> None:
    ids = follower.fold.ids
    assert ids == list(range(0, revision + 1)), f"{follower.name}: ids {ids}"
    assert follower.connections == 1 and follower.ends == [], follower.ends


async def test_a_write_committed_as_the_connection_broke_does_not_freeze_its_instance(
    daemons: DaemonFactory,
    new_database,  # type: ignore[no-untyped-def]
    shared_redis: str,
    channel: str,
    proxy: CommitCutProxy,
) -> None:
    proxy.start()
    database = await asyncio.to_thread(new_database)
    a, b = await two_instances(daemons, database, proxy, shared_redis, channel)
    on_a, on_b = await follow(a, "A"), await follow(b, "B")
    try:
        async with admin_client(a) as admin_a, admin_client(b) as admin_b:
            await create(admin_a, "cut", enabled=False)
            await on_b.wait_revision(1, DEADLINE)

            # B writes revision 2; PostgreSQL commits it, B never hears back: 503, and
            # nobody has announced revision 2.
            proxy.cut_at_next_commit()
            assert_error(await admin_b.patch("/api/admin/flags/cut/toggle"), 503)
            assert proxy.committed.is_set() and not proxy.listening
            assert await revision_of(b) == 1

            # A writes on. A fills revision 2 from its store; B, whose store stays cut,
            # must get 2 and everything after it from Redis alone.
            await toggle(admin_a, "cut")  # 3
            await create(admin_a, "cut-2", rollout_percentage=10)  # 4
            await update(admin_a, "cut-2", targeted_users=MANY_USERS)  # 5: log only
            for _ in range(5):  # 6..10
                await toggle(admin_a, "cut")
            await admin_a.delete("/api/admin/flags/cut-2")  # 11
            store = await store_flags(admin_a)
            for follower in (on_a, on_b):
                await follower.wait_revision(11, DEADLINE)
                expect_in_order(follower, 11)
                assert follower.fold.flags == store
            assert not proxy.listening, "B's store must have stayed cut throughout"
            assert store["cut"]["version"] == 8, "B's toggle (revision 2) was committed"

            # The store comes back: B writes again, and everyone gets it.
            proxy.start()

            async def b_writes() -> bool:
                response = await admin_b.patch("/api/admin/flags/cut/toggle")
                if response.status_code == 200:
                    return True
                assert_error(response, 503, "store_unavailable")
                return False

            await eventually(b_writes, "a write on B once its store is back")
            store = await store_flags(admin_b)
            for follower in (on_a, on_b):
                await follower.wait_revision(12, DEADLINE)
                expect_in_order(follower, 12)
                assert follower.fold.flags == store
            assert await metric(b, "flagd_changes_held") == 0
    finally:
        for follower in (on_a, on_b):
            await follower.stop()


async def test_a_record_too_large_to_announce_inline_reaches_an_instance_without_store(
    daemons: DaemonFactory,
    new_database,  # type: ignore[no-untyped-def]
    shared_redis: str,
    channel: str,
    proxy: CommitCutProxy,
) -> None:
    proxy.start()
    database = await asyncio.to_thread(new_database)
    a, b = await two_instances(daemons, database, proxy, shared_redis, channel)
    on_b = await follow(b, "B")
    try:
        async with admin_client(a) as admin_a:
            await create(admin_a, "large", enabled=True)
            await on_b.wait_revision(1, DEADLINE)
            proxy.stop()
            await update(admin_a, "large", targeted_users=MANY_USERS)
            await toggle(admin_a, "large")
            await on_b.wait_revision(3, DEADLINE)
            expect_in_order(on_b, 3)
            assert on_b.fold.flags == await store_flags(admin_a)
            assert set(on_b.fold.flags["large"]["targeted_users"]) == set(MANY_USERS)
        async with httpx.AsyncClient(base_url=b.url, headers={"X-SDK-Key": SDK_KEY}) as sdk:
            assert (await sdk.get("/api/client/flags")).json()["revision"] == 3
    finally:
        await on_b.stop()
