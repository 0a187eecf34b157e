"""A small Server-Sent Events client for the stream tests, over raw asyncio streams.

Raw streams rather than an HTTP library so that a test sees exactly what came over the
wire: whether the chunked body ended with its terminal chunk ("clean") or the connection
just went away ("eof", "reset"), every `retry:` line and every `: ping` comment.

- `SSEStream.open(url, headers)` sends one GET and parses the response head; the body is
  read by a background task into a queue of parsed items (`Event`, `Comment`, `Retry`),
  each stamped with its arrival time.
- `Fold` applies snapshot / flag_updated / flag_deleted into a dict key → flag and checks
  that ids are strictly increasing and gap-free (a snapshot resets the base).
- `Follower` keeps one stream open in the background, folds it, and (with `resume=True`)
  reconnects with `Last-Event-ID` like a browser's EventSource.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from multidict import CIMultiDict

from tests.conftest import DEADLINE

STREAM_PATH = "/api/client/stream"


# --- parsed items ---------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A dispatched event. `id` is the id line of this very event (None when it had none);
    `last_event_id` is the EventSource's last-event-id buffer after it."""

    event: str
    data: str
    id: str | None
    last_event_id: str
    received_at: float = 0.0

    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def revision(self) -> int:
        assert self.id is not None, f"event without an id: {self}"
        return int(self.id)


@dataclass(frozen=True)
class Comment:
    text: str  # without the leading ":" (": ping" gives " ping")
    received_at: float = 0.0

    @property
    def is_ping(self) -> bool:
        return self.text.strip() == "ping"


@dataclass(frozen=True)
class Retry:
    milliseconds: int
    received_at: float = 0.0


Item = Event | Comment | Retry


class StreamEnded(Exception):
    def __init__(self, how: str) -> None:
        super().__init__(f"stream ended ({how})")
        self.how = how


class SSEParser:
    """The WHATWG event-stream interpretation, fed bytes incrementally."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self.last_event_id = ""
        self.retry: int | None = None

    def feed(self, chunk: bytes, now: float | None = None) -> list[Item]:
        now = time.monotonic() if now is None else now
        self._buffer += chunk
        items: list[Item] = []
        while True:
            line, ok = self._next_line()
            if not ok:
                return items
            item = self._line(line, now)
            if item is not None:
                items.append(item)

    def _next_line(self) -> tuple[str, bool]:
        buffer = self._buffer
        cr, lf = buffer.find(b"\r"), buffer.find(b"\n")
        if cr == -1 and lf == -1:
            return "", False
        if cr != -1 and (lf == -1 or cr < lf):
            if cr == len(buffer) - 1:
                return "", False  # a "\r\n" may be split across reads
            end, skip = cr, 2 if buffer[cr + 1 : cr + 2] == b"\n" else 1
        else:
            end, skip = lf, 1
        line = buffer[:end].decode("utf-8", errors="replace")
        self._buffer = buffer[end + skip :]
        return line, True

    def _line(self, line: str, now: float) -> Item | None:
        if line == "":
            return self._dispatch(now)
        if line.startswith(":"):
            return Comment(line[1:], now)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
            return Retry(int(value), now)
        return None

    def _dispatch(self, now: float) -> Event | None:
        data, event, event_id = self._data, self._event, self._id
        self._data, self._event, self._id = [], "", None
        if not data:
            return None
        return Event(event or "message", "\n".join(data), event_id, self.last_event_id, now)


# --- one connection -------------------------------------------------------------------


def stream_url(base_url: str, key: str | None = None, path: str = STREAM_PATH) -> str:
    return base_url + path + (f"?{urlencode({'key': key})}" if key is not None else "")


class SSEStream:
    """One GET over a fresh TCP connection. Use `open()`; `close()` when done."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.parser = SSEParser()
        self.end: str | None = None  # "clean" | "eof" | "reset" once the body is over
        self.ended_at: float | None = None
        self.bytes_received = 0
        self.items: list[Item] = []  # everything received so far, in order
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, url: str, headers: Mapping[str, str] | None = None, timeout: float = DEADLINE
    ) -> SSEStream:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        stream = cls(reader, writer)
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}:{port}",
            "Accept: text/event-stream",
            "Cache-Control: no-cache",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            await asyncio.wait_for(stream._read_head(), timeout)
        except BaseException:
            stream._writer.close()
            raise
        return stream

    async def _read_head(self) -> None:
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ", 2)[1])
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                self.headers.add(name.strip(), value.strip())

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    async def body(self, timeout: float = DEADLINE) -> bytes:
        """The whole body of a response that is not a stream (a 401, say)."""
        chunks: list[bytes] = []
        async with asyncio.timeout(timeout):
            async for chunk in self._body_chunks():
                chunks.append(chunk)
        return b"".join(chunks)

    def start(self) -> None:
        if self._pump is None:
            self._pump = asyncio.create_task(self._run_pump())

    async def next(self, timeout: float = DEADLINE) -> Item:
        """The next item; StreamEnded when the body is over, TimeoutError past `timeout`."""
        self.start()
        if self.end is not None and self._queue.empty():
            raise StreamEnded(self.end)
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            assert self.end is not None
            raise StreamEnded(self.end)
        return item

    async def next_event(self, timeout: float = DEADLINE) -> Event:
        """The next dispatched event, skipping comments and `retry:`."""
        deadline = time.monotonic() + timeout
        while True:
            item = await self.next(max(0.0, deadline - time.monotonic()))
            if isinstance(item, Event):
                return item

    async def events(self, count: int, timeout: float = DEADLINE) -> list[Event]:
        return [await self.next_event(timeout) for _ in range(count)]

    async def until_end(self, timeout: float = DEADLINE) -> list[Item]:
        """Every remaining item; raises TimeoutError if the body does not end in time."""
        deadline = time.monotonic() + timeout
        items: list[Item] = []
        while True:
            try:
                items.append(await self.next(max(0.0, deadline - time.monotonic())))
            except StreamEnded:
                return items

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def __aenter__(self) -> SSEStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run_pump(self) -> None:
        try:
            async for chunk in self._body_chunks():
                for item in self.parser.feed(chunk):
                    self.items.append(item)
                    self._queue.put_nowait(item)
        finally:
            if self.end is None:
                self._set_end("cancelled")
            self._queue.put_nowait(None)

    def _set_end(self, how: str) -> None:
        self.end = how
        self.ended_at = time.monotonic()

    async def _body_chunks(self):  # type: ignore[no-untyped-def]
        """The decoded body, piece by piece; sets `end` to how it finished."""
        reader = self._reader
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    self.bytes_received += len(size_line)
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                            self.bytes_received += len(trailer)
                        self._set_end("clean")
                        return
                    data = await reader.readexactly(size + 2)
                    self.bytes_received += len(data)
                    assert data.endswith(b"\r\n"), "malformed chunk"
                    yield data[:-2]
            elif "Content-Length" in self.headers:
                data = await reader.readexactly(int(self.headers["Content-Length"]))
                self.bytes_received += len(data)
                yield data
                self._set_end("clean")
            else:
                while data := await reader.read(65536):
                    self.bytes_received += len(data)
                    yield data
                self._set_end("eof")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self.bytes_received += len(exc.partial)
            self._set_end("eof")
        except (ConnectionResetError, BrokenPipeError):
            self._set_end("reset")


async def open_stream(
    base_url: str,
    *,
    sdk_key: str | None = None,
    query_key: str | None = None,
    last_event_id: str | int | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEADLINE,
) -> SSEStream:
    """Open the flag stream with the key in X-SDK-Key (`sdk_key`) and/or ?key= (`query_key`)."""
    sent = dict(headers or {})
    if sdk_key is not None:
        sent["X-SDK-Key"] = sdk_key
    if last_event_id is not None:
        sent["Last-Event-ID"] = str(last_event_id)
    stream = await SSEStream.open(stream_url(base_url, query_key), sent, timeout)
    stream.start()
    return stream


# --- folding events into flag state ---------------------------------------------------


class FoldError(AssertionError):
    pass


@dataclass
class Fold:
    """Flags by key as a stream describes them.

    `revision` is the base: None until a snapshot (or a known starting revision) is set.
    Each change event must carry id == revision + 1; a snapshot must carry its revision as
    its id and never go backwards, and it replaces the whole state.
    """

    flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    revision: int | None = None
    ids: list[int] = field(default_factory=list)
    snapshots: int = 0
    changes: int = 0

    def apply(self, event: Event) -> None:
        if event.id is None:
            raise FoldError(f"event without an id: {event}")
        try:
            revision = int(event.id)
        except ValueError:
            raise FoldError(f"non-numeric id {event.id!r}") from None
        data = event.json()
        if event.event == "snapshot":
            if data.get("revision") != revision:
                raise FoldError(f"snapshot id {revision} != its revision {data.get('revision')}")
            if self.revision is not None and revision < self.revision:
                raise FoldError(f"snapshot {revision} goes back from {self.revision}")
            self.flags = {flag["key"]: flag for flag in data["flags"]}
            self.snapshots += 1
        elif event.event in ("flag_updated", "flag_deleted"):
            if self.revision is None:
                raise FoldError(f"{event.event} {revision} before any snapshot or base")
            if revision != self.revision + 1:
                raise FoldError(
                    f"{event.event} id {revision} does not follow {self.revision} "
                    f"({'gap' if revision > self.revision else 'duplicate or reorder'})"
                )
            if event.event == "flag_updated":
                self.flags[data["key"]] = data
            else:
                if set(data) != {"key"}:
                    raise FoldError(f"flag_deleted data is not {{'key': ...}}: {data}")
                if data["key"] not in self.flags:
                    raise FoldError(f"flag_deleted {revision} for unknown key {data['key']!r}")
                del self.flags[data["key"]]
            self.changes += 1
        else:
            raise FoldError(f"unexpected event type {event.event!r}")
        self.revision = revision
        self.ids.append(revision)


def fold(events: Iterable[Item], base: Fold | None = None) -> Fold:
    state = base if base is not None else Fold()
    for item in events:
        if isinstance(item, Event):
            state.apply(item)
    return state


# --- a background subscriber ----------------------------------------------------------


class Follower:
    """Keeps a stream open in a task and folds it. With `resume`, it reconnects after
    an end (or a refused connection) with `Last-Event-ID`, as an EventSource does;
    `reconnect_delay` stands in for the server's `retry:` hint to keep tests fast."""

    def __init__(
        self,
        base_url: str,
        *,
        sdk_key: str | None = None,
        query_key: str | None = None,
        resume: bool = False,
        reconnect_delay: float = 0.05,
        name: str = "",
    ) -> None:
        self.base_url = base_url
        self.sdk_key = sdk_key
        self.query_key = query_key
        self.resume = resume
        self.reconnect_delay = reconnect_delay
        self.name = name or base_url
        self.fold = Fold()
        self.last_event_id: str | None = None
        self.arrivals: dict[int, float] = {}  # revision → monotonic arrival time
        self.connections = 0
        self.ends: list[str] = []
        self.sent_last_event_ids: list[str | None] = []
        self.error: BaseException | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._stream: SSEStream | None = None

    async def start(self, timeout: float = DEADLINE) -> Follower:
        """Start, and return once the first connection has delivered its first event."""
        self._task = asyncio.create_task(self._run(), name=f"follower {self.name}")
        deadline = time.monotonic() + timeout
        async with self._changed:
            while self.fold.revision is None:
                self._raise_if_failed()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.name}: no first event within {timeout}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._stream is not None:
            await self._stream.close()

    async def wait_revision(self, revision: int, timeout: float = DEADLINE) -> float:
        """Wait until the fold reaches `revision`; returns that revision's arrival time."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while self.fold.revision is None or self.fold.revision < revision:
                self._raise_if_failed()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.name}: at revision {self.fold.revision}, not {revision}, "
                        f"after {timeout}s (connections={self.connections}, ends={self.ends})"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        self._raise_if_failed()
        return self.arrivals.get(revision, 0.0)

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise AssertionError(f"{self.name}: {self.error}") from self.error
        if self._task is not None and self._task.done() and not self.resume:
            raise AssertionError(f"{self.name}: stream ended ({self.ends})")

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _run(self) -> None:
        try:
            while True:
                try:
                    await self._connect_once()
                except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    self.ends.append(f"connect failed: {exc!r}")
                if not self.resume:
                    return
                await asyncio.sleep(self.reconnect_delay)
        except FoldError as exc:
            self.error = exc
        except Exception as exc:
            self.error = exc
        finally:
            await self._notify()

    async def _connect_once(self) -> None:
        self.sent_last_event_ids.append(self.last_event_id)
        stream = await open_stream(
            self.base_url,
            sdk_key=self.sdk_key,
            query_key=self.query_key,
            last_event_id=self.last_event_id,
        )
        self._stream = stream
        try:
            if stream.status != 200:
                raise AssertionError(f"stream answered {stream.status}")
            self.connections += 1
            # Carry the EventSource's last-event-id buffer over reconnects.
            if self.last_event_id is not None:
                stream.parser.last_event_id = self.last_event_id
            while True:
                try:
                    item = await stream.next(timeout=3600)
                except StreamEnded as end:
                    self.ends.append(end.how)
                    return
                if isinstance(item, Event):
                    self.fold.apply(item)
                    self.last_event_id = item.last_event_id
                    self.arrivals[self.fold.revision or 0] = item.received_at
                    await self._notify()
        finally:
            await stream.close()
            self._stream = None
