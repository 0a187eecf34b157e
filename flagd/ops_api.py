"""Routes for operators and tools, open without a key: health, readiness, metrics, OpenAPI."""

from __future__ import annotations

from aiohttp import web

from .appkeys import METRICS, STATE
from .core import encode_json
from .errors import not_ready


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def ready(request: web.Request) -> web.Response:
    """Ready once the flag state is loaded from the store; reads then serve from memory."""
    if not request.app[STATE].loaded:
        return not_ready()
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


async def openapi(request: web.Request) -> web.Response:
    from .openapi import openapi_document

    return web.Response(body=encode_json(openapi_document()), content_type="application/json")
