"""The stream's contract (SPEC sections 6 and 11), against a real daemon on both stores."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import DEADLINE
from tests.daemon import Flagd

from .helpers import (
    ADMIN_KEY,
    SDK_KEY,
    admin_client,
    client_snapshot,
    create,
    delete,
    revision_of,
    store_flags,
    toggle,
    unique_key,
    update,
)
from .sse import Comment, Event, Fold, Retry, SSEStream, StreamEnded, fold, open_stream


async def fresh(flagd: Flagd, **kwargs: object) -> tuple[SSEStream, Event]:
    """A stream opened without Last-Event-ID, and its snapshot event."""
    stream = await open_stream(flagd.url, sdk_key=SDK_KEY, **kwargs)  # type: ignore[arg-type]
    assert stream.status == 200, await stream.body()
    first = await stream.next_event()
    assert first.event == "snapshot", first
    return stream, first


async def test_headers_retry_once_and_snapshot_first(flagd: Flagd) -> None:
    async with admin_client(flagd) as admin:
        created = await create(admin, unique_key("snap"), enabled=True, targeted_users=["u1"])
        expected = await client_snapshot(flagd)

        stream = await open_stream(flagd.url, sdk_key=SDK_KEY)
        async with stream:
            assert stream.status == 200
            assert stream.content_type == "text/event-stream", stream.headers
            assert "no-cache" in stream.headers.get("Cache-Control", ""), stream.headers
            assert stream.headers.get("X-Accel-Buffering") == "no", stream.headers

            first = await stream.next()
            assert isinstance(first, Retry), f"the stream must start with retry:, got {first}"
            assert first.milliseconds > 0
            snapshot = await stream.next()
            assert isinstance(snapshot, Event) and snapshot.event == "snapshot", snapshot
            assert snapshot.id == str(expected["revision"])
            data = snapshot.json()
            assert set(data) == {"revision", "flags"}
            assert data == expected, "the snapshot is the document of GET /api/client/flags"
            assert created in data["flags"]

            # Live events afterwards carry no second retry: hint.
            await toggle(admin, created["key"])
            live = await stream.next_event()
            assert live.event == "flag_updated" and live.revision == snapshot.revision + 1
            assert sum(isinstance(item, Retry) for item in stream.items) == 1, stream.items


async def test_create_update_toggle_delete_events(flagd: Flagd) -> None:
    key = unique_key("life")
    async with admin_client(flagd) as admin:
        stream, snapshot = await fresh(flagd)
        async with stream:
            base = snapshot.revision
            assert base == await revision_of(flagd)
            created = await create(admin, key, description="first", rollout_percentage=10)
            updated = await update(admin, key, description="second", targeted_users=["a", "b", "a"])
            toggled = await toggle(admin, key)
            await delete(admin, key)

            events = await stream.events(4)
            assert [(e.event, e.revision) for e in events] == [
                ("flag_updated", base + 1),
                ("flag_updated", base + 2),
                ("flag_updated", base + 3),
                ("flag_deleted", base + 4),
            ]
            assert events[0].json() == created
            assert events[1].json() == updated
            assert updated["targeted_users"] == ["a", "b"]
            assert events[2].json() == toggled
            assert toggled["enabled"] is True and toggled["version"] == 3
            assert events[3].json() == {"key": key}
            assert fold([snapshot, *events]).flags == await store_flags(admin)


async def test_no_op_put_produces_no_event(flagd: Flagd) -> None:
    key = unique_key("noop")
    async with admin_client(flagd) as admin:
        flag = await create(admin, key, description="same", rollout_percentage=30)
        stream, snapshot = await fresh(flagd)
        async with stream:
            base = snapshot.revision
            same = await update(admin, key, description="same", rollout_percentage=30)
            assert same == flag
            assert await update(admin, key) == flag  # nothing given at all
            assert await revision_of(flagd) == base
            toggled = await toggle(admin, key)
            event = await stream.next_event()
            assert (event.event, event.revision) == ("flag_updated", base + 1), (
                f"a no-op PUT must not produce an event; got {event}"
            )
            assert event.json() == toggled


async def test_last_event_id_replays_recent_changes_then_live(flagd: Flagd) -> None:
    key, other = unique_key("recent"), unique_key("recent")
    async with admin_client(flagd) as admin:
        stream, snapshot = await fresh(flagd)
        await stream.close()
        base = snapshot.revision
        missed = [
            await create(admin, key, rollout_percentage=5),
            await create(admin, other),
            await toggle(admin, key),
        ]
        await delete(admin, other)

        resumed = await open_stream(flagd.url, sdk_key=SDK_KEY, last_event_id=base)
        async with resumed:
            assert resumed.status == 200
            assert isinstance(await resumed.next(), Retry)
            replay = await resumed.events(4)
            assert [(e.event, e.revision) for e in replay] == [
                ("flag_updated", base + 1),
                ("flag_updated", base + 2),
                ("flag_updated", base + 3),
                ("flag_deleted", base + 4),
            ]
            assert [e.json() for e in replay[:3]] == missed
            assert replay[3].json() == {"key": other}
            live = await update(admin, key, description="live")
            event = await resumed.next_event()
            assert (event.event, event.revision) == ("flag_updated", base + 5), event
            assert event.json() == live
            assert fold([snapshot, *replay, event]).flags == await store_flags(admin)

        # Last-Event-ID equal to the current revision: nothing to replay, then live.
        current = await revision_of(flagd)
        caught_up = await open_stream(flagd.url, sdk_key=SDK_KEY, last_event_id=current)
        async with caught_up:
            await toggle(admin, key)
            event = await caught_up.next_event()
            assert (event.event, event.revision) == ("flag_updated", current + 1), event


async def test_old_last_event_id_replays_from_change_log(flagd: Flagd) -> None:
    """After a restart the in-memory window is empty: replay comes from the change log."""
    key = unique_key("old")
    async with admin_client(flagd) as admin:
        base = await revision_of(flagd)
        before = await store_flags(admin)
        writes = [
            await create(admin, key, targeted_users=["x"]),
            await update(admin, key, rollout_percentage=50),
            await toggle(admin, key),
        ]
        await delete(admin, key)
        await create(admin, key, description="re-created starts at version 1")
        assert (await store_flags(admin))[key]["version"] == 1

    await asyncio.to_thread(flagd.restart)

    async with admin_client(flagd) as admin:
        assert await revision_of(flagd) == base + 5
        resumed = await open_stream(flagd.url, sdk_key=SDK_KEY, last_event_id=base)
        async with resumed:
            replay = await resumed.events(5)
            assert [e.revision for e in replay] == list(range(base + 1, base + 6)), replay
            assert [e.event for e in replay] == ["flag_updated"] * 3 + [
                "flag_deleted",
                "flag_updated",
            ]
            assert [e.json() for e in replay[:3]] == writes
            assert fold(replay, Fold(before, base)).flags == await store_flags(admin)
            await toggle(admin, key)
            live = await resumed.next_event()
            assert (live.event, live.revision) == ("flag_updated", base + 6), live

        # From revision 0: the whole change log, in order, folds to the store's state.
        everything = await open_stream(flagd.url, sdk_key=SDK_KEY, last_event_id=0)
        async with everything:
            latest = await revision_of(flagd)
            replay = await everything.events(latest)
            assert all(e.event != "snapshot" for e in replay)
            assert fold(replay, Fold({}, 0)).flags == await store_flags(admin)


@pytest.mark.parametrize(
    "last_event_id",
    ["ahead", "not-a-number", "-1", "1.5", "0x10", "99999999999999999999999999"],
)
async def test_unknown_last_event_id_gets_a_snapshot(flagd: Flagd, last_event_id: str) -> None:
    async with admin_client(flagd) as admin:
        await create(admin, unique_key("unknown"))
        current = await client_snapshot(flagd)
        sent = str(current["revision"] + 1000) if last_event_id == "ahead" else last_event_id
        stream = await open_stream(flagd.url, sdk_key=SDK_KEY, last_event_id=sent)
        async with stream:
            assert stream.status == 200
            first = await stream.next_event()
            assert first.event == "snapshot", f"Last-Event-ID {sent!r} must get a snapshot"
            assert first.revision == current["revision"]
            assert first.json() == current
            flag = await create(admin, unique_key("unknown"))
            live = await stream.next_event()
            assert (live.revision, live.json()) == (current["revision"] + 1, flag)


async def test_key_in_query_or_header(flagd: Flagd) -> None:
    revision = await revision_of(flagd)
    for kwargs in ({"query_key": SDK_KEY}, {"sdk_key": SDK_KEY}):
        stream = await open_stream(flagd.url, **kwargs)  # type: ignore[arg-type]
        async with stream:
            assert stream.status == 200, (kwargs, await stream.body())
            snapshot = await stream.next_event()
            assert (snapshot.event, snapshot.revision) == ("snapshot", revision)


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"sdk_key": "wrong-key"},
        {"query_key": "wrong-key"},
        {"query_key": ""},
        {"sdk_key": ADMIN_KEY},
        {"query_key": ADMIN_KEY},
        {"headers": {"X-Admin-API-Key": ADMIN_KEY}},
    ],
    ids=[
        "missing",
        "wrong-header",
        "wrong-query",
        "empty-query",
        "admin-header",
        "admin-query",
        "admin-key-header",
    ],
)
async def test_wrong_or_missing_key_is_401_json(flagd: Flagd, auth: dict[str, object]) -> None:
    stream = await open_stream(flagd.url, **auth)  # type: ignore[arg-type]
    async with stream:
        assert stream.status == 401
        assert stream.content_type == "application/json", stream.headers
        body = json.loads(await stream.body())
        assert body["error"] == "unauthorized" and body["message"], body


async def test_heartbeat_at_configured_interval(tmp_path: Path) -> None:
    daemon = Flagd(data_dir=tmp_path, extra_env={"FLAGD_HEARTBEAT_INTERVAL": "0.2"})
    await asyncio.to_thread(daemon.start)
    try:
        opened = time.monotonic()
        stream, _ = await fresh(daemon)
        async with stream:
            # Five pings within DEADLINE: at the default 15 s interval they would take 75 s.
            deadline = opened + DEADLINE
            pings: list[Comment] = []
            while len(pings) < 5:
                item = await stream.next(timeout=max(0.0, deadline - time.monotonic()))
                if isinstance(item, Comment):
                    assert item.is_ping, item
                    pings.append(item)
            # And spaced, not a burst: flagd cannot have sent five pings 0.2 s apart sooner
            # than 0.8 s after the stream opened (a slow reader only makes this later).
            assert pings[4].received_at - opened >= 0.8, "pings too close"
            assert sum(isinstance(item, Retry) for item in stream.items) == 1
    finally:
        await asyncio.to_thread(daemon.stop)


async def test_sigterm_ends_every_stream_cleanly_and_exits_0(flagd: Flagd) -> None:
    revision = await revision_of(flagd)
    streams = [
        await open_stream(flagd.url, sdk_key=SDK_KEY),
        await open_stream(flagd.url, query_key=SDK_KEY),
        await open_stream(flagd.url, sdk_key=SDK_KEY, last_event_id=revision),
    ]
    try:
        for stream in streams[:2]:
            assert (await stream.next_event()).event == "snapshot"
        assert isinstance(await streams[2].next(), Retry)
        assert flagd.process is not None
        # Each stream ends with its terminal chunk, which only flagd ending it sends: a
        # stream cut at a shutdown timeout would end "eof" or "reset". How long the shutdown
        # takes is a timing goal (the README says a couple of seconds; no bench measures it).
        flagd.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(flagd.process.wait, DEADLINE)
        for index, stream in enumerate(streams):
            with pytest.raises(StreamEnded):
                while True:
                    item = await stream.next()
                    assert isinstance(item, Comment), f"stream {index}: {item}"
            assert stream.end == "clean", (
                f"stream {index} ended with {stream.end!r}, not the terminal chunk"
            )
        assert code == 0, flagd.log()[-2000:]
    finally:
        for stream in streams:
            await stream.close()
        flagd.stop()
        await asyncio.to_thread(flagd.start)


async def test_stream_after_restart_is_consistent(flagd: Flagd) -> None:
    """The daemon restarted by the previous test serves a snapshot equal to the store."""
    async with admin_client(flagd) as admin:
        stream, snapshot = await fresh(flagd)
        async with stream:
            assert fold([snapshot]).flags == await store_flags(admin)
