"""The notification seam: tell other instances that a revision was committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ..core import Change

# A notification carries the revision and, when it fits, the change itself.
Deliver = Callable[[int, Change | None], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]


class Bus(Protocol):
    healthy: bool

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        """Begin delivering notifications; `resync` runs whenever delivery (re)starts,
        since notifications may have been missed while it was down."""

    async def publish(self, change: Change) -> None:
        """Announce a committed change. Never raises and never waits on the network."""

    async def close(self) -> None: ...
