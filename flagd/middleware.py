"""The request pipeline: CORS preflight → auth → handler → error mapping → CORS → metrics.

One middleware rather than five keeps per-request overhead to a single coroutine frame.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from .errors import cors_forbidden, response_for, unauthorized
from .keys import ApiKeys
from .metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ADMIN_PREFIX = "/api/admin/"
CLIENT_PREFIX = "/api/client/"
STREAM_ROUTE = "/api/client/stream"
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
    keys: ApiKeys, cors: Cors, metrics: Metrics
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
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
        response: web.StreamResponse
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = preflight(cors.origin(request))
        else:
            denied = check_auth(request)
            if denied is not None:
                response = denied
            else:
                try:
                    response = await handler(request)
                except Exception as exc:  # every failure gets the JSON error shape
                    response = response_for(exc)
        if not response.prepared:
            cors.apply(request, response)
            if response.status in CLOSING_STATUSES:
                response.force_close()
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        # A stream's lifetime is not a latency (a route check: reading content_type parses
        # the header on every request).
        elapsed = None if route == STREAM_ROUTE else time.perf_counter() - started
        metrics.observe_request(route, method, response.status, elapsed)
        return response

    return pipeline


class Cors:
    """The CORS policy (CORS_ORIGINS): response headers for an allowed Origin. The
    middleware applies it to every response a handler returns; a handler that prepares
    its own response (the stream, a large admin list) applies it before preparing."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self._any = "*" in origins
        self._allowed = frozenset(origins)

    def origin(self, request: web.BaseRequest) -> str | None:
        origin = request.headers.get("Origin")
        if origin and (self._any or origin in self._allowed):
            return origin
        return None

    def apply(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        origin = self.origin(request)
        if origin is None or "Access-Control-Allow-Origin" in response.headers:
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.headers["Vary"] = add_vary(response.headers.get("Vary"), "Origin")


def add_vary(vary: str | None, name: str) -> str:
    """`vary` with `name` in it once (the client flags route names Origin itself)."""
    if not vary:
        return name
    present = {item.strip().lower() for item in vary.split(",")}
    return vary if name.lower() in present else f"{vary}, {name}"


def preflight(origin: str | None) -> web.Response:
    if origin is None:
        return cors_forbidden()
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
