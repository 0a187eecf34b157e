"""The embedded default: one process, so notifications go straight back to this process."""

from __future__ import annotations

from ..core import Change
from .base import Deliver, Resync


class LocalBus:
    healthy = True

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        self._deliver = deliver

    async def publish(self, change: Change) -> None:
        if self._deliver is not None:
            await self._deliver(change.revision, change)

    async def changes_after(self, revision: int, limit: int) -> list[Change]:
        return []  # no other instance: the store is the only log

    async def close(self) -> None:
        self._deliver = None
