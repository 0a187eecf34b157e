"""create_app: wires store, state, service, routes and background tasks into aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from . import admin_api, client_api, ops_api
from .appkeys import METRICS, SERVICE, SETTINGS, STATE, STORE, SYNC
from .core import StoreUnavailable
from .keys import ApiKeys
from .metrics import Metrics
from .middleware import build_middleware
from .service import FlagService
from .settings import Settings
from .state import FlagState, StateSync
from .store import Store, open_store

log = logging.getLogger("flagd")


def create_app(settings: Settings, keys: ApiKeys, state_dir: Path) -> web.Application:
    store = open_store(settings.database_url, state_dir)
    state = FlagState()
    sync = StateSync(store, state)
    metrics = Metrics()
    metrics.add_gauges(lambda: _state_gauges(state))

    app = web.Application(
        middlewares=[build_middleware(keys, settings.cors_origins, metrics)],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[STORE] = store
    app[STATE] = state
    app[SYNC] = sync
    app[SERVICE] = FlagService(store, sync)
    app[METRICS] = metrics

    admin_api.add_routes(app)
    client_api.add_routes(app)
    ops_api.add_routes(app)
    app.cleanup_ctx.append(_store_lifecycle)
    return app


def _state_gauges(state: FlagState) -> dict[str, tuple[str, float]]:
    return {
        "flagd_flags": ("Flags in this daemon's memory", float(len(state))),
        "flagd_revision": ("Newest change revision applied in memory", float(state.revision)),
        "flagd_state_loaded": ("1 once flags are loaded from the store", float(state.loaded)),
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
    task = asyncio.create_task(_keep_in_sync(store, sync, settings, opened))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await store.close()


async def _keep_in_sync(store: Store, sync: StateSync, settings: Settings, opened: bool) -> None:
    """Finish opening the store if needed, then reconcile periodically."""
    delay = 0.5
    while not opened:
        await asyncio.sleep(delay)
        try:
            await store.open()
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
