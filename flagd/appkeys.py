"""Typed keys for what lives on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from .admin_list import AdminList
from .broker import Broker
from .bus import Bus
from .feed import ChangeFeed
from .metrics import Metrics
from .middleware import Cors
from .service import FlagService
from .settings import Settings
from .state import FlagState, StateSync
from .store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)  # type: ignore[type-abstract]
STATE = web.AppKey("state", FlagState)
SYNC = web.AppKey("sync", StateSync)
SERVICE = web.AppKey("service", FlagService)
METRICS = web.AppKey("metrics", Metrics)
BROKER = web.AppKey("broker", Broker)
BUS = web.AppKey("bus", Bus)  # type: ignore[type-abstract]
ADMIN_LIST = web.AppKey("admin_list", AdminList)
CORS = web.AppKey("cors", Cors)
FEED = web.AppKey("feed", ChangeFeed)
