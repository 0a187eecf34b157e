"""create_app: wires store, bus, state, broker, service, routes and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from aiohttp import web, web_response

from . import admin_api, client_api, ops_api, stream
from .admin_list import AdminList
from .appkeys import (
    ADMIN_LIST,
    BROKER,
    BUS,
    CORS,
    FEED,
    METRICS,
    SERVICE,
    SETTINGS,
    STATE,
    STORE,
    SYNC,
)
from .broker import Broker
from .bus import Bus, open_bus
from .core import Change, StoreUnavailable
from .feed import ChangeFeed
from .http_server import SERVER_NAME
from .keys import ApiKeys
from .metrics import Metrics
from .middleware import Cors, build_middleware
from .service import FlagService
from .settings import Settings
from .state import FlagState, StateSync
from .store import open_store

log = logging.getLogger("flagd")

# aiohttp fills in `Server: Python/3.x aiohttp/3.y` where a response has none; its default
# becomes ours, so every response (the stream, errors, 304s) says `flagd` at no cost per
# response. A private name: pyproject pins aiohttp, tests/test_private_api_pins.py checks it.
web_response.SERVER_SOFTWARE = SERVER_NAME


def create_app(settings: Settings, keys: ApiKeys, state_dir: Path) -> web.Application:
    store = open_store(settings.database_url, state_dir)
    bus = open_bus(settings.redis_url, settings.redis_channel, settings.redis_log_length)
    state = FlagState()
    feed = ChangeFeed(store, bus)
    sync = StateSync(store, state, bus, feed=feed)
    broker = Broker(settings.subscriber_buffer_bytes)
    metrics = Metrics()
    wire_changes(state, feed, broker, metrics)
    metrics.add_gauges(lambda: _gauges(state, sync, broker, bus))

    cors = Cors(settings.cors_origins)
    app = web.Application(
        middlewares=[build_middleware(keys, cors, metrics)],
        client_max_size=settings.max_body_bytes,
        # Long refs and headers reach our handlers (and get a JSON 404/400) instead of
        # being cut off by the HTTP parser with a plain-text 400.
        handler_args={"max_line_size": 64 * 1024, "max_field_size": 64 * 1024},
    )
    app[SETTINGS] = settings
    app[CORS] = cors
    app[STORE] = store
    app[BUS] = bus
    app[STATE] = state
    app[SYNC] = sync
    app[BROKER] = broker
    app[FEED] = feed
    app[SERVICE] = FlagService(store, sync, bus, settings.idempotency_ttl)
    app[METRICS] = metrics
    app[ADMIN_LIST] = AdminList(sync)

    admin_api.add_routes(app)
    client_api.add_routes(app)
    stream.add_routes(app)
    ops_api.add_routes(app)
    app.cleanup_ctx.append(_store_lifecycle)
    app.cleanup_ctx.append(_bus_lifecycle)
    app.cleanup_ctx.append(_heartbeat_lifecycle)
    app.cleanup_ctx.append(_idempotency_purge_lifecycle)
    app.cleanup_ctx.append(_freeze_startup_objects)
    app.on_shutdown.append(_end_streams)
    return app


def wire_changes(state: FlagState, feed: ChangeFeed, broker: Broker, metrics: Metrics) -> None:
    """Where a change goes once it is applied to this instance's state (the one listener):
    the feed encodes its frame and keeps it for replays, the broker writes that frame to
    every open stream (on the next loop turn, after the write's response), and the
    propagation metric times it from its commit. Changes reach the state itself through
    StateSync (own writes, the bus, gap fills, reconcile), in revision order."""

    def applied(change: Change) -> None:
        broker.publish(feed.record(change))
        _observe_propagation(metrics, change)

    state.add_listener(applied)


def _observe_propagation(metrics: Metrics, change: Change) -> None:
    try:
        committed = datetime.fromisoformat(change.at).timestamp()
    except ValueError:
        return
    metrics.propagation.observe(max(0.0, time.time() - committed))


def _gauges(
    state: FlagState, sync: StateSync, broker: Broker, bus: Bus
) -> dict[str, tuple[str, float]]:
    return {
        "flagd_flags": ("Flags in this daemon's memory", float(len(state))),
        "flagd_revision": ("Newest change revision applied in memory", float(state.revision)),
        "flagd_state_loaded": ("1 once flags are loaded from the store", float(state.loaded)),
        "flagd_stream_subscribers": ("Open stream connections", float(len(broker.subscribers))),
        "flagd_stream_events_total": ("Events written to subscribers", float(broker.events_sent)),
        "flagd_stream_dropped_total": ("Slow stream subscribers closed", float(broker.dropped)),
        "flagd_stream_rejected_total": (
            "Streams refused with 503 at the stream limit",
            float(broker.rejected),
        ),
        "flagd_store_up": ("1 while the store answered its last call", float(sync.store_up)),
        "flagd_changes_held": (
            "Changes received ahead of a gap, waiting for it to fill",
            float(len(sync.held)),
        ),
        "flagd_bus_up": ("1 while the notification bus is connected", float(bus.healthy)),
    }


async def _store_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Open the store and load the state; keep retrying in the background if it is down."""
    store, sync, settings = app[STORE], app[SYNC], app[SETTINGS]
    opened = False
    try:
        await store.open()
        await sync.load()
        opened = True
    except StoreUnavailable as exc:
        log.warning("store unavailable at start, retrying in the background: %s", exc)
    task = asyncio.create_task(_keep_in_sync(sync, settings, opened))
    yield
    await _cancel(task)
    await store.close()


async def _keep_in_sync(sync: StateSync, settings: Settings, opened: bool) -> None:
    """Finish opening the store if needed, then reconcile periodically."""
    delay = 0.5
    while not opened:
        await asyncio.sleep(delay)
        try:
            await sync.store.open()
            await sync.load()
            opened = True
            log.info("store reachable again")
        except StoreUnavailable as exc:
            delay = min(delay * 2, 5.0)
            log.warning("store still unavailable: %s", exc)
    while True:
        await asyncio.sleep(settings.reconcile_interval)
        try:
            await sync.reconcile()
        except StoreUnavailable as exc:
            log.warning("reconcile skipped: %s", exc)
        except Exception:
            log.exception("reconcile failed")


async def _bus_lifecycle(app: web.Application) -> AsyncIterator[None]:
    bus, sync = app[BUS], app[SYNC]

    async def resync() -> None:
        try:
            await sync.reconcile()
        except StoreUnavailable as exc:
            log.warning("resync after bus (re)connect deferred: %s", exc)

    await bus.start(sync.deliver, resync)
    yield
    await bus.close()


async def _heartbeat_lifecycle(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(stream.heartbeat(app))
    yield
    await _cancel(task)


async def _idempotency_purge_lifecycle(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_purge_idempotency_keys(app[SERVICE], app[SETTINGS]))
    yield
    await _cancel(task)


async def _purge_idempotency_keys(service: FlagService, settings: Settings) -> None:
    """Expired keys are never replayed; deleting them keeps the table to one TTL of writes."""
    while True:
        await asyncio.sleep(min(settings.idempotency_ttl, 60.0))
        try:
            purged = await service.purge_idempotency_keys()
        except StoreUnavailable as exc:
            log.debug("idempotency key purge skipped: %s", exc)
            continue
        except Exception:
            log.exception("idempotency key purge failed")
            continue
        if purged:
            log.debug("purged %d expired idempotency keys", purged)


async def _freeze_startup_objects(app: web.Application) -> AsyncIterator[None]:
    """Move what start-up made (modules, classes, the loaded flags) out of the collector's
    sight: a full collection then scans only what came later, chiefly the open streams.
    With 1,000 streams that is 42,600 objects rather than 57,400 (bench/RESULTS.md, section 11): a
    shorter pause when a full collection meets a change's fan-out."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


async def _end_streams(app: web.Application) -> None:
    """SIGTERM: end every stream's body cleanly so clients reconnect elsewhere at once."""
    app[BROKER].close_all("shutdown")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
