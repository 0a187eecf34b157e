"""In-process fan-out of stream events: serialise once, write the same bytes to everyone.

Each event is encoded once as an SSE frame and once more as an HTTP/1.1 chunk, and that
one `bytes` object is written straight into every subscriber's transport. No per-event,
per-subscriber coroutine is woken, which is what keeps 10,000 subscribers cheap.

A subscriber's bound is the bytes queued for it and not yet taken by its socket. Past the
bound it is a slow subscriber: it is closed at once, so it never delays the others, and it
catches up on reconnect with Last-Event-ID. While its first bytes (snapshot or replay) are
being written, its live events wait in a pending list under the same bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .core import Change, Snapshot, encode_json

log = logging.getLogger("flagd.broker")

PING = b": ping\n\n"
SWEEP_INTERVAL = 0.1  # seconds; at the stream limit, how often to look for closed clients


def sse_frame(event: str, data: bytes, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\nevent: {event}\n" if event_id is not None else f"event: {event}\n"
    return head.encode() + b"data: " + data + b"\n\n"


def change_frame(change: Change) -> bytes:
    if change.flag is None:
        return sse_frame("flag_deleted", encode_json({"key": change.key}), change.revision)
    return sse_frame("flag_updated", encode_json(change.flag.to_dict()), change.revision)


def snapshot_frame(snapshot: Snapshot) -> bytes:
    return sse_frame("snapshot", snapshot.to_json(), snapshot.revision)


def http_chunk(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


@dataclass(frozen=True, slots=True)
class Frame:
    """One event, encoded once for every kind of connection."""

    revision: int | None  # None for heartbeats
    payload: bytes  # the SSE bytes (HTTP/1.0, or an unchunked writer)
    chunk: bytes  # the same bytes framed as an HTTP/1.1 chunk

    @classmethod
    def of(cls, payload: bytes, revision: int | None = None) -> Frame:
        return cls(revision, payload, http_chunk(payload))


@dataclass(eq=False)
class Subscriber:
    """One open stream. Starts `pending` (buffering while its first bytes are written),
    then goes live: frames are written directly to `transport`."""

    transport: asyncio.Transport
    chunked: bool
    limit: int
    done: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    pending: list[Frame] | None = field(default_factory=list)
    pending_bytes: int = 0
    after: int = 0  # frames at or below this revision were already sent (snapshot or replay)

    def offer(self, frame: Frame) -> bool:
        """Queue or write one frame. False when the subscriber has to be dropped."""
        if self.done.done():
            return False
        if frame.revision is not None and frame.revision <= self.after:
            return True
        if self.pending is not None:
            self.pending.append(frame)
            self.pending_bytes += len(frame.payload)
            return self.pending_bytes <= self.limit
        transport = self.transport
        if transport.is_closing():
            self.finish("disconnected")
            return False
        transport.write(frame.chunk if self.chunked else frame.payload)
        if frame.revision is not None:
            self.after = frame.revision
        return transport.get_write_buffer_size() <= self.limit

    def go_live(self) -> bool:
        """Flush what queued up during the initial write; from now on write directly."""
        pending, self.pending = self.pending or [], None
        self.pending_bytes = 0
        return all(self.offer(frame) for frame in pending)

    def finish(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_result(reason)


class Broker:
    def __init__(self, subscriber_limit: int) -> None:
        self.subscriber_limit = subscriber_limit
        self.subscribers: set[Subscriber] = set()
        self._unsent: list[Frame] = []  # applied changes not yet written to subscribers
        self.events_sent = 0
        self.dropped = 0
        self.rejected = 0  # streams refused at the limit (counted by the handler)
        self.closed = 0  # streams ended, for any reason
        self._swept_at = 0.0
        self.on_drop: Callable[[], None] | None = None

    def subscribe(self, transport: asyncio.Transport, chunked: bool, after: int) -> Subscriber:
        subscriber = Subscriber(transport, chunked, self.subscriber_limit, after=after)
        self.subscribers.add(subscriber)
        subscriber.done.add_done_callback(lambda _: self._closed(subscriber))
        return subscriber

    def _closed(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        self.closed += 1

    def has_room(self, limit: int) -> bool:
        """Whether fewer than `limit` streams are open. A client that went away is noticed
        only at the next write to it (an event or a heartbeat), so at the limit the closed
        ones are let go first, at most once per SWEEP_INTERVAL."""
        if len(self.subscribers) < limit:
            return True
        now = time.monotonic()
        if now - self._swept_at >= SWEEP_INTERVAL:
            self._swept_at = now
            for subscriber in [s for s in self.subscribers if s.transport.is_closing()]:
                subscriber.finish("disconnected")
                self.subscribers.discard(subscriber)  # the done callback runs a tick later
        return len(self.subscribers) < limit

    def publish(self, frame: Frame) -> None:
        """Write a change's frame to every stream. The socket writes wait for the next loop
        turn, so that a write's response goes out first; the feed's window already has the
        frame, so a stream opened in between gets it in its replay and skips it here. The
        order of changes is kept."""
        self._unsent.append(frame)
        if len(self._unsent) == 1:
            asyncio.get_running_loop().call_soon(self._send_unsent)

    def _send_unsent(self) -> None:
        frames, self._unsent = self._unsent, []
        for frame in frames:
            self._fan_out(frame)

    async def heartbeat(self, slice_size: int = 100) -> None:
        """Ping every subscriber, a slice at a time, yielding to the event loop between
        slices: with 10,000 streams a ping is ~100 ms of socket writes, and a change that
        lands meanwhile must not wait for all of it. (Changes themselves are fanned out in
        one go, which is what keeps every subscriber's events in order.)"""
        frame = Frame.of(PING)
        subscribers = list(self.subscribers)
        for start in range(0, len(subscribers), slice_size):
            for subscriber in subscribers[start : start + slice_size]:
                if not subscriber.done.done() and not subscriber.offer(frame):
                    self.drop(subscriber)
            await asyncio.sleep(0)

    def close_all(self, reason: str = "shutdown") -> None:
        for subscriber in list(self.subscribers):
            subscriber.finish(reason)

    def _fan_out(self, frame: Frame) -> None:
        slow: list[Subscriber] = []
        for subscriber in self.subscribers:
            if not subscriber.offer(frame):
                slow.append(subscriber)
        for subscriber in slow:
            self.drop(subscriber)
        if frame.revision is not None:
            self.events_sent += len(self.subscribers)

    def drop(self, subscriber: Subscriber, why: str | None = None) -> None:
        if subscriber.done.done():
            return
        self.dropped += 1
        why = why or f"over {self.subscriber_limit} bytes behind"
        log.info("closing a slow stream subscriber: %s", why)
        subscriber.finish("slow")
        # A reader that stopped reading would never take a graceful close's bytes.
        subscriber.transport.abort()
        if self.on_drop is not None:
            self.on_drop()
