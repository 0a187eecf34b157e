"""A subscriber that stops reading never delays a healthy one, and is closed (SPEC 6)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

from tests.daemon import SDK_KEY, Flagd

from .helpers import admin_client, create, eventually, metric, revision_of, unique_key, update
from .sse import Follower

BOUND = 65536
USERS = 10_000  # the most a flag may hold: each event is about 400 KB
MAX_WRITES = 120  # about 48 MB: far past any kernel socket buffer


def stalled_subscriber(daemon: Flagd) -> socket.socket:
    """Sends the request, then never reads. A small receive buffer keeps the kernel from
    soaking up megabytes on its behalf (the server's send buffer still does)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", daemon.port))
    request = (
        f"GET /api/client/stream HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\n"
        f"Accept: text/event-stream\r\nX-SDK-Key: {SDK_KEY}\r\n\r\n"
    )
    sock.sendall(request.encode())
    return sock


def drain(sock: socket.socket, timeout: float) -> tuple[bytes, str]:
    """Read until the connection ends: (bytes read, "eof" | "reset" | "timeout")."""
    received = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(received), "timeout"
        sock.settimeout(remaining)
        try:
            data = sock.recv(1 << 20)
        except ConnectionResetError:
            return bytes(received), "reset"
        except TimeoutError:
            return bytes(received), "timeout"
        if not data:
            return bytes(received), "eof"
        received += data


def users(round_: int) -> list[str]:
    return [f"user-{round_:04d}-{index:06d}-padding-padding" for index in range(USERS)]


async def test_stalled_subscriber_is_closed_and_never_delays_a_healthy_one(
    tmp_path: Path,
) -> None:
    daemon = Flagd(
        data_dir=tmp_path,
        extra_env={"FLAGD_SUBSCRIBER_BUFFER_BYTES": str(BOUND), "FLAGD_ACCESS_LOG": "false"},
    )
    await asyncio.to_thread(daemon.start)
    stalled = stalled_subscriber(daemon)
    healthy = Follower(daemon.url, sdk_key=SDK_KEY, name="healthy")
    try:
        await healthy.start()

        async def both_subscribed() -> bool:
            return await metric(daemon, "flagd_stream_subscribers") == 2

        await eventually(both_subscribed, "two subscribers registered")
        key = unique_key("big")
        async with admin_client(daemon, timeout=30) as admin:
            await create(admin, key, targeted_users=users(0))
            base = await revision_of(daemon)
            await healthy.wait_revision(base)
            assert await metric(daemon, "flagd_stream_dropped_total") == 0

            # The healthy subscriber gets each write before the next one is made, while the
            # stalled one is still connected and after it is dropped. (How fast it gets them
            # is a timing goal for bench/, which has no stalled-subscriber case yet.)
            written = 0
            extra = 3  # writes after the drop: the healthy one still gets them
            while written < MAX_WRITES and extra > 0:
                written += 1
                await update(admin, key, targeted_users=users(written))
                await healthy.wait_revision(base + written)
                if await metric(daemon, "flagd_stream_dropped_total") >= 1:
                    extra -= 1

        assert await metric(daemon, "flagd_stream_dropped_total") >= 1, (
            f"{written} writes of ~{USERS * 40 // 1000} KB did not get the stalled "
            f"subscriber closed"
        )
        assert healthy.connections == 1 and healthy.ends == []
        final = base + written
        assert healthy.fold.revision == final

        data, how = await asyncio.to_thread(drain, stalled, 10)
        assert how in ("eof", "reset"), f"the stalled connection is still open ({how})"
        seen = [int(n) for n in re.findall(rb"^id: (\d+)$", data, re.MULTILINE)]
        assert not seen or max(seen) < final, "the stalled subscriber got everything"
        assert b"\r\n0\r\n\r\n" not in data, "closed with a graceful end, not dropped"
        assert await metric(daemon, "flagd_stream_subscribers") == 1
    finally:
        stalled.close()
        await healthy.stop()
        await asyncio.to_thread(daemon.stop)
