"""The in-memory flag set at a revision: what client reads and the stream are served from.

State advances only by applying change records in revision order, each exactly once. A
record that does not follow the current revision is held (`HeldChanges`, bounded) until
the ones before it are known: `StateSync` reads them from the bus's log (Redis, reachable
while the store is not) and then from the store's change log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .bus import Bus
from .core import Change, Flag, Snapshot, StoreUnavailable
from .feed import ChangeFeed
from .store import Store

log = logging.getLogger("flagd.state")

ChangeListener = Callable[[Change], None]
ChangeSource = Callable[[int, int], Awaitable[list[Change]]]

HOLD_LIMIT = 1_000  # changes held ahead of a gap; see HeldChanges


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


class HeldChanges:
    """Changes that arrived ahead of a gap, kept until the gap fills.

    Bounded to `limit` changes. Past the bound the farthest ahead are let go, keeping the
    ones that will apply first; a change let go is still counted in `newest`, so the
    instance knows it is behind and reads it again from a log once the gap has filled
    (or, if neither log has it any more, when the store is back and reconcile runs).
    """

    def __init__(self, limit: int = HOLD_LIMIT) -> None:
        self.limit = limit
        self.newest = 0  # the highest revision known to exist
        self.let_go = 0  # changes not kept because of the bound
        self._changes: dict[int, Change] = {}

    def __len__(self) -> int:
        return len(self._changes)

    @property
    def lowest(self) -> int | None:
        return min(self._changes) if self._changes else None

    def note(self, revision: int) -> None:
        """A revision is known to exist (a notification without its record)."""
        self.newest = max(self.newest, revision)

    def hold(self, change: Change) -> None:
        self.note(change.revision)
        if change.revision in self._changes:
            return
        if len(self._changes) >= self.limit:
            farthest = max(self._changes)
            self.let_go += 1
            if change.revision > farthest:
                return
            del self._changes[farthest]
        self._changes[change.revision] = change

    def drain(self, revision: int) -> list[Change]:
        """The held run revision+1, revision+2, ... (removed); forgets those at or below
        `revision`, which a snapshot load or another path has already covered."""
        changes = self._changes
        if not changes:
            return []
        for stale in [held for held in changes if held <= revision]:
            del changes[stale]
        run: list[Change] = []
        while (change := changes.pop(revision + 1, None)) is not None:
            run.append(change)
            revision += 1
        return run


class StateSync:
    """Keeps a FlagState equal to the store: initial load, own writes, notifications, gap
    fills, reconcile. Every path hands change records to `observe`; they are applied in
    revision order, exactly once, as soon as every revision before them is applied."""

    CHANGE_PAGE = 1000

    def __init__(
        self,
        store: Store,
        state: FlagState,
        bus: Bus,
        hold_limit: int = HOLD_LIMIT,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.bus = bus
        self.feed = feed or ChangeFeed(store, bus)
        self.held = HeldChanges(hold_limit)
        self.store_up = False  # last known reachability, for /metrics and gap fills
        self._stalled_at: int | None = None  # revision we are stuck at, while logged
        self._lock = asyncio.Lock()

    @property
    def behind(self) -> bool:
        """Revisions newer than ours are known to exist but are not applied yet."""
        return self.state.loaded and self.held.newest > self.state.revision

    async def load(self) -> None:
        async with self._lock:
            self.state.load(await self.store.snapshot())
            self._apply_held()
        self.store_up = True
        log.info("state loaded revision=%d flags=%d", self.state.revision, len(self.state))

    async def observe(self, change: Change) -> None:
        """A change record became known (our own write, or a notification)."""
        if not self.state.loaded or change.revision <= self.state.revision:
            return
        self.held.hold(change)
        self._apply_held()
        if self.behind:
            await self.fill_gap()

    async def deliver(self, revision: int, change: Change | None) -> None:
        """A notification from the bus: the change itself, or only its revision."""
        if change is not None and change.revision == revision:
            await self.observe(change)
        elif self.state.loaded and revision > self.state.revision:
            self.held.note(revision)
            await self.fill_gap()

    async def fill_gap(self) -> None:
        """Fetch what lies between our revision and the newest known one: from the bus's
        log first (one round trip, and reachable while our store is not), then from the
        store's change log, which also has revisions nobody announced (a write whose
        instance lost its connection as it committed). What the store gave is published
        again, so that instances whose store is down can read it from the bus's log."""
        async with self._lock:
            if not self.behind:
                return
            target = self.held.newest
            await self._read(self.feed.bus_log, target)
            repaired: list[Change] = []
            if self.state.revision < target:
                if not self.store_up:
                    # Known down: don't wait out a connect timeout on every notification;
                    # the held changes wait for the bus, or for reconcile to find it back.
                    self._stalled(target, "the store is unavailable")
                    return
                try:
                    repaired = await self._read(self.feed.store_log, target)
                except StoreUnavailable as exc:
                    self.store_up = False
                    self._stalled(target, str(exc))
                    return
            if self.state.revision < target:
                self._stalled(target, "neither log has the missing revisions yet")
            elif self._stalled_at is not None:
                log.info("gap filled: caught up from %d to %d", self._stalled_at, target)
                self._stalled_at = None
        for change in repaired:
            await self.bus.publish(change)

    async def reconcile(self) -> None:
        """Compare with the store's latest revision; covers lost notifications. With the
        store away, read whatever the other instances published meanwhile instead."""
        try:
            if not self.state.loaded:
                await self.load()
                return
            latest = await self.store.latest_revision()
        except StoreUnavailable:
            self.store_up = False
            if self.state.loaded:
                async with self._lock:
                    await self._read(self.feed.bus_log, None)
            raise
        self.store_up = True
        if latest > self.state.revision:
            log.info("reconcile: behind store (%d < %d)", self.state.revision, latest)
            self.held.note(latest)
            await self.fill_gap()

    async def _read(self, fetch: ChangeSource, target: int | None) -> list[Change]:
        """Feed `fetch`'s records after our revision (up to `target`) through the held
        buffer until it stops making progress; returns those applied from `fetch`. Only
        the gap before the first held change is asked for: while stalled, each new
        notification costs a read of what is missing, not of what is held."""
        applied: list[Change] = []
        while target is None or self.state.revision < target:
            start = self.state.revision
            upto = start + self.CHANGE_PAGE if target is None else target
            if (lowest := self.held.lowest) is not None:
                upto = min(upto, lowest - 1)
            fetched = await fetch(start, max(1, min(self.CHANGE_PAGE, upto - start)))
            for change in fetched:
                if change.revision > self.state.revision:
                    self.held.hold(change)
            from_source = {change.revision for change in fetched}
            applied += [change for change in self._apply_held() if change.revision in from_source]
            if self.state.revision == start:
                break
        return applied

    def _apply_held(self) -> list[Change]:
        run = self.held.drain(self.state.revision)
        for change in run:
            self.state.apply(change)
        return run

    def _stalled(self, target: int, reason: str) -> None:
        if self._stalled_at != self.state.revision:
            self._stalled_at = self.state.revision
            log.warning(
                "behind: at revision %d, %d known; holding %d changes until the gap fills: %s",
                self.state.revision,
                target,
                len(self.held),
                reason,
            )
