"""SSE load generator: thousands of concurrent GET /api/client/stream subscribers.

One generator is several processes (multiprocessing, spawn), each running one asyncio
loop of bare `asyncio.Protocol` connections: a hand-written HTTP/1.1 GET, incremental
chunked-transfer and SSE parsing, and for every change event only its id and the
`time.time()` at which its bytes arrived are kept. No client library: at 10,000 streams the
generator's own cost per event is part of what gets measured, so it is kept small.

Each process raises RLIMIT_NOFILE to the hard limit and spreads its connections over
several loopback source addresses (127.0.0.2, 127.0.0.3, ...), so neither the open-files
limit nor the ephemeral ports of one address run out.

    with LoadGenerator(processes=4) as generator:
        generator.connect([Target("127.0.0.1", port, key, "A")], [10_000])
        generator.wait_ready(10_000)
        ...
        subscribers = generator.results()

Smoke test against a running flagd (holds the streams, then prints what arrived):

    .venv/bin/python -m bench.sse_load --port 8080 --key SDK_KEY --count 1000 --hold 30
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

DEFAULT_SOURCES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
CHANGE_EVENTS = (b"flag_updated", b"flag_deleted")
CONNECT_ATTEMPTS = 5
READY_TIMEOUT = 30.0  # seconds from connect to the snapshot before an attempt is retried


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True)
class Target:
    """One flagd stream endpoint; `tag` names it in the results (e.g. "A", "B")."""

    host: str
    port: int
    key: str
    tag: str = "A"

    def request(self) -> bytes:
        return (
            f"GET /api/client/stream?key={self.key} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Accept: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n\r\n"
        ).encode()


@dataclass(frozen=True)
class Subscriber:
    """What one stream saw: its snapshot revision, change events (id, arrival), close."""

    tag: str
    snapshot_revision: int | None
    events: list[tuple[int, float]]
    closed: str | None
    pings: list[float] = field(default_factory=list)  # arrivals of heartbeat comments


@dataclass
class Status:
    ready: int = 0  # streams that received their snapshot
    failed: int = 0  # streams given up after CONNECT_ATTEMPTS
    closed: int = 0  # ready streams that were closed afterwards
    connecting: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    revisions: set[int] = field(default_factory=set)


# --- one connection ---------------------------------------------------------------------


class Stream(asyncio.Protocol):
    """One SSE subscriber: parses the response incrementally, keeps change ids + times."""

    def __init__(self, target: Target, ready: asyncio.Future[int]) -> None:
        self.target = target
        self.ready = ready
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.sse = bytearray()
        self.headers_done = False
        self.chunked = False
        self.need = -1  # bytes left in the current chunk; -1 when a size line comes next
        self.snapshot_revision: int | None = None
        self.events: list[tuple[int, float]] = []
        self.pings: list[float] = []
        self.closed: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.target.request())

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf
        buf += data
        if not self.headers_done and not self._read_head():
            return
        if self.chunked:
            self._dechunk()
        else:
            self.sse += buf
            buf.clear()
        self._read_events(now)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed is None:
            self.closed = f"connection lost: {exc}" if exc else "closed by the server"
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(self.closed))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _read_head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        status_line, *lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "200":
            self._fail(f"HTTP status {status_line!r}")
            return False
        self.chunked = any(
            line.lower().startswith("transfer-encoding:") and "chunked" in line.lower()
            for line in lines
        )
        self.headers_done = True
        return True

    def _dechunk(self) -> None:
        buf, sse = self.buf, self.sse
        while True:
            if self.need < 0:
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return
                size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
                del buf[: eol + 2]
                if size == 0:
                    self._fail("the server ended the stream")
                    return
                self.need = size
            if len(buf) < self.need + 2:
                return
            sse += buf[: self.need]
            del buf[: self.need + 2]
            self.need = -1

    def _read_events(self, now: float) -> None:
        sse = self.sse
        while (end := sse.find(b"\n\n")) >= 0:
            block = bytes(sse[:end])
            del sse[: end + 2]
            if block.startswith(b":"):
                self.pings.append(now)  # heartbeat comment
                continue
            event, event_id = b"message", None
            for line in block.split(b"\n"):
                if line.startswith(b"event:"):
                    event = line[6:].strip()
                elif line.startswith(b"id:"):
                    raw = line[3:].strip()
                    event_id = int(raw) if raw.isdigit() else None
            if event in CHANGE_EVENTS and event_id is not None:
                self.events.append((event_id, now))
            elif event == b"snapshot":
                self.snapshot_revision = event_id
                if not self.ready.done():
                    self.ready.set_result(event_id if event_id is not None else -1)

    def _fail(self, reason: str) -> None:
        self.closed = reason
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        self.abort()


# --- one generator process --------------------------------------------------------------


class Worker:
    """The asyncio side of one generator process, driven by commands over a pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.streams: list[Stream] = []
        self.status = Status()
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopped: asyncio.Future[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.stopped = loop.create_future()
        loop.add_reader(self.conn.fileno(), self._on_command)
        try:
            await self.stopped
        finally:
            loop.remove_reader(self.conn.fileno())
            for stream in self.streams:
                stream.abort()
            await asyncio.sleep(0)

    def _on_command(self) -> None:
        while self.conn.poll():
            try:
                name, args = self.conn.recv()
            except EOFError:
                self._stop()
                return
            self.conn.send(getattr(self, f"cmd_{name}")(*args))

    def _stop(self) -> None:
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(None)

    def cmd_connect(self, plan: list[Target], sources: Sequence[str], concurrency: int) -> int:
        task = asyncio.get_running_loop().create_task(self._connect_all(plan, sources, concurrency))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return len(plan)

    def cmd_status(self) -> Status:
        self.status.closed = sum(1 for s in self.streams if s.closed is not None)
        self.status.revisions = {
            s.snapshot_revision for s in self.streams if s.snapshot_revision is not None
        }
        return self.status

    def cmd_results(self) -> list[Subscriber]:
        return [
            Subscriber(s.target.tag, s.snapshot_revision, s.events, s.closed, s.pings)
            for s in self.streams
        ]

    def cmd_close(self) -> bool:
        for task in self.tasks:
            task.cancel()
        self._stop()
        return True

    async def _connect_all(
        self, plan: list[Target], sources: Sequence[str], concurrency: int
    ) -> None:
        gate = asyncio.Semaphore(concurrency)
        await asyncio.gather(
            *(
                self._connect(target, sources[i % len(sources)] if sources else None, gate)
                for i, target in enumerate(plan)
            )
        )

    async def _connect(self, target: Target, source: str | None, gate: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        errors = collections.Counter[str]()
        async with gate:
            self.status.connecting += 1
            try:
                for attempt in range(CONNECT_ATTEMPTS):
                    ready: asyncio.Future[int] = loop.create_future()
                    stream = Stream(target, ready)
                    try:
                        await loop.create_connection(
                            lambda s=stream: s,  # type: ignore[misc]
                            target.host,
                            target.port,
                            local_addr=(source, 0) if source else None,
                        )
                        await asyncio.wait_for(ready, READY_TIMEOUT)
                    except (OSError, TimeoutError) as exc:
                        stream.abort()
                        errors[type(exc).__name__] += 1
                        await asyncio.sleep(0.2 * 2**attempt)
                        continue
                    self.streams.append(stream)
                    self.status.ready += 1
                    return
                self.status.failed += 1
            finally:
                self.status.connecting -= 1
                for name, count in errors.items():
                    self.status.errors[name] = self.status.errors.get(name, 0) + count


def _worker_main(conn: Connection, nice: int) -> None:
    raise_nofile_limit()
    if nice:
        os.nice(nice)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Worker(conn).run())


# --- the driver's handle on the processes -----------------------------------------------


class LoadGenerator:
    """Several generator processes; every call fans out to all of them and merges."""

    def __init__(self, processes: int = 4, nice: int = 0) -> None:
        """`nice` > 0 lowers the processes' CPU priority below the daemon's."""
        raise_nofile_limit()
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for index in range(processes):
            parent, child = ctx.Pipe()
            process = ctx.Process(
                target=_worker_main, args=(child, nice), name=f"sse-load-{index}", daemon=True
            )
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def _call(self, name: str, per_process: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        for index, pipe in enumerate(self.pipes):
            pipe.send((name, per_process[index] if per_process else ()))
        return [pipe.recv() for pipe in self.pipes]

    def connect(
        self,
        targets: Sequence[Target],
        counts: Sequence[int],
        sources: Sequence[str] = DEFAULT_SOURCES,
        in_flight: int = 128,
    ) -> None:
        """Open counts[i] streams to targets[i], spread evenly over the processes.

        `in_flight` bounds connections not yet past their snapshot, over all processes:
        aiohttp listens with a backlog of 128, and a full accept queue costs a client a
        one-second SYN retransmission.
        """
        n = len(self.pipes)
        plans: list[list[Target]] = [[] for _ in range(n)]
        for target, count in zip(targets, counts, strict=True):
            for index in range(n):
                plans[index] += [target] * (count // n + (1 if index < count % n else 0))
        per_process = max(1, in_flight // n)
        self._call("connect", [(plan, tuple(sources), per_process) for plan in plans])

    def status(self) -> Status:
        merged = Status()
        for status in self._call("status"):
            merged.ready += status.ready
            merged.failed += status.failed
            merged.closed += status.closed
            merged.connecting += status.connecting
            merged.revisions |= status.revisions
            for name, count in status.errors.items():
                merged.errors[name] = merged.errors.get(name, 0) + count
        return merged

    def wait_ready(self, total: int, timeout: float = 300.0) -> Status:
        """Block until `total` streams have their snapshot (or some gave up, or timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status.ready + status.failed >= total or time.monotonic() > deadline:
                return status
            time.sleep(0.25)

    def results(self) -> list[Subscriber]:
        return [subscriber for part in self._call("results") for subscriber in part]

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, EOFError):
                pipe.send(("close", ()))
                pipe.recv()
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)
        for pipe in self.pipes:
            pipe.close()
        self.pipes, self.processes = [], []


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default=os.environ.get("SDK_API_KEY", ""))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds to hold the streams")
    options = parser.parse_args(argv)
    if options.host not in ("127.0.0.1", "localhost"):
        parser.error("the load generator targets 127.0.0.1 only")

    started = time.monotonic()
    with LoadGenerator(options.processes) as generator:
        generator.connect([Target(options.host, options.port, options.key)], [options.count])
        status = generator.wait_ready(options.count)
        print(
            f"ready {status.ready}/{options.count} in {time.monotonic() - started:.1f}s, "
            f"failed {status.failed}, errors {status.errors}, snapshot revisions "
            f"{sorted(status.revisions)}",
            file=sys.stderr,
        )
        time.sleep(options.hold)
        subscribers = generator.results()
    received = collections.Counter(event_id for s in subscribers for event_id, _ in s.events)
    closed = sum(1 for s in subscribers if s.closed)
    print(f"events received per id: {dict(sorted(received.items()))}; closed: {closed}")


if __name__ == "__main__":
    main()
