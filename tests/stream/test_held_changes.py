"""Changes that arrive out of order are held, bounded, and applied in order once the gap
fills (flagd/state.py: HeldChanges, StateSync.observe / fill_gap).

StateSync runs here on a real SQLite store: closed, it is an unreachable store; opened
with the missing records written, it is the change log that fills the gap.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from flagd.bus import LocalBus
from flagd.core import Change, Snapshot, parse_create, utc_now
from flagd.core.mutations import new_flag
from flagd.state import FlagState, HeldChanges, StateSync
from flagd.store import Put
from flagd.store.sqlite import SQLiteStore


def change(revision: int, key: str | None = None) -> Change:
    now = utc_now()
    flag = new_flag(parse_create({"key": key or f"k{revision}"}), str(uuid.uuid4()), now)
    return Change(revision, "created", flag.key, flag, "test", now)


# --- the buffer alone -----------------------------------------------------------------


def test_a_held_run_drains_in_order_once_the_gap_is_gone() -> None:
    held = HeldChanges(limit=10)
    for revision in (4, 2, 3):
        held.hold(change(revision))
    assert held.newest == 4 and len(held) == 3
    assert held.drain(0) == []  # revision 1 is missing: nothing follows 0
    assert [c.revision for c in held.drain(1)] == [2, 3, 4]
    assert len(held) == 0


def test_duplicates_and_stale_changes_are_dropped() -> None:
    held = HeldChanges(limit=10)
    first = change(3)
    held.hold(first)
    held.hold(change(3))  # the same revision again (a republished record)
    held.hold(change(2))
    held.hold(change(6))
    assert len(held) == 3
    # A snapshot at 4 covered 2..4: they are forgotten, 6 still waits for 5.
    assert held.drain(4) == []
    assert len(held) == 1
    assert [c.revision for c in held.drain(5)] == [6]


def test_the_bound_keeps_the_changes_nearest_to_being_applied() -> None:
    held = HeldChanges(limit=3)
    for revision in (3, 4, 5, 6, 7):
        held.hold(change(revision))
    assert len(held) == 3 and held.let_go == 2
    held.hold(change(2))  # nearer than 5: 5 makes room
    assert len(held) == 3 and held.let_go == 3
    assert held.newest == 7, "a change let go is still known to exist"
    assert [c.revision for c in held.drain(1)] == [2, 3, 4]


# --- StateSync over a real store -------------------------------------------------------


async def synced(tmp_path: Path, hold_limit: int = 100) -> tuple[StateSync, list[int]]:
    """A StateSync at revision 0 whose store is closed (unreachable); records the
    revisions applied, in the order they were applied."""
    state = FlagState()
    state.load(Snapshot(0, ()))
    applied: list[int] = []
    state.add_listener(lambda c: applied.append(c.revision))
    store = SQLiteStore(tmp_path / "flagd.sqlite3")
    return StateSync(store, state, LocalBus(), hold_limit), applied


async def test_out_of_order_changes_wait_for_the_missing_one(tmp_path: Path) -> None:
    sync, applied = await synced(tmp_path)
    for revision in (3, 5, 2):
        await sync.observe(change(revision))
    assert applied == [] and sync.behind and len(sync.held) == 3
    await sync.observe(change(1))
    assert applied == [1, 2, 3]
    assert sync.state.revision == 3 and sync.behind, "5 still waits for 4"
    await sync.observe(change(4))
    await sync.observe(change(5))  # a duplicate of a held one, applied once
    assert applied == [1, 2, 3, 4, 5]
    assert not sync.behind and len(sync.held) == 0
    assert len(sync.state) == 5


async def test_past_the_bound_the_gap_is_filled_from_the_store(tmp_path: Path) -> None:
    sync, applied = await synced(tmp_path, hold_limit=2)
    store = sync.store
    await store.open()
    try:
        written = []
        for index in range(1, 7):
            flag = new_flag(parse_create({"key": f"f{index}"}), str(uuid.uuid4()), utc_now())
            result = await store.write(None, lambda _c, f=flag: Put(f, "created"), "t", utc_now())
            assert result.change is not None
            written.append(result.change)
        # The store is believed down: notifications 3..6 are held (two of them) or let go.
        sync.store_up = False
        for record in written[2:]:
            await sync.observe(record)
        assert applied == [] and len(sync.held) == 2 and sync.held.let_go == 2
        # The store answers again (reconcile finds it): the whole gap comes from its log.
        await sync.reconcile()
        assert applied == [1, 2, 3, 4, 5, 6]
        assert sync.store_up and not sync.behind and len(sync.held) == 0
    finally:
        await store.close()


async def test_a_notification_without_its_record_is_filled_from_the_store(
    tmp_path: Path,
) -> None:
    sync, applied = await synced(tmp_path)
    await sync.store.open()
    try:
        flag = new_flag(parse_create({"key": "big"}), str(uuid.uuid4()), utc_now())
        await sync.store.write(None, lambda _c: Put(flag, "created"), "t", utc_now())
        sync.store_up = True
        await sync.deliver(1, None)
        assert applied == [1]
    finally:
        await sync.store.close()
