"""Live sync against a real flagd (both stores), for FlagClient and AsyncFlagClient."""

from __future__ import annotations

import logging
import threading

import pytest

from tests.daemon import Flagd

from .conftest import OpenClient
from .helpers import Admin, by_key, eventually, unique_key


async def test_initial_sync_matches_the_store(flagd: Flagd, open_client: OpenClient) -> None:
    async with Admin(flagd) as admin:
        key = unique_key("initial")
        await admin.create(key, enabled=True, rollout_percentage=100)
        async with open_client(flagd.url) as client:
            assert client.status == "ready" and client.mode == "stream"
            assert client.revision == await admin.revision()
            assert by_key(client.flags()) == await admin.flags()
            assert client.is_enabled(key, "anyone") is True


async def test_every_kind_of_change_reaches_the_client(
    flagd: Flagd, open_client: OpenClient
) -> None:
    # How fast a change arrives is a benchmark's question: bench/propagation.py measures it
    # on the stream (the SDK's own share of it has no benchmark yet).
    async with Admin(flagd) as admin, open_client(flagd.url) as client:
        key = unique_key("live")
        await admin.create(key, enabled=False, rollout_percentage=100)
        await eventually(lambda: key in by_key(client.flags()), f"{key} created")
        assert client.is_enabled(key, "user-1") is False

        await admin.toggle(key)
        await eventually(lambda: client.is_enabled(key, "user-1"), "toggle on")

        await admin.update(key, rollout_percentage=0, targeted_users=["user-2"])
        await eventually(lambda: not client.is_enabled(key, "user-1"), "rollout to 0")
        assert client.is_enabled(key, "user-2") is True
        assert client.evaluate(key, "user-2").reason == "targeted"

        await admin.delete(key)
        await eventually(lambda: key not in by_key(client.flags()), f"{key} deleted")
        assert client.is_enabled(key, "user-2") is False
        assert client.is_enabled(key, "user-2", default=True) is True
        assert client.evaluate(key, "user-2").reason == "not_found"
        assert key not in client.all_flags("user-2")
        assert client.revision == await admin.revision()


async def test_a_burst_of_200_changes_arrives_in_order(
    flagd: Flagd, open_client: OpenClient
) -> None:
    async with Admin(flagd) as admin, open_client(flagd.url) as client:
        seen: list[tuple[int | None, frozenset[str]]] = []
        # Listeners run on the sync loop right after each change is applied, so the client's
        # revision at that moment is the revision of the change that caused the call.
        client.on_change(lambda keys: seen.append((client.revision, keys)))
        start = client.revision
        keys = [unique_key(f"burst{n}") for n in range(10)]
        deleted: set[str] = set()
        written: list[str] = []
        for step in range(200):
            key = keys[step % len(keys)]
            if step < len(keys) or key in deleted:
                await admin.create(key, enabled=True, rollout_percentage=step % 101)
                deleted.discard(key)
            elif step % 17 == 0:
                await admin.delete(key)
                deleted.add(key)
            elif step % 7 == 0:
                await admin.toggle(key)
            else:
                await admin.update(
                    key, rollout_percentage=step % 101, targeted_users=[f"user-{step}", "usér-☃"]
                )
            written.append(key)
        final = await admin.revision()
        assert final == start + 200
        await eventually(lambda: len(seen) >= 200, "200 on_change calls")

        assert [revision for revision, _ in seen] == list(range(start + 1, final + 1))
        assert [keys_ for _, keys_ in seen] == [frozenset((key,)) for key in written]
        assert by_key(client.flags()) == await admin.flags()


async def test_listener_exceptions_are_logged_not_propagated(
    flagd: Flagd, open_client: OpenClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="flagd.sdk")
    async with Admin(flagd) as admin, open_client(flagd.url) as client:
        calls: list[frozenset[str]] = []
        threads: list[str] = []

        def broken(keys: frozenset[str]) -> None:
            raise RuntimeError("listener bug")

        client.on_change(broken)
        client.on_change(
            lambda keys: (calls.append(keys), threads.append(threading.current_thread().name))
        )
        first, second = unique_key("listen"), unique_key("listen")
        await admin.create(first, enabled=True, rollout_percentage=100)
        await eventually(lambda: frozenset((first,)) in calls, "the second listener")
        await admin.create(second, enabled=True, rollout_percentage=100)
        await eventually(lambda: client.is_enabled(second, "u"), "sync after the error")
        assert client.status == "ready"

        raised = [r for r in caplog.records if r.exc_info and "listener bug" in str(r.exc_info[1])]
        assert len(raised) >= 2, caplog.text
        assert all(record.levelno == logging.ERROR for record in raised)
        if type(client).__name__ == "FlagClient":
            # Off the application's threads: on the client's own sync thread.
            assert set(threads) == {"flagd-sdk"}
        else:
            assert threading.current_thread().name in threads


async def test_on_change_is_not_called_for_a_no_op(flagd: Flagd, open_client: OpenClient) -> None:
    async with Admin(flagd) as admin, open_client(flagd.url) as client:
        key = unique_key("noop")
        await admin.create(key, enabled=True)
        await eventually(lambda: key in by_key(client.flags()), key)
        calls: list[frozenset[str]] = []
        client.on_change(calls.append)
        await admin.update(key, enabled=True)  # changes nothing: no revision, no event
        marker = unique_key("marker")
        await admin.create(marker)
        await eventually(lambda: calls, f"on_change for {marker}")
        assert calls == [frozenset((marker,))]
