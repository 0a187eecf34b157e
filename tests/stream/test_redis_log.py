"""The change log kept on Redis (flagd/bus/redis.py): full records by revision, bounded.

Real Redis, a channel of the test's own; the key is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from flagd.bus.redis import MAX_INLINE_BYTES, RedisBus, log_key
from flagd.core import Change, Snapshot, StoreUnavailable, encode_json, parse_create, utc_now
from flagd.core.mutations import new_flag
from flagd.state import FlagState, StateSync
from flagd.store.sqlite import SQLiteStore

from .helpers import eventually

pytestmark = pytest.mark.redis

LOG_LENGTH = 5


def change(revision: int, users: int = 0) -> Change:
    body = {"key": f"k{revision}", "targeted_users": [f"u{index:06d}" for index in range(users)]}
    flag = new_flag(parse_create(body), str(uuid.uuid4()), utc_now())
    return Change(revision, "created", flag.key, flag, "test", utc_now())


@pytest.fixture
async def bus(shared_redis: str, channel: str) -> AsyncIterator[tuple[RedisBus, list]]:
    """A started RedisBus keeping LOG_LENGTH records; yields it and the notifications
    it received (revision, change or None)."""
    received: list[tuple[int, Change | None]] = []
    started = asyncio.Event()

    async def deliver(revision: int, record: Change | None) -> None:
        received.append((revision, record))

    async def resync() -> None:
        started.set()

    bus = RedisBus(shared_redis, channel, LOG_LENGTH)
    await bus.start(deliver, resync)
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield bus, received
    finally:
        await bus.close()
        client = redis.Redis.from_url(shared_redis)
        await client.delete(log_key(channel))
        await client.aclose()


async def published(bus: RedisBus, count: int) -> None:
    async def check() -> bool:
        return bus.published >= count

    await eventually(check, f"{count} changes published")


async def test_the_log_keeps_the_newest_revisions_whatever_the_publish_order(
    bus: tuple[RedisBus, list],
) -> None:
    log, _ = bus
    # Revisions reach Redis out of order when instances publish concurrently.
    order = [1, 2, 4, 3, 5, 7, 6, 8, 9, 11, 10, 12]
    for revision in order:
        await log.publish(change(revision))
    await published(log, len(order))
    assert [c.revision for c in await log.changes_after(0, 100)] == [8, 9, 10, 11, 12]
    assert [c.revision for c in await log.changes_after(9, 2)] == [10, 11]
    assert await log.changes_after(12, 100) == []
    # Publishing a record again (a repair) neither duplicates nor grows the log.
    again = (await log.changes_after(11, 1))[0]
    await log.publish(again)
    await published(log, len(order) + 1)
    assert [c.revision for c in await log.changes_after(0, 100)] == [8, 9, 10, 11, 12]
    client = redis.Redis.from_url(log.url)
    try:
        assert await client.zcard(log.log_key) == LOG_LENGTH
        assert await client.ttl(log.log_key) > 0
    finally:
        await client.aclose()


async def test_a_large_record_is_announced_by_revision_and_kept_whole_in_the_log(
    bus: tuple[RedisBus, list],
) -> None:
    log, received = bus
    small, large = change(1), change(2, users=8_000)
    await log.publish(small)
    await log.publish(large)
    await published(log, 2)

    async def both_arrived() -> bool:
        return len(received) >= 2

    await eventually(both_arrived, "both notifications")
    assert received == [(1, small), (2, None)]
    assert len(encode_json(large.to_dict())) > MAX_INLINE_BYTES
    assert await log.changes_after(1, 10) == [large]


async def test_an_unreachable_log_reads_as_empty() -> None:
    log = RedisBus("redis://127.0.0.1:1/0", f"flagd-test-{uuid.uuid4().hex}")

    async def deliver(revision: int, record: Change | None) -> None: ...

    async def resync() -> None: ...

    await log.start(deliver, resync)
    try:
        assert await log.changes_after(0, 10) == []
        assert not log.healthy
    finally:
        await log.close()


async def test_reconcile_without_a_store_catches_up_from_the_log(
    bus: tuple[RedisBus, list], tmp_path: Path
) -> None:
    """Notifications missed while the store is down (say, Redis reconnected): the resync
    that follows reads the log, since the store cannot answer."""
    log, _ = bus
    records = [change(revision) for revision in (1, 2, 3)]
    for record in records:
        await log.publish(record)
    await published(log, 3)
    state = FlagState()
    state.load(Snapshot(0, ()))
    applied: list[int] = []
    state.add_listener(lambda c: applied.append(c.revision))
    closed_store = SQLiteStore(tmp_path / "never-opened.sqlite3")
    sync = StateSync(closed_store, state, log)
    with pytest.raises(StoreUnavailable):
        await sync.reconcile()
    assert applied == [1, 2, 3]
    assert not sync.store_up
