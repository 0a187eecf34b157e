"""GET /api/client/stream: Server-Sent Events (SPEC section 6).

Fresh connect: `retry:`, then a `snapshot` at revision N, then live events after N.
Reconnect with Last-Event-ID R: every change after R in order (flagd/feed.py: from memory
when recent, else from the change logs), then live. An id that is not a number, is ahead of
us, or is further back than the retained window gets a fresh snapshot instead.

The first bytes (a snapshot can be megabytes) are written a slice at a time, waiting for
the socket to take each one, so a client that does not read holds one slice, not a copy
of the snapshot. Meanwhile its live events queue in the broker up to the subscriber bound;
a client that has not taken its first bytes within the snapshot timeout is closed.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import random
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from .appkeys import BROKER, CORS, FEED, SETTINGS, STATE
from .broker import Subscriber, snapshot_frame
from .core import StoreUnavailable
from .errors import too_many_streams

log = logging.getLogger("flagd.stream")

RETRY_MS = 3000
WRITE_SLICE = 64 * 1024  # bytes per write of the first bytes; the socket must take each
TRIM_AFTER_CLOSED = 1000  # streams ended since the last malloc_trim
# Retry-After past the stream limit, spread so that refused clients do not return together.
RETRY_AFTER_SECONDS = (5, 15)
STREAM_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/client/stream", stream, allow_head=False)


def parse_last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())


async def stream(request: web.Request) -> web.StreamResponse:
    state, broker, settings = request.app[STATE], request.app[BROKER], request.app[SETTINGS]
    if not state.loaded:
        raise StoreUnavailable("flags are not loaded yet: the store has not been reachable")
    transport = request.transport
    if transport is None:
        return web.Response(status=499)
    if not broker.has_room(settings.max_streams):
        broker.rejected += 1
        return too_many_streams(settings.max_streams, random.randint(*RETRY_AFTER_SECONDS))
    last_id = parse_last_event_id(request)
    chunked = request.version >= (1, 1)
    # Subscribe and read the revision with no await in between: every change after it
    # reaches the subscriber's pending list, every change up to it is in what we send.
    subscriber = broker.subscribe(transport, chunked, after=state.revision)
    try:
        response = new_response(request)
        try:
            async with asyncio.timeout(settings.stream_snapshot_timeout):
                request.app[CORS].apply(request, response)
                await response.prepare(request)
                await _write_paced(response, _initial_frames(request, subscriber, last_id))
        except TimeoutError:
            broker.drop(
                subscriber, f"it took no snapshot in {settings.stream_snapshot_timeout:g} s"
            )
            return response
        except ConnectionError:
            return response  # gone, or dropped by the broker for falling behind meanwhile
        if not subscriber.go_live():
            broker.drop(subscriber)
        log.debug("stream closed: %s", await subscriber.done)
        return response  # aiohttp ends the chunked body cleanly
    finally:
        subscriber.finish("disconnected")


def new_response(request: web.Request) -> web.StreamResponse:
    """aiohttp's plain StreamResponse: events are pre-framed bytes the broker writes into
    the transport. (aiohttp-sse's EventSourceResponse was measured in its place and cost
    more per stream: bench/RESULTS.md, "aiohttp-sse's EventSourceResponse".)"""
    response = web.StreamResponse(headers=STREAM_HEADERS)
    if request.version >= (1, 1):
        response.enable_chunked_encoding()
    return response


async def _write_paced(response: web.StreamResponse, parts: AsyncIterator[bytes]) -> None:
    """Write `retry:` and the parts, small ones gathered and large ones sliced into writes
    of about WRITE_SLICE bytes. Once more than 64 KiB went out since it last waited,
    aiohttp's write waits until the transport's buffer is under its low-water mark, so a
    client that does not read holds a slice or two, never the rest of the snapshot."""
    batch: list[bytes] = [f"retry: {RETRY_MS}\n\n".encode()]
    batched = len(batch[0])
    async for part in parts:
        if len(part) < WRITE_SLICE:
            batch.append(part)
            batched += len(part)
            if batched >= WRITE_SLICE:
                await response.write(b"".join(batch))
                batch, batched = [], 0
            continue
        if batch:
            await response.write(b"".join(batch))
            batch, batched = [], 0
        view = memoryview(part)  # slices share the one encoding every subscriber gets
        for start in range(0, len(view), WRITE_SLICE):
            await response.write(view[start : start + WRITE_SLICE])
    if batch:
        await response.write(b"".join(batch))


async def _initial_frames(
    request: web.Request, subscriber: Subscriber, last_id: int | None
) -> AsyncIterator[bytes]:
    """The snapshot, or the changes after `last_id` up to `subscriber.after`."""
    if last_id is None or last_id > subscriber.after:
        yield _snapshot(request, subscriber)
        return
    async for payload in request.app[FEED].replay(last_id, subscriber.after):
        if payload is None:
            # A snapshot replaces whatever part of the replay was already sent.
            yield _snapshot(request, subscriber)
            return
        yield payload


def _snapshot(request: web.Request, subscriber: Subscriber) -> bytes:
    """The snapshot as of now, which may be later than the subscription (after a replay
    attempt): the changes it already holds are not sent again."""
    state = request.app[STATE]
    subscriber.after = state.revision
    return state.derived("snapshot_frame", snapshot_frame)


async def heartbeat(app: web.Application) -> None:
    """One heartbeat for every stream: serialised once, written in slices. After many
    streams have ended, the heap pages their buffers used are given back to the system."""
    interval = app[SETTINGS].heartbeat_interval
    broker = app[BROKER]
    trim = malloc_trim()
    closed_at_trim = broker.closed
    while True:
        await asyncio.sleep(interval)
        await broker.heartbeat()
        ended = broker.closed - closed_at_trim
        if trim is not None and ended >= TRIM_AFTER_CLOSED:
            closed_at_trim = broker.closed
            started = time.perf_counter()
            trim()
            elapsed_ms = 1000 * (time.perf_counter() - started)
            log.info(
                "gave free heap memory back after %d streams ended (%.1f ms)", ended, elapsed_ms
            )


def malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None elsewhere. glibc keeps freed memory in its heap, so
    without it RSS stays at its peak after thousands of streams come and go."""
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return lambda: function(0)
