"""The request pipeline: CORS preflight → auth → handler → error mapping → CORS → metrics.

One middleware rather than five keeps per-request overhead to a single coroutine frame.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from .errors import error_response, response_for, unauthorized
from .http_server import SERVER_NAME
from .keys import ApiKeys
from .metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ADMIN_PREFIX = "/api/admin/"
CLIENT_PREFIX = "/api/client/"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ALLOWED_HEADERS = (
    "Content-Type, X-Admin-API-Key, X-SDK-Key, If-Match, If-None-Match, Last-Event-ID, "
    "Cache-Control, X-Flagd-Actor, Idempotency-Key"
)
EXPOSED_HEADERS = "ETag, Link"
# After these the connection is closed: a client guessing keys pays a new connection per
# guess, and an unread remainder of a timed-out body is not parsed as the next request.
CLOSING_STATUSES = frozenset({401, 408})


def build_middleware(
    keys: ApiKeys, cors_origins: tuple[str, ...], metrics: Metrics
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    allow_any_origin = "*" in cors_origins
    allowed_origins = frozenset(cors_origins)

    def cors_origin(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin and (allow_any_origin or origin in allowed_origins):
            return origin
        return None

    def check_auth(request: web.Request) -> web.Response | None:
        path = request.path
        if path.startswith(ADMIN_PREFIX) or path == ADMIN_PREFIX.rstrip("/"):
            if not keys.admin_ok(request.headers.get("X-Admin-API-Key")):
                return unauthorized("missing or wrong X-Admin-API-Key header")
        elif path.startswith(CLIENT_PREFIX) or path == CLIENT_PREFIX.rstrip("/"):
            given = request.headers.get("X-SDK-Key") or request.query.get("key")
            if not keys.sdk_ok(given):
                return unauthorized("missing or wrong SDK key (X-SDK-Key header or ?key=)")
        return None

    @web.middleware
    async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        origin = cors_origin(request)
        response: web.StreamResponse
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = preflight(origin)
        else:
            denied = check_auth(request)
            if denied is not None:
                response = denied
            else:
                try:
                    response = await handler(request)
                except Exception as exc:  # every failure gets the JSON error shape
                    response = response_for(exc)
        if response.status in CLOSING_STATUSES and not response.prepared:
            response.force_close()
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        elapsed = (
            None
            if response.content_type == "text/event-stream"
            else (time.perf_counter() - started)
        )
        metrics.observe_request(route, method, response.status, elapsed)
        return response

    return pipeline


def build_headers_hook(
    cors_origins: tuple[str, ...],
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An on_response_prepare hook: the Server header, and CORS headers on every response,
    streams included (a stream is prepared inside its handler, before any middleware sees
    it)."""
    allow_any_origin = "*" in cors_origins
    allowed_origins = frozenset(cors_origins)

    async def add_response_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Server"] = SERVER_NAME
        origin = request.headers.get("Origin")
        if not origin or not (allow_any_origin or origin in allowed_origins):
            return
        if "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.headers["Vary"] = add_vary(response.headers.get("Vary"), "Origin")

    return add_response_headers


def add_vary(vary: str | None, name: str) -> str:
    """`vary` with `name` in it once (the client flags route names Origin itself)."""
    if not vary:
        return name
    present = {item.strip().lower() for item in vary.split(",")}
    return vary if name.lower() in present else f"{vary}, {name}"


def preflight(origin: str | None) -> web.Response:
    if origin is None:
        return error_response(403, "cors_forbidden", "origin not allowed by CORS_ORIGINS")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )
