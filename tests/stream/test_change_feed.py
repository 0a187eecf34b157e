"""ChangeFeed (flagd/feed.py): the changes after a revision from memory, the store's change
log, or the bus's log, in order; a None where they cannot all be given (a snapshot then)."""

from __future__ import annotations

import uuid
from pathlib import Path

from flagd.broker import change_frame
from flagd.bus import LocalBus
from flagd.core import Change, parse_create, utc_now
from flagd.core.mutations import new_flag
from flagd.feed import ChangeFeed
from flagd.store import Put
from flagd.store.sqlite import SQLiteStore


def change(revision: int) -> Change:
    flag = new_flag(parse_create({"key": f"k{revision}"}), str(uuid.uuid4()), utc_now())
    return Change(revision, "created", flag.key, flag, "test", utc_now())


class LogOnly(LocalBus):
    """A bus whose log holds the given records (as Redis's would)."""

    def __init__(self, records: list[Change]) -> None:
        super().__init__()
        self.records = records

    async def changes_after(self, revision: int, limit: int) -> list[Change]:
        return [c for c in self.records if c.revision > revision][:limit]


async def replayed(feed: ChangeFeed, after: int, upto: int) -> list[bytes | None]:
    return [payload async for payload in feed.replay(after, upto)]


async def test_recent_changes_replay_from_memory_as_the_frames_sent(tmp_path: Path) -> None:
    closed = SQLiteStore(tmp_path / "never-opened.sqlite3")  # any read would fail
    feed = ChangeFeed(closed, LogOnly([]))
    frames = [feed.record(change(revision)) for revision in range(1, 6)]
    assert await replayed(feed, 2, 4) == [frames[2].payload, frames[3].payload]
    assert await replayed(feed, 5, 5) == []


async def test_older_changes_come_from_the_store_a_page_at_a_time(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "flagd.sqlite3")
    await store.open()
    try:
        written = []
        for index in range(250):
            flag = new_flag(parse_create({"key": f"f{index}"}), str(uuid.uuid4()), utc_now())
            result = await store.write(None, lambda _, f=flag: Put(f, "created"), "t", utc_now())
            assert result.change is not None
            written.append(result.change)
        feed = ChangeFeed(store, LogOnly([]))
        feed.record(written[-1])  # memory starts at the newest: the rest is in the store
        assert await replayed(feed, 10, 240) == [change_frame(c) for c in written[10:240]]
    finally:
        await store.close()


async def test_with_the_store_away_the_bus_log_replays(tmp_path: Path) -> None:
    closed = SQLiteStore(tmp_path / "never-opened.sqlite3")
    records = [change(revision) for revision in range(1, 8)]
    feed = ChangeFeed(closed, LogOnly(records))
    assert await replayed(feed, 3, 7) == [change_frame(c) for c in records[3:7]]


async def test_a_gap_or_too_long_a_replay_asks_for_a_snapshot(tmp_path: Path) -> None:
    closed = SQLiteStore(tmp_path / "never-opened.sqlite3")
    gappy = [change(revision) for revision in (1, 2, 4, 5)]
    assert (await replayed(ChangeFeed(closed, LogOnly(gappy)), 0, 5))[-1] is None
    assert await replayed(ChangeFeed(closed, LogOnly([])), 0, 3) == [None]
    assert await replayed(ChangeFeed(closed, LogOnly([]), retained=10), 0, 11) == [None]
