"""When flagd goes away: evaluations continue from memory, and the client catches up.

Each test runs its own flagd on an SQLite data dir. "A change made while the client could
not see flagd" is made through a second flagd on the same SQLite file and another port, which
is stopped again before the client's flagd comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flagd.sdk import AsyncFlagClient
from flagd.sdk.cache import read_snapshot
from tests.conftest import free_port
from tests.daemon import Flagd

from .conftest import OpenClient
from .helpers import Admin, Proxy, by_key, eventually, unique_key


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Flagd]:
    flagd = Flagd(data_dir=tmp_path / "flagd").start()
    yield flagd
    flagd.stop()


async def write_behind_its_back(daemon: Flagd, *changes: tuple[str, str, dict[str, Any]]) -> int:
    """Apply changes through a second flagd on the same store; return the new revision.

    A data directory takes one flagd, so the second gets its own, with a link to the
    first one's SQLite file (SQLite follows it: one database, one WAL)."""
    other_dir = daemon.data_dir.with_name(daemon.data_dir.name + "-behind")
    other_dir.mkdir(exist_ok=True)
    with contextlib.suppress(FileExistsError):
        (other_dir / "flagd.sqlite3").symlink_to(daemon.data_dir / "flagd.sqlite3")
    other = Flagd(data_dir=other_dir).start()
    try:
        async with Admin(other) as admin:
            for action, key, fields in changes:
                if action == "create":
                    await admin.create(key, **fields)
                elif action == "update":
                    await admin.update(key, **fields)
                else:
                    await admin.delete(key)
            return await admin.revision()
    finally:
        other.stop()


async def test_stopped_then_restarted(daemon: Flagd, open_client: OpenClient) -> None:
    kept, changed, added = unique_key("kept"), unique_key("changed"), unique_key("added")
    async with Admin(daemon) as admin:
        await admin.create(kept, enabled=True, rollout_percentage=100)
        await admin.create(changed, enabled=True, targeted_users=["ana", "josé"])
    with Proxy(daemon.url) as proxy:
        async with open_client(proxy.url) as client:
            before = client.revision
            daemon.stop()
            await eventually(lambda: client.status == "stale", "status stale")
            # Evaluations go on from memory, for as long as flagd is away.
            assert client.is_enabled(kept, "anyone") is True
            assert client.is_enabled(changed, "josé") is True
            assert client.evaluate(changed, "josé").reason == "targeted"
            assert client.all_flags("ana") == {kept: True, changed: True}

            revision = await write_behind_its_back(
                daemon,
                ("update", changed, {"enabled": False}),
                ("create", added, {"enabled": True, "rollout_percentage": 100}),
                ("delete", kept, {}),
            )
            assert revision == before + 3
            assert client.status == "stale" and client.revision == before

            daemon.start()
            await eventually(lambda: client.revision == revision, f"revision {revision}")
            await eventually(lambda: client.status == "ready", "status ready")
            async with Admin(daemon) as admin:
                assert by_key(client.flags()) == await admin.flags()
            assert client.is_enabled(changed, "josé") is False
            assert client.is_enabled(added, "anyone") is True
            assert client.is_enabled(kept, "anyone") is False
            assert client.mode == "stream"

        streams, fetches = proxy.streams(), proxy.fetches()
        # Every reconnect named the last revision the client had; every refetch was
        # conditional, so an unchanged flag set costs a 304.
        assert streams[0].last_event_id == str(before)
        assert all(
            s.last_event_id is not None and int(s.last_event_id) >= before for s in streams
        ), streams
        assert all(f.if_none_match is not None for f in fetches[1:]), fetches


async def test_a_cut_stream_resumes_from_last_event_id(
    daemon: Flagd, open_client: OpenClient
) -> None:
    """A healthy stream that ends (an instance draining, a proxy recycling connections) is
    picked up again at Last-Event-ID: the changes in between are replayed one by one, with
    no refetch of the whole flag set."""
    first, second = unique_key("replay"), unique_key("replay")
    with Proxy(daemon.url) as proxy:
        async with Admin(daemon) as admin, open_client(proxy.url) as client:
            await admin.create(first, enabled=True)
            await eventually(lambda: first in by_key(client.flags()), first)
            seen: list[frozenset[str]] = []
            client.on_change(seen.append)
            at = client.revision
            fetches = len(proxy.fetches())

            proxy.hold_new_streams()
            proxy.end_streams()
            await eventually(lambda: len(proxy.streams()) == 2, "the reconnect")
            assert proxy.streams()[1].last_event_id == str(at)
            await admin.update(first, rollout_percentage=100)
            await admin.create(second, enabled=True, rollout_percentage=100)
            proxy.release_streams()

            await eventually(lambda: client.revision == at + 2, f"revision {at + 2}")
            await eventually(lambda: len(seen) == 2, "two on_change calls")
            assert seen == [frozenset((first,)), frozenset((second,))]
            assert client.is_enabled(first, "u") and client.is_enabled(second, "u")
            assert len(proxy.fetches()) == fetches, "resumed by replay, not by a refetch"
            assert by_key(client.flags()) == await admin.flags()


async def test_cold_start_from_the_disk_cache(
    daemon: Flagd, open_client: OpenClient, tmp_path: Path
) -> None:
    cache = tmp_path / "cache" / "snapshot.json"
    cached, later = unique_key("cached"), unique_key("later")
    async with Admin(daemon) as admin:
        await admin.create(cached, enabled=True, targeted_users=["zoë"])
    async with open_client(daemon.url, cache_path=cache) as client:
        written_at = client.revision
    saved = read_snapshot(cache)
    assert saved is not None and saved.snapshot.revision == written_at
    assert saved.server == daemon.url
    daemon.stop()

    async with open_client(daemon.url, cache_path=cache, ready=False) as client:
        # Served at once, before any network round trip could have completed.
        assert client.status == "stale"
        assert client.revision == written_at
        assert client.is_enabled(cached, "zoë") is True
        assert client.is_enabled(cached, "someone-else") is False
        await eventually(lambda: client.last_error is not None, "a failed attempt")
        assert client.status == "stale"  # not `error`: it has flags to serve
        assert client.is_enabled(cached, "zoë") is True

        revision = await write_behind_its_back(
            daemon, ("create", later, {"enabled": True, "rollout_percentage": 100})
        )
        daemon.start()
        await eventually(lambda: client.status == "ready", "status ready")
        await eventually(lambda: client.revision == revision, f"revision {revision}")
        assert client.is_enabled(later, "anyone") is True


async def test_cold_start_with_no_cache_and_no_flagd(
    open_client: OpenClient, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    cache = tmp_path / "never-written.json"
    async with open_client(nowhere, cache_path=cache, ready=False) as client:
        assert client.status in ("initializing", "error")
        assert client.is_enabled("any-flag", "user-1") is False
        assert client.is_enabled("any-flag", "user-1", default=True) is True
        assert client.evaluate("any-flag", "user-1").reason == "not_found"
        assert client.all_flags("user-1") == {}
        assert client.revision is None
        await eventually(lambda: client.status == "error", "status error")
        if isinstance(client, AsyncFlagClient):
            assert await client.wait_until_ready(0.2) is False
        else:
            assert await asyncio.to_thread(client.wait_until_ready, 0.2) is False
        assert client.last_error is not None
        assert client.is_enabled("any-flag", "user-1", default=True) is True
    assert not cache.exists()


async def test_a_corrupt_cache_is_ignored(open_client: OpenClient, tmp_path: Path) -> None:
    cache = tmp_path / "snapshot.json"
    cache.write_text('{"flags": [{"key": "half-writ')
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with open_client(nowhere, cache_path=cache, ready=False) as client:
        assert client.status in ("initializing", "error")
        assert client.flags() == [] and client.is_enabled("half-writ", "u") is False
