"""start / close / context managers: nothing left running afterwards."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path

from flagd.sdk import AsyncFlagClient, FlagClient, InMemoryFlagClient
from tests.conftest import DEADLINE, free_port
from tests.daemon import Flagd

from .helpers import FAST, SDK_KEY, Admin, eventually, eventually_sync, unique_key


def other_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread is not threading.main_thread()}


def other_tasks() -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


def test_flag_client_close_leaves_no_threads(flagd: Flagd, tmp_path: Path) -> None:
    before = other_threads()
    cache = tmp_path / "cache.json"
    with FlagClient(flagd.url, SDK_KEY, cache_path=cache, **FAST) as client:
        assert client.wait_until_ready(DEADLINE)
        assert any(thread.name == "flagd-sdk" for thread in other_threads() - before)
        assert client.status == "ready"
    assert client.status == "ready"  # close() does not pretend flagd went away
    assert cache.exists(), "close() flushes the disk cache"
    assert other_threads() == before
    client.close()  # twice is harmless
    assert other_threads() == before


def test_flag_client_closed_while_flagd_is_unreachable(tmp_path: Path) -> None:
    before = other_threads()
    client = FlagClient(f"http://127.0.0.1:{free_port()}", SDK_KEY, cache_path=None, **FAST)
    eventually_sync(lambda: client.status == "error", "status error")
    assert client.is_enabled("missing", "u", default=True) is True
    client.close()
    assert other_threads() == before


def test_flag_client_not_started(tmp_path: Path) -> None:
    before = other_threads()
    client = FlagClient("http://127.0.0.1:9", SDK_KEY, start=False, cache_path=None)
    assert client.status == "initializing" and client.wait_until_ready(0) is False
    assert other_threads() == before
    client.close()
    assert other_threads() == before


def test_a_bad_bootstrap_raises_at_once_and_leaks_nothing() -> None:
    before = other_threads()
    try:
        FlagClient("http://127.0.0.1:9", SDK_KEY, bootstrap=b"{not json", cache_path=None)
    except ValueError:
        pass
    else:
        raise AssertionError("a bootstrap that is not a snapshot is the caller's bug")
    gc.collect()
    assert other_threads() == before


async def test_async_client_close_leaves_no_tasks_or_threads(flagd: Flagd, tmp_path: Path) -> None:
    threads, tasks = other_threads(), other_tasks()
    cache = tmp_path / "cache.json"
    async with Admin(flagd) as admin:
        async with AsyncFlagClient(flagd.url, SDK_KEY, cache_path=cache, **FAST) as client:
            assert await client.wait_until_ready(DEADLINE)
            assert other_tasks() - tasks, "the sync task runs"
            key = unique_key("life")
            await admin.create(key, enabled=True)  # a change: a debounced cache write pends
            await eventually(lambda: key in {f.key for f in client.flags()}, key)
        assert other_tasks() == tasks
        assert other_threads() == threads
        assert key in cache.read_text(encoding="utf-8"), "the pending cache write was flushed"
        await client.close()
        assert other_tasks() == tasks


async def test_async_client_closed_before_it_ever_connected() -> None:
    tasks = other_tasks()
    client = AsyncFlagClient(f"http://127.0.0.1:{free_port()}", SDK_KEY, cache_path=None)
    await client.start()
    await client.close()
    assert other_tasks() == tasks
    never_started = AsyncFlagClient("http://127.0.0.1:9", SDK_KEY, cache_path=None)
    await never_started.close()


def test_in_memory_client_for_tests_of_code_that_uses_flags() -> None:
    calls: list[frozenset[str]] = []
    with InMemoryFlagClient(
        [{"key": "new-checkout", "rollout_percentage": 100}, {"key": "beta", "enabled": False}]
    ) as flags:
        flags.on_change(calls.append)
        assert flags.is_enabled("new-checkout", "anyone") is True
        assert flags.is_enabled("beta", "anyone") is False
        assert flags.is_enabled("absent", "anyone", default=True) is True
        flags.set_flag({"key": "beta", "targeted_users": ["ana"]})
        assert flags.is_enabled("beta", "ana") is True
        assert flags.is_enabled("beta", "bob") is False
        flags.remove_flag("new-checkout")
        assert flags.all_flags("ana") == {"beta": True}
        assert flags.status == "ready"
    assert calls == [frozenset({"beta"}), frozenset({"new-checkout"})]


def test_evaluation_never_raises_on_bad_arguments() -> None:
    flags = InMemoryFlagClient([{"key": "f", "rollout_percentage": 50}])
    for user in (None, 42, b"bytes", object()):
        assert flags.is_enabled("f", user, default=True) in (True, False)  # type: ignore[arg-type]
        flags.evaluate("f", user)  # type: ignore[arg-type]
        assert isinstance(flags.all_flags(user), dict)  # type: ignore[arg-type]
    assert flags.is_enabled(None, "u", default=True) is True  # type: ignore[arg-type]


async def test_close_from_a_change_callback_is_refused_not_deadlocked(flagd: Flagd) -> None:
    client = FlagClient(flagd.url, SDK_KEY, cache_path=None, **FAST)
    try:
        assert await asyncio.to_thread(client.wait_until_ready, DEADLINE)
        outcomes: list[str] = []

        def close_from_callback(keys: frozenset[str]) -> None:
            try:
                client.close()
            except RuntimeError as exc:
                outcomes.append(str(exc))

        client.on_change(close_from_callback)
        async with Admin(flagd) as admin:
            key = unique_key("reentrant")
            await admin.create(key, enabled=True, rollout_percentage=100)
            await eventually(lambda: outcomes, "the callback ran")
            assert "on_change" in outcomes[0]
            later = unique_key("still-syncing")
            await admin.create(later, enabled=True, rollout_percentage=100)
            await eventually(lambda: client.is_enabled(later, "u"), "sync goes on")
    finally:
        await asyncio.to_thread(client.close)
