"""Two flagd instances on one PostgreSQL database and one Redis (SPEC section 6)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import DEADLINE
from tests.daemon import SDK_KEY, Flagd

from .conftest import DaemonFactory
from .helpers import (
    admin_client,
    client_snapshot,
    create,
    start_instances,
    store_flags,
    toggle,
)
from .sse import Follower

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

WRITES = 500
WRITERS = 6
KEYS = [f"multi-{index:02d}" for index in range(20)]


async def followers(daemon: Flagd, count: int, name: str) -> list[Follower]:
    made = [Follower(daemon.url, sdk_key=SDK_KEY, name=f"{name}{i}") for i in range(count)]
    for follower in made:
        await follower.start()
    return made


async def test_write_on_one_instance_reaches_the_others_subscribers(
    daemons: DaemonFactory,
    new_database,
    shared_redis: str,
    channel: str,  # type: ignore[no-untyped-def]
) -> None:
    # No reconcile within a wait (each waits at most DEADLINE): only Redis can bring the
    # change over before the wait fails. How fast it comes is bench/propagation.py's question.
    database = await asyncio.to_thread(new_database)
    slow_reconcile = {"FLAGD_RECONCILE_INTERVAL": str(10 * DEADLINE)}
    a, b = await start_instances(
        daemons, database, shared_redis, channel, slow_reconcile, slow_reconcile
    )
    on_a, on_b = await followers(a, 2, "a"), await followers(b, 2, "b")
    try:
        async with admin_client(a) as admin_a, admin_client(b) as admin_b:
            for writer, revision in ((admin_a, 1), (admin_b, 2), (admin_a, 3)):
                if revision == 1:
                    flag = await create(writer, "crossing", enabled=True)
                else:
                    flag = await toggle(writer, "crossing")
                for follower in on_a + on_b:
                    await follower.wait_revision(revision)
                    assert follower.fold.flags["crossing"] == flag
            assert (await client_snapshot(b))["flags"] == [flag]
    finally:
        for follower in on_a + on_b:
            await follower.stop()


@dataclass
class Writes:
    target: int
    done: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    halfway: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, outcome: str, changed: bool) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if changed:
            self.done += 1
            if self.done >= self.target // 2:
                self.halfway.set()


async def writer(index: int, clients: list[httpx.AsyncClient], writes: Writes) -> None:
    """Random create/update/toggle/delete over shared keys, alternating between instances.
    Conflicts with other writers (409 on create, 404 on a deleted key) are expected."""
    rng = random.Random(index)
    n = 0
    while writes.done < writes.target:
        n += 1
        admin = clients[(n + index) % len(clients)]
        key = rng.choice(KEYS)
        action = rng.choices(["create", "update", "toggle", "delete"], [3, 4, 3, 2])[0]
        if action == "create":
            users = [f"u{rng.randrange(100)}" for _ in range(rng.randrange(4))]
            body = {"key": key, "enabled": rng.random() < 0.5, "targeted_users": users}
            response = await admin.post("/api/admin/flags", json=body)
            expected = {201: True, 409: False}
        elif action == "update":
            body = {
                "description": f"writer {index} write {n}",  # always a real change
                "rollout_percentage": rng.randrange(101),
            }
            response = await admin.put(f"/api/admin/flags/{key}", json=body)
            expected = {200: True, 404: False}
        elif action == "toggle":
            response = await admin.patch(f"/api/admin/flags/{key}/toggle")
            expected = {200: True, 404: False}
        else:
            response = await admin.delete(f"/api/admin/flags/{key}")
            expected = {204: True, 404: False}
        assert response.status_code in expected, (
            f"{action} {key} on {admin.base_url}: {response.status_code} {response.text[:300]}"
        )
        writes.count(f"{action} {response.status_code}", expected[response.status_code])


async def test_concurrent_writes_on_both_instances_converge_exactly(
    daemons: DaemonFactory,
    new_database,
    shared_redis: str,
    channel: str,  # type: ignore[no-untyped-def]
) -> None:
    database = await asyncio.to_thread(new_database)
    a, b = await start_instances(daemons, database, shared_redis, channel, {}, {})
    early = await followers(a, 2, "a") + await followers(b, 2, "b")
    late: list[Follower] = []
    writes = Writes(WRITES)

    async def join_halfway() -> None:
        await writes.halfway.wait()
        late.extend(await followers(a, 1, "late-a") + await followers(b, 1, "late-b"))

    try:
        async with admin_client(a) as admin_a, admin_client(b) as admin_b:
            joiner = asyncio.create_task(join_halfway())
            await asyncio.gather(
                *(writer(index, [admin_a, admin_b], writes) for index in range(WRITERS))
            )
            await joiner
            total = writes.done
            assert total >= WRITES, writes.outcomes
            store = await store_flags(admin_a)
            assert await store_flags(admin_b) == store

        for follower in early + late:
            await follower.wait_revision(total)
            assert follower.fold.revision == total
            assert follower.fold.flags == store, f"{follower.name} does not match the store"
            assert follower.ends == [] and follower.connections == 1
            ids = follower.fold.ids
            assert ids == list(range(ids[0], total + 1)), f"{follower.name}: ids not contiguous"
        for follower in early:
            assert follower.fold.ids[0] == 0 and follower.fold.snapshots == 1
            assert follower.fold.changes == total
        for follower in late:
            assert follower.fold.snapshots == 1 and follower.fold.ids[0] > 0

        for daemon in (a, b):
            memory = await client_snapshot(daemon)
            assert memory["revision"] == total
            assert {flag["key"]: flag for flag in memory["flags"]} == store
    finally:
        for follower in early + late:
            await follower.stop()
