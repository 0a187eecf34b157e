"""Redis pub/sub between flagd instances.

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
# A change with a very long targeted-users list travels as its revision only.
MAX_INLINE_BYTES = 64 * 1024


class RedisBus:
    def __init__(self, url: str, channel: str) -> None:
        self.url = url
        self.channel = channel
        self.healthy = False
        self.published = 0
        self.publish_failures = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(PUBLISH_QUEUE)
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
        message = encode_json({"revision": change.revision, "change": change.to_dict()})
        if len(message) > MAX_INLINE_BYTES:
            message = encode_json({"revision": change.revision})
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.publish_failures += 1  # receivers' reconcile picks the change up

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    async def _publisher(self) -> None:
        from redis.exceptions import RedisError

        while True:
            message = await self._queue.get()
            try:
                await asyncio.wait_for(self._client.publish(self.channel, message), 2.0)
                self.published += 1
            except (RedisError, OSError, TimeoutError) as exc:
                self.publish_failures += 1
                if self.healthy:
                    log.warning("publish failed, relying on reconcile: %s", exc)

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
