"""The in-memory flag set at a revision: what client reads and the stream are served from.

State advances only by applying change records in revision order. A record that does not
follow the current revision is never applied out of order: `StateSync` fetches the missing
ones from the store's change log first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .core import Change, Flag, Snapshot, StoreUnavailable
from .store import Store

log = logging.getLogger("flagd.state")

ChangeListener = Callable[[Change], None]


class FlagState:
    def __init__(self) -> None:
        self.revision = 0
        self.loaded = False
        # Insertion order is creation order: newest first is the reverse.
        self._flags: dict[str, Flag] = {}
        self._snapshot: Snapshot | None = None
        self._derived: dict[str, bytes] = {}
        self._listeners: list[ChangeListener] = []

    def __len__(self) -> int:
        return len(self._flags)

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def load(self, snapshot: Snapshot) -> None:
        self._flags = {flag.key: flag for flag in reversed(snapshot.flags)}
        self.revision = snapshot.revision
        self.loaded = True
        self._invalidate()

    def apply(self, change: Change) -> None:
        if change.revision != self.revision + 1:
            raise ValueError(f"change {change.revision} does not follow revision {self.revision}")
        if change.flag is None:
            self._flags.pop(change.key, None)
        elif change.action == "created":
            self._flags.pop(change.key, None)
            self._flags[change.key] = change.flag
        else:
            self._flags[change.key] = change.flag
        self.revision = change.revision
        self._invalidate()
        for listener in self._listeners:
            listener(change)

    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            self._snapshot = Snapshot(self.revision, tuple(reversed(self._flags.values())))
        return self._snapshot

    def derived(self, name: str, build: Callable[[Snapshot], bytes]) -> bytes:
        """Bytes computed from the current snapshot once per revision (bodies, frames)."""
        value = self._derived.get(name)
        if value is None:
            value = self._derived[name] = build(self.snapshot())
        return value

    def client_body(self) -> bytes:
        """GET /api/client/flags, serialised once per revision."""
        return self.derived("client_body", Snapshot.to_json)

    def _invalidate(self) -> None:
        self._snapshot = None
        self._derived = {}


class StateSync:
    """Keeps a FlagState equal to the store: initial load, own writes, gap fills, reconcile."""

    CHANGE_PAGE = 1000

    def __init__(self, store: Store, state: FlagState) -> None:
        self.store = store
        self.state = state
        self.store_up = False  # last known reachability, for /metrics
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self._lock:
            self.state.load(await self.store.snapshot())
        self.store_up = True
        log.info("state loaded revision=%d flags=%d", self.state.revision, len(self.state))

    async def observe(self, change: Change) -> None:
        """A change record became known (our own write, or a notification)."""
        if not self.state.loaded or change.revision <= self.state.revision:
            return
        if change.revision == self.state.revision + 1:
            self.state.apply(change)
            return
        try:
            await self.catch_up(change.revision)
        except StoreUnavailable as exc:
            log.warning("gap before revision %d not filled yet: %s", change.revision, exc)

    async def deliver(self, revision: int, change: Change | None) -> None:
        """A notification from the bus: the change itself, or only its revision."""
        if change is not None and change.revision == revision:
            await self.observe(change)
        elif self.state.loaded and revision > self.state.revision:
            try:
                await self.catch_up(revision)
            except StoreUnavailable as exc:
                log.warning("cannot fetch revision %d yet: %s", revision, exc)

    async def catch_up(self, target: int | None = None) -> None:
        """Apply every change after the current revision, in order, from the change log."""
        async with self._lock:
            while target is None or self.state.revision < target:
                changes = await self.store.changes_after(self.state.revision, self.CHANGE_PAGE)
                for change in changes:
                    if change.revision == self.state.revision + 1:
                        self.state.apply(change)
                if len(changes) < self.CHANGE_PAGE:
                    break

    async def reconcile(self) -> None:
        """Compare with the store's latest revision; covers lost notifications."""
        try:
            if not self.state.loaded:
                await self.load()
                return
            latest = await self.store.latest_revision()
        except StoreUnavailable:
            self.store_up = False
            raise
        self.store_up = True
        if latest > self.state.revision:
            log.info("reconcile: behind store (%d < %d)", self.state.revision, latest)
            await self.catch_up(latest)
