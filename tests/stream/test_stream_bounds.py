"""What one stream may hold, and how many streams there may be (issue 7).

A client that does not read its snapshot holds a slice of it, not a copy, and is closed
when the snapshot timeout passes or its queued events pass the subscriber bound; events
that arrive while a snapshot is being written come after it, each once, in order; past
the stream limit a new stream gets a 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time
from pathlib import Path

import httpx

from tests.daemon import SDK_KEY, Flagd

from .helpers import (
    admin_client,
    create,
    eventually,
    metric,
    revision_of,
    store_flags,
    toggle,
    unique_key,
)
from .sse import SSEStream, fold, open_stream, stream_url

MiB = 1024 * 1024


def rss_bytes(daemon: Flagd) -> int:
    assert daemon.process is not None
    for line in Path(f"/proc/{daemon.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def stalled_client(daemon: Flagd) -> socket.socket:
    """Sends the stream request, then never reads. A small receive buffer keeps the kernel
    from taking much on its behalf."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", daemon.port))
    sock.sendall(
        f"GET /api/client/stream HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\n"
        f"Accept: text/event-stream\r\nX-SDK-Key: {SDK_KEY}\r\n\r\n".encode()
    )
    return sock


def wait_closed(sock: socket.socket, timeout: float) -> str:
    """Read and discard until the server ends the connection: "eof", "reset" or "open"."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if not sock.recv(1 << 20):
                return "eof"
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            break
    return "open"


async def make_flag_set(daemon: Flagd, megabytes: float) -> None:
    """Flags of 5,000 targeted users (~185 KB each) until the snapshot is that large."""
    flags = math.ceil(megabytes * MiB / 180_000)
    async with admin_client(daemon, timeout=60) as admin:
        for index in range(flags):
            users = [f"user-{index:03d}-{n:05d}-padding-padding-pad" for n in range(5000)]
            await create(admin, unique_key("big"), targeted_users=users)


async def subscribers_reach(daemon: Flagd, count: int, timeout: float = 30) -> None:
    async def reached() -> bool:
        return await metric(daemon, "flagd_stream_subscribers") == count

    await eventually(reached, f"{count} stream subscribers", timeout)


async def test_clients_that_never_read_their_snapshot_hold_a_slice_and_are_closed(
    tmp_path: Path,
) -> None:
    clients = 30
    daemon = Flagd(
        data_dir=tmp_path,
        extra_env={"FLAGD_ACCESS_LOG": "false", "FLAGD_STREAM_SNAPSHOT_TIMEOUT": "10"},
    )
    await asyncio.to_thread(daemon.start)
    stalled: list[socket.socket] = []
    try:
        await make_flag_set(daemon, 3)
        # One full read first: the snapshot's one encoding is made before the baseline.
        async with await open_stream(daemon.url, sdk_key=SDK_KEY) as reader:
            snapshot = await reader.next_event(timeout=30)
            assert snapshot.event == "snapshot" and len(snapshot.data) > 3 * MiB
        await subscribers_reach(daemon, 0)
        baseline = rss_bytes(daemon)

        stalled = [await asyncio.to_thread(stalled_client, daemon) for _ in range(clients)]
        await subscribers_reach(daemon, clients)
        held = rss_bytes(daemon) - baseline
        # Each used to hold a private copy of the snapshot (30 x 3 MB); now one 64 KiB slice.
        assert held < 30 * MiB, f"{clients} stalled clients hold {held / MiB:.0f} MB"

        # Watched through /metrics: reading the sockets would let them take the snapshot.
        await subscribers_reach(daemon, 0, timeout=60)
        assert await metric(daemon, "flagd_stream_dropped_total") == clients
        for sock in stalled:
            assert wait_closed(sock, 10) in {"eof", "reset"}
    finally:
        for sock in stalled:
            sock.close()
        await asyncio.to_thread(daemon.stop)


async def test_events_queued_during_a_slow_snapshot_past_the_bound_close_the_client(
    tmp_path: Path,
) -> None:
    daemon = Flagd(
        data_dir=tmp_path,
        extra_env={
            "FLAGD_ACCESS_LOG": "false",
            "FLAGD_SUBSCRIBER_BUFFER_BYTES": str(256 * 1024),
            "FLAGD_STREAM_SNAPSHOT_TIMEOUT": "3600",  # only the bound can close it here
        },
    )
    await asyncio.to_thread(daemon.start)
    stalled: socket.socket | None = None
    try:
        await make_flag_set(daemon, 8)  # more than the kernel buffers take for the client
        stalled = await asyncio.to_thread(stalled_client, daemon)
        await subscribers_reach(daemon, 1)
        async with admin_client(daemon, timeout=60) as admin:
            users = [f"queued-{n:05d}-padding-padding-padding" for n in range(5000)]
            for _ in range(3):  # ~200 KB each: the third passes 256 KiB
                await create(admin, unique_key("queued"), targeted_users=users)
        await subscribers_reach(daemon, 0, timeout=60)
        assert await metric(daemon, "flagd_stream_dropped_total") == 1
        assert await asyncio.to_thread(wait_closed, stalled, 10) in {"eof", "reset"}
    finally:
        if stalled is not None:
            stalled.close()
        await asyncio.to_thread(daemon.stop)


async def test_changes_during_a_slow_snapshot_follow_it_once_and_in_order(
    tmp_path: Path,
) -> None:
    daemon = Flagd(data_dir=tmp_path, extra_env={"FLAGD_ACCESS_LOG": "false"})
    await asyncio.to_thread(daemon.start)
    try:
        await make_flag_set(daemon, 8)
        async with admin_client(daemon, timeout=60) as admin:
            key = unique_key("moving")
            await create(admin, key)
            at = await revision_of(daemon)
            # Headers read, body not: the daemon is stuck part-way through the snapshot.
            slow = await SSEStream.open(stream_url(daemon.url), {"X-SDK-Key": SDK_KEY})
            async with slow:
                await subscribers_reach(daemon, 1)
                for _ in range(5):
                    await toggle(admin, key)
                slow.start()
                events = await slow.events(6, timeout=60)
                assert events[0].event == "snapshot" and events[0].revision == at
                assert [e.revision for e in events[1:]] == list(range(at + 1, at + 6))
                assert fold(events).flags == await store_flags(admin)
    finally:
        await asyncio.to_thread(daemon.stop)


async def test_replay_from_the_change_log_spans_several_pages(tmp_path: Path) -> None:
    daemon = Flagd(data_dir=tmp_path, extra_env={"FLAGD_ACCESS_LOG": "false"})
    await asyncio.to_thread(daemon.start)
    try:
        async with admin_client(daemon) as admin:
            key = unique_key("paged")
            await create(admin, key)
            base = await revision_of(daemon)
            for _ in range(250):  # more than two pages of the store replay
                await toggle(admin, key)
        await asyncio.to_thread(daemon.restart)  # the in-memory window is empty now
        resumed = await open_stream(daemon.url, sdk_key=SDK_KEY, last_event_id=base)
        async with resumed:
            replay = await resumed.events(250, timeout=30)
            assert [e.revision for e in replay] == list(range(base + 1, base + 251))
            assert all(e.event == "flag_updated" for e in replay)
    finally:
        await asyncio.to_thread(daemon.stop)


async def test_past_the_stream_limit_a_stream_gets_503_with_retry_after(tmp_path: Path) -> None:
    daemon = Flagd(
        data_dir=tmp_path, extra_env={"FLAGD_ACCESS_LOG": "false", "FLAGD_MAX_STREAMS": "3"}
    )
    await asyncio.to_thread(daemon.start)
    streams = [await open_stream(daemon.url, sdk_key=SDK_KEY) for _ in range(3)]
    try:
        for open_one in streams:
            assert (await open_one.next_event()).event == "snapshot"
        assert await metric(daemon, "flagd_stream_rejected_total") == 0

        async with await SSEStream.open(stream_url(daemon.url), {"X-SDK-Key": SDK_KEY}) as extra:
            assert extra.status == 503
            assert extra.headers["Content-Type"].startswith("application/json")
            assert int(extra.headers["Retry-After"]) >= 1
            body = json.loads(await extra.body())
            assert body["error"] == "too_many_streams" and body["message"]
        async with httpx.AsyncClient(timeout=10) as plain:
            answer = await plain.get(daemon.url + "/api/client/stream", params={"key": SDK_KEY})
            assert answer.status_code == 503 and "Retry-After" in answer.headers
        assert await metric(daemon, "flagd_stream_rejected_total") == 2

        await streams.pop().close()  # one leaves: a new stream is admitted again

        async def admitted() -> bool:
            candidate = await SSEStream.open(stream_url(daemon.url), {"X-SDK-Key": SDK_KEY})
            if candidate.status != 200:
                await candidate.close()
                return False
            streams.append(candidate)
            candidate.start()
            return True

        await eventually(admitted, "a stream admitted after one closed")
        assert (await streams[-1].next_event()).event == "snapshot"
        assert await metric(daemon, "flagd_stream_subscribers") == 3
    finally:
        for open_one in streams:
            await open_one.close()
        await asyncio.to_thread(daemon.stop)
