"""Redis between flagd instances: pub/sub for notifications, a sorted set for the records.

Every published change goes, in one round trip, into the log `<channel>:log` (a sorted
set: score = revision, member = the full change record) and out on the pub/sub channel
(the full record when it is at most 64 KiB, else only its revision). An instance that
sees a gap, or whose store is unreachable, reads the missing records back from the log by
revision (ZRANGEBYSCORE), so it keeps up with the others through a store outage.

Why a sorted set keyed by revision rather than a stream: instances commit revisions in
order but publish them concurrently, so they reach Redis out of order. A stream's ids must
increase, so `<revision>-0` ids would reject a late revision, and auto ids would order the
log by arrival, not revision. Scores need no order on insert, a range read by revision is
one command, re-adding a record is a no-op, and ZREMRANGEBYRANK keeps exactly the newest
`log_length` revisions however they arrived.

Publishing goes through a bounded queue drained by one task, so a slow or absent Redis
never delays or fails a write; a notification that cannot be sent is covered by the
receivers' periodic reconcile. The subscriber reconnects by itself, and every time it
(re)subscribes it asks for a resync, because messages sent meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from ..core import Change, encode_json
from .base import Deliver, Resync

log = logging.getLogger("flagd.bus.redis")

PUBLISH_QUEUE = 10_000
PUBLISH_BATCH = 100  # changes sent in one round trip when the queue has backed up
# A change with a very long targeted-users list is announced by its revision only; the
# receivers read the record from the log.
MAX_INLINE_BYTES = 64 * 1024
DEFAULT_LOG_LENGTH = 1_000
# An abandoned log (a channel no longer used) goes away by itself; a live one is renewed
# by every publish.
LOG_TTL_SECONDS = 7 * 24 * 3600
READ_TIMEOUT = 2.0


def log_key(channel: str) -> str:
    return f"{channel}:log"


class RedisBus:
    def __init__(self, url: str, channel: str, log_length: int = DEFAULT_LOG_LENGTH) -> None:
        self.url = url
        self.channel = channel
        self.log_key = log_key(channel)
        self.log_length = max(1, log_length)
        self.healthy = False
        self.published = 0
        self.publish_failures = 0
        self._queue: asyncio.Queue[Change] = asyncio.Queue(PUBLISH_QUEUE)
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Any = None

    def __repr__(self) -> str:
        return f"RedisBus(channel={self.channel!r})"

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # retry: a pooled connection can be stale after Redis restarts; retry once, reconnected.
        self._client = redis.Redis.from_url(
            self.url,
            socket_connect_timeout=1.0,
            socket_timeout=None,
            health_check_interval=5,
            retry=Retry(NoBackoff(), 1),
        )
        self._tasks = [
            asyncio.create_task(self._publisher(), name="flagd-redis-publisher"),
            asyncio.create_task(self._subscriber(deliver, resync), name="flagd-redis-subscriber"),
        ]

    async def publish(self, change: Change) -> None:
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            self.publish_failures += 1  # receivers' reconcile picks the change up

    async def changes_after(self, revision: int, limit: int) -> list[Change]:
        from redis.exceptions import RedisError

        if self._client is None:
            return []
        try:
            records = await asyncio.wait_for(
                self._client.zrangebyscore(self.log_key, f"({revision}", "+inf", 0, limit),
                READ_TIMEOUT,
            )
        except (RedisError, OSError, TimeoutError) as exc:
            log.debug("cannot read the change log on Redis: %s", exc)
            return []
        changes: dict[int, Change] = {}
        for record in records:
            change = _parse_change(record)
            if change is not None and change.revision > revision:
                changes.setdefault(change.revision, change)
        return [changes[key] for key in sorted(changes)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    async def _publisher(self) -> None:
        """Drain the queue onto one dedicated connection.

        The commands are written to the socket in this task's first step after a publish
        wakes it, with no await before the write: the other instances hear of a change
        before this instance runs its own fan-out (queued just after the wake-up). Hence
        a connection of its own rather than a pipeline, which first awaits a pooled
        connection's health check.
        """
        from redis.exceptions import RedisError

        connection: Any = None
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < PUBLISH_BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                # A kept connection may have gone stale (Redis restarted): one retry on a
                # fresh one. Sending a batch twice is harmless.
                for fresh in (connection is None, True):
                    try:
                        if connection is None:
                            connection = self._client.connection_pool.make_connection()
                            async with asyncio.timeout(READ_TIMEOUT):
                                await connection.connect()
                        await self._send(connection, batch)
                        self.published += len(batch)
                        break
                    except (RedisError, OSError, TimeoutError) as exc:
                        await _disconnect(connection)
                        connection = None
                        if fresh:
                            self.publish_failures += len(batch)
                            if self.healthy:
                                log.warning("publish failed, relying on reconcile: %s", exc)
                            break
        finally:
            await _disconnect(connection)

    async def _send(self, connection: Any, batch: list[Change]) -> None:
        """Log then announce each change, pipelined: Redis runs one connection's commands
        in order, so a receiver that reads the log on a notification finds the record."""
        commands: list[tuple[Any, ...]] = []
        for change in batch:
            record = encode_json(change.to_dict())
            commands.append(("ZADD", self.log_key, change.revision, record))
            if len(record) > MAX_INLINE_BYTES:
                message = encode_json({"revision": change.revision})
            else:
                message = b'{"revision":%d,"change":%s}' % (change.revision, record)
            commands.append(("PUBLISH", self.channel, message))
        commands.append(("ZREMRANGEBYRANK", self.log_key, 0, -self.log_length - 1))
        commands.append(("EXPIRE", self.log_key, LOG_TTL_SECONDS))
        # A timeout scope, not wait_for: wait_for would run the send in a new task, one
        # loop turn later.
        async with asyncio.timeout(READ_TIMEOUT):
            await connection.send_packed_command(connection.pack_commands(commands), False)
            for _ in commands:
                await connection.read_response()

    async def _subscriber(self, deliver: Deliver, resync: Resync) -> None:
        from redis.exceptions import RedisError

        delay = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if not self.healthy:
                    log.info("subscribed to Redis channel %s", self.channel)
                self.healthy = True
                delay = 0.1
                await resync()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._handle(message["data"], deliver)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if self.healthy:
                    log.warning("Redis subscription lost, retrying: %s", exc)
                self.healthy = False
            except Exception:
                self.healthy = False
                log.exception("Redis subscriber failed, retrying")
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _handle(self, data: bytes, deliver: Deliver) -> None:
        try:
            message = json.loads(data)
            revision = int(message["revision"])
            change = Change.from_dict(message["change"]) if message.get("change") else None
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed notification on %s", self.channel)
            return
        await deliver(revision, change)


async def _disconnect(connection: Any) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.disconnect(nowait=True)


def _parse_change(record: bytes) -> Change | None:
    try:
        return Change.from_dict(json.loads(record))
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring a malformed record in the Redis change log")
        return None
