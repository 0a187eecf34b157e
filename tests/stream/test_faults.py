"""Faults: Redis dies and returns, a daemon restarts — nothing is lost (SPEC section 6).

Each test runs its own redis-server on a free port, so killing it touches nobody else.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import DEADLINE
from tests.daemon import SDK_KEY

from .conftest import DaemonFactory, PrivateRedis
from .helpers import (
    admin_client,
    client_snapshot,
    create,
    revision_of,
    start_instances,
    store_flags,
    toggle,
    update,
    wait_bus,
)
from .sse import Follower

pytestmark = [pytest.mark.postgres]

FAST_RECONCILE = {"FLAGD_RECONCILE_INTERVAL": "0.5"}
# Far longer than any wait below (each waits at most DEADLINE): a change that reaches such an
# instance before its wait fails came over Redis. How fast it comes is bench/propagation.py's.
NO_RECONCILE = {"FLAGD_RECONCILE_INTERVAL": str(10 * DEADLINE)}


async def test_redis_outage_then_return(
    daemons: DaemonFactory,
    new_database,
    private_redis: PrivateRedis,
    channel: str,  # type: ignore[no-untyped-def]
) -> None:
    """A writes. B reconciles every 0.5 s; C (and A) only ever hear changes over Redis."""
    database = await asyncio.to_thread(new_database)
    a, b, c = await start_instances(
        daemons, database, private_redis.url, channel, NO_RECONCILE, FAST_RECONCILE, NO_RECONCILE
    )
    on_a = Follower(a.url, sdk_key=SDK_KEY, name="A")
    on_b = Follower(b.url, sdk_key=SDK_KEY, name="B")
    on_c = Follower(c.url, sdk_key=SDK_KEY, name="C")
    for follower in (on_a, on_b, on_c):
        await follower.start()
    try:
        async with admin_client(a) as admin_a, admin_client(c) as admin_c:
            # Baseline: live fan-out A → C.
            await create(admin_a, "outage", enabled=False)
            await on_c.wait_revision(1)

            await asyncio.to_thread(private_redis.stop)
            await wait_bus([a, b, c], up=False)

            # Writes still succeed, and A's own subscribers get them without any Redis.
            for revision in range(2, 12):
                if revision % 2:
                    await update(admin_a, "outage", description=f"during outage {revision}")
                else:
                    await toggle(admin_a, "outage")
                await on_a.wait_revision(revision)
            store = await store_flags(admin_a)

            # B converges through its reconcile.
            await on_b.wait_revision(11)
            assert on_b.fold.flags == store

            # Redis returns on the same port: every instance resubscribes by itself, and
            # the resync on resubscribe brings C up to date.
            await asyncio.to_thread(private_redis.start)
            await wait_bus([a, b, c], up=True)
            await on_c.wait_revision(11)
            assert on_c.fold.flags == store

            # Live fan-out is back, both ways: C and A never reconcile within the wait.
            for revision, (admin, receivers) in enumerate(
                [(admin_a, [on_c, on_b]), (admin_c, [on_a, on_b]), (admin_a, [on_c])], start=12
            ):
                await toggle(admin, "outage")
                for follower in receivers:
                    await follower.wait_revision(revision)
            store = await store_flags(admin_a)
        for follower in (on_a, on_b, on_c):
            await follower.wait_revision(14)
            assert follower.fold.flags == store
            assert follower.connections == 1 and follower.ends == []
            assert follower.fold.ids == list(range(0, 15))
    finally:
        for follower in (on_a, on_b, on_c):
            await follower.stop()


async def test_daemon_restart_clients_resume_from_last_event_id(
    daemons: DaemonFactory,
    new_database,
    private_redis: PrivateRedis,
    channel: str,  # type: ignore[no-untyped-def]
) -> None:
    database = await asyncio.to_thread(new_database)
    # No reconcile within the waits: what reaches A's client live came over Redis.
    a, b = await start_instances(
        daemons, database, private_redis.url, channel, NO_RECONCILE, NO_RECONCILE
    )
    resuming = Follower(a.url, sdk_key=SDK_KEY, resume=True, reconnect_delay=0.05, name="A")
    await resuming.start()
    try:
        async with admin_client(b) as admin_b:
            async with admin_client(a) as admin_a:
                await create(admin_a, "restart-1", rollout_percentage=20)
                await create(admin_a, "restart-2")
                await toggle(admin_a, "restart-1")
            await resuming.wait_revision(3)

            await asyncio.to_thread(a.stop)
            # Written while A is down: only the change log can give them to A's clients.
            await update(admin_b, "restart-1", targeted_users=["alice", "bob"])
            await toggle(admin_b, "restart-2")
            await create(admin_b, "restart-3", enabled=True)
            await admin_b.delete("/api/admin/flags/restart-2")
            await update(admin_b, "restart-3", description="while A was down")
            assert await revision_of(b) == 8
            await asyncio.to_thread(a.start)
            await wait_bus([a], up=True)

            await resuming.wait_revision(8)
            assert await store_flags(admin_b) == resuming.fold.flags
            # Then live again, including changes made on the other instance.
            await toggle(admin_b, "restart-3")
            await resuming.wait_revision(9)
            assert await store_flags(admin_b) == resuming.fold.flags

        assert resuming.ends[0] == "clean", resuming.ends
        assert resuming.connections == 2, resuming.ends
        assert resuming.sent_last_event_ids[0] is None
        assert resuming.sent_last_event_ids[-1] == "3", resuming.sent_last_event_ids
        assert resuming.fold.snapshots == 1, "the reconnect got a snapshot, not the replay"
        assert resuming.fold.ids == list(range(0, 10)), "missed or duplicated changes"
        assert (await client_snapshot(a))["revision"] == 9
    finally:
        await resuming.stop()
