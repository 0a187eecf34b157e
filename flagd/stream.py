"""GET /api/client/stream: Server-Sent Events (SPEC section 6).

Fresh connect: `retry:`, then a `snapshot` at revision N, then live events after N.
Reconnect with Last-Event-ID R: every change after R in order (from memory when recent,
else from the store's change log), then live. An id that is not a number, is ahead of
us, or is further back than the retained window gets a fresh snapshot instead.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .appkeys import BROKER, SETTINGS, STATE, STORE
from .broker import Frame, frames_for, snapshot_frame
from .core import StoreUnavailable

log = logging.getLogger("flagd.stream")

RETRY_MS = 3000
REPLAY_LIMIT = 10_000  # changes; further back than this a snapshot is cheaper
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
    state, broker = request.app[STATE], request.app[BROKER]
    if not state.loaded:
        raise StoreUnavailable("flags are not loaded yet: the store has not been reachable")
    transport = request.transport
    if transport is None:
        return web.Response(status=499)
    last_id = parse_last_event_id(request)
    at = state.revision
    chunked = request.version >= (1, 1)
    # Subscribe and read the revision with no await in between: every change after `at`
    # reaches the subscriber's pending list, every change up to `at` is in what we send.
    subscriber = broker.subscribe(transport, chunked, after=at)
    try:
        initial = await _initial_frames(request, last_id, at)
        response = web.StreamResponse(headers=STREAM_HEADERS)
        if chunked:
            response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode() + b"".join(initial))
        if not subscriber.go_live():
            broker.drop(subscriber)
        log.debug("stream closed: %s", await subscriber.done)
        return response  # aiohttp ends the chunked body cleanly
    finally:
        subscriber.finish("disconnected")


async def _initial_frames(request: web.Request, last_id: int | None, at: int) -> list[bytes]:
    if last_id is None or last_id > at or at - last_id > REPLAY_LIMIT:
        return [_snapshot(request)]
    frames = request.app[BROKER].recent_after(last_id, at)
    if frames is None:
        frames = await _replay_from_store(request, last_id, at)
    if frames is None:
        return [_snapshot(request)]
    return [frame.payload for frame in frames]


async def _replay_from_store(request: web.Request, last_id: int, at: int) -> list[Frame] | None:
    store = request.app[STORE]
    frames: list[Frame] = []
    cursor = last_id
    try:
        while cursor < at:
            changes = await store.changes_after(cursor, min(1000, at - cursor))
            if not changes or changes[0].revision != cursor + 1:
                return None
            frames.extend(frames_for(c for c in changes if c.revision <= at))
            cursor = changes[-1].revision
    except StoreUnavailable:
        return None  # a snapshot from memory is always possible
    return frames


def _snapshot(request: web.Request) -> bytes:
    return request.app[STATE].derived("snapshot_frame", snapshot_frame)


async def heartbeat(app: web.Application) -> None:
    """One heartbeat for every stream: serialised once, written in slices."""
    interval = app[SETTINGS].heartbeat_interval
    broker = app[BROKER]
    while True:
        await asyncio.sleep(interval)
        await broker.heartbeat()
