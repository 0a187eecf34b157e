"""The notification seam: tell other instances that a revision was committed, and keep the
recent change records where an instance whose store is unreachable can still read them."""

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
        """Announce a committed change and keep its record in the bus's log. Never raises
        and never waits on the network. Publishing a change twice is harmless."""

    async def changes_after(self, revision: int, limit: int) -> list[Change]:
        """Up to `limit` recent change records after `revision` from the bus's bounded log,
        in revision order, one per revision. The log may have holes (a change that was
        never published) and does not reach back forever. Never raises: [] when the log
        is unreachable or has nothing."""

    async def close(self) -> None: ...
