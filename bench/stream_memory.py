"""Stream memory: flagd's RSS while thousands of stream clients never read (issue 7).

    .venv/bin/python -m bench.stream_memory                  # 2,000 clients, ~2.6 MB flag set
    .venv/bin/python -m bench.stream_memory --clients 500 --hold 10 --after 10

flagd on SQLite (access log off) gets a flag set of `--flags` flags with `--users` targeted
users each (~2.6 MB of snapshot with the defaults), made through the admin API. Then
`--clients` raw TCP connections each send `GET /api/client/stream` and never read a byte
(kernel-default socket buffers, as a stalled client would have). flagd's VmRSS is sampled
every `--every` seconds for `--hold` seconds, the connections are closed, and it is sampled
for `--after` seconds more. Also reported: VmHWM (peak RSS), the stream gauges from
/metrics at the end of each phase, and the snapshot's size.

To measure another checkout of flagd (e.g. the code before a change), copy this file into
that checkout's bench/ and run it from there: `python -m flagd` resolves to the working
directory's package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import resource
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.common import (
    Flagd,
    machine_notes_markdown,
    markdown_table,
    rss_kib,
    run_flagd,
)

GAUGES = (
    "flagd_stream_subscribers",
    "flagd_stream_dropped_total",
    "flagd_stream_rejected_total",
)


def raise_nofile_limit_to(wanted: int) -> None:
    """Raise the soft open-files limit to `wanted` (at most the hard limit); flagd, a child,
    inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def flag_body(index: int, users: int) -> dict[str, object]:
    return {
        "key": f"mem-flag-{index:05d}",
        "description": "stream memory benchmark flag with targeted users",
        "enabled": index % 2 == 0,
        "rollout_percentage": index % 101,
        "targeted_users": [f"user-{index:05d}-{n:04d}-abcdef" for n in range(users)],
    }


async def make_flag_set(daemon: Flagd, flags: int, users: int, concurrency: int = 8) -> int:
    """Create the flags through the admin API; returns the client snapshot's size in bytes."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(flags):
        queue.put_nowait(index)
    async with httpx.AsyncClient(
        base_url=daemon.url, headers={"X-Admin-API-Key": daemon.admin_key or ""}, timeout=30
    ) as admin:

        async def worker() -> None:
            while not queue.empty():
                body = flag_body(queue.get_nowait(), users)
                response = await admin.post("/api/admin/flags", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"create failed: {response.status_code} {response.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    snapshot = httpx.get(
        daemon.url + "/api/client/flags",
        headers={"X-SDK-Key": daemon.sdk_key or "", "Accept-Encoding": "identity"},
        timeout=30,
    )
    snapshot.raise_for_status()
    return len(snapshot.content)


async def open_silent_streams(daemon: Flagd, count: int) -> list[socket.socket]:
    """`count` connections that send the stream request and never read."""
    loop = asyncio.get_running_loop()
    request = (
        f"GET /api/client/stream HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\n"
        f"Accept: text/event-stream\r\nX-SDK-Key: {daemon.sdk_key}\r\n\r\n"
    ).encode()
    gate = asyncio.Semaphore(64)  # within the listen backlog

    async def one() -> socket.socket:
        async with gate:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", daemon.port))
            await loop.sock_sendall(sock, request)
            return sock

    return list(await asyncio.gather(*(one() for _ in range(count))))


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def gauges(daemon: Flagd) -> dict[str, float | None]:
    text = httpx.get(daemon.url + "/metrics", timeout=30).text
    found: dict[str, float | None] = {}
    for name in GAUGES:
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        found[name] = float(match.group(1)) if match else None
    return found


def sample(pid: int, seconds: float, every: float, started: float) -> Iterator[tuple[float, int]]:
    end = time.monotonic() + seconds
    while True:
        yield time.monotonic() - started, rss_kib(pid)
        if time.monotonic() >= end:
            return
        time.sleep(every)


def mb(kib: float) -> str:
    return f"{kib / 1024:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--flags", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100, help="targeted users per flag")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds to hold the clients")
    parser.add_argument("--after", type=float, default=20.0, help="seconds sampled after close")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra flagd env"
    )
    args = parser.parse_args(argv)
    raise_nofile_limit_to(args.clients + 256)
    extra_env = dict(item.split("=", 1) for item in args.env)

    print(machine_notes_markdown())
    with run_flagd("sqlite", extra_env=extra_env) as daemon:
        assert daemon.process is not None
        pid = daemon.process.pid
        print(f"creating {args.flags} flags x {args.users} users ...", file=sys.stderr)
        snapshot_bytes = asyncio.run(make_flag_set(daemon, args.flags, args.users))
        rss_loaded = rss_kib(pid)
        print(f"- snapshot: {snapshot_bytes:,} bytes; flagd RSS with the flags: {mb(rss_loaded)}")

        started = time.monotonic()
        loop = asyncio.new_event_loop()
        socks = loop.run_until_complete(open_silent_streams(daemon, args.clients))
        opened = time.monotonic() - started
        print(f"- {len(socks)} connections opened in {opened:.1f} s")
        held = list(sample(pid, args.hold, args.every, started))
        while_held = gauges(daemon)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()
        loop.close()
        closed_at = time.monotonic() - started
        after = list(sample(pid, args.after, args.every, started))
        after_close = gauges(daemon)
        peak = status_kib(pid, "VmHWM")
        log_lines = daemon.log().splitlines()
        trims = [line for line in log_lines if "gave free heap memory" in line]
        slow = sum("closing a slow stream subscriber" in line for line in log_lines)

    rows = [[f"{t:.1f}", "held", mb(kib)] for t, kib in held]
    rows += [[f"{t:.1f}", "closed", mb(kib)] for t, kib in after]
    print()
    print(markdown_table(["s since first connect", "clients", "flagd VmRSS"], rows))
    print()
    summary = [
        ["flag set loaded, no streams", mb(rss_loaded)],
        [
            f"max while {args.clients:,} clients held ({args.hold:.0f} s)",
            mb(max(k for _, k in held)),
        ],
        ["at the end of the hold", mb(held[-1][1])],
        [f"{args.after:.0f} s after closing (closed at {closed_at:.1f} s)", mb(after[-1][1])],
        ["VmHWM (peak)", mb(peak)],
    ]
    summary += [[f"{name} while held", while_held[name]] for name in GAUGES]
    summary += [[f"{name} after close", after_close[name]] for name in GAUGES]
    print(markdown_table(["", "value"], summary))
    print(f"\nflagd log: {slow} 'closing a slow stream subscriber' lines; heap trims:")
    for line in trims:
        print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
