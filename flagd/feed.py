"""ChangeFeed: the change records after a revision, from the nearest place that has them.

Places, nearest first:
- this instance's window of the last RETAINED changes it applied, kept as the stream frames
  they were sent as (encoded once, when applied);
- the store's change log, which has every change;
- the bus's log (Redis), which has the newest records every instance published, and is
  reachable when this instance's store is not.

The stream replays a client that reconnects with Last-Event-ID from it (`replay`), and
StateSync fills its own gaps from the two logs (`bus_log`, `store_log`; its own window is
behind it by definition). Further back than RETAINED, a snapshot is cheaper than a replay.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from itertools import islice

from .broker import Frame, change_frame
from .bus import Bus
from .core import Change, StoreUnavailable
from .store import Store

RETAINED = 10_000  # changes: the memory window, and the longest replay before a snapshot
PAGE = 100  # changes read from a log per query while replaying


class ChangeFeed:
    def __init__(self, store: Store, bus: Bus, retained: int = RETAINED) -> None:
        self.store = store
        self.bus = bus
        self.retained = retained
        self.recent: deque[Frame] = deque(maxlen=retained)

    def record(self, change: Change) -> Frame:
        """A change was applied here: encode its frame once, for the streams and replays."""
        frame = Frame.of(change_frame(change), change.revision)
        if self.recent and self.recent[-1].revision != change.revision - 1:
            self.recent.clear()  # the state was reloaded: keep the window contiguous
        self.recent.append(frame)
        return frame

    def recent_after(self, revision: int, upto: int) -> list[Frame] | None:
        """Frames (revision, upto] from memory, or None when memory does not reach back."""
        if revision >= upto:
            return []
        if not self.recent or self.recent[0].revision is None:
            return None
        first = self.recent[0].revision
        if first > revision + 1:
            return None
        window = islice(self.recent, revision + 1 - first, None)
        return [frame for frame in window if frame.revision is not None and frame.revision <= upto]

    async def store_log(self, revision: int, limit: int) -> list[Change]:
        """The store's records after `revision`; raises StoreUnavailable."""
        return await self.store.changes_after(revision, limit)

    async def bus_log(self, revision: int, limit: int) -> list[Change]:
        """The bus's records after `revision` (never raises: [] when it has none)."""
        return await self.bus.changes_after(revision, limit)

    async def replay(self, revision: int, upto: int) -> AsyncIterator[bytes | None]:
        """The frames (revision, upto] in order: from memory, else from the logs a page at
        a time. A None means they cannot all be given in order (too far back, a gap, no
        log reachable): the caller sends a snapshot instead, which replaces whatever part
        of the replay it already sent."""
        if upto - revision > self.retained:
            yield None
            return
        recent = self.recent_after(revision, upto)
        if recent is not None:
            for frame in recent:
                yield frame.payload
            return
        cursor = revision
        while cursor < upto:
            changes = await self._page(cursor, min(PAGE, upto - cursor))
            if not changes or changes[0].revision != cursor + 1:
                yield None
                return
            for change in changes:
                if change.revision > upto:
                    return
                if change.revision != cursor + 1:
                    yield None
                    return
                yield change_frame(change)
                cursor = change.revision

    async def _page(self, cursor: int, limit: int) -> list[Change]:
        try:
            return await self.store_log(cursor, limit)
        except StoreUnavailable:
            return await self.bus_log(cursor, limit)  # what the other instances published
