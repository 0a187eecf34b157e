"""Client routes (X-SDK-Key or ?key=), served from memory: no store round trip per read."""

from __future__ import annotations

import gzip

from aiohttp import web

from .appkeys import STATE
from .core import StoreUnavailable


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/client/flags", client_flags, allow_head=False)


def accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def etag_matches(if_none_match: str, etag: str) -> bool:
    if if_none_match == etag:  # what SDKs send: the ETag they were given
        return True
    if if_none_match.strip() == "*":
        return True
    return any(
        candidate.strip().removeprefix("W/") == etag for candidate in if_none_match.split(",")
    )


async def client_flags(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not state.loaded:
        raise StoreUnavailable("flags are not loaded yet: the store has not been reachable")
    etag = f'"{state.revision}"'
    # The same Vary with or without an Origin, so a shared cache keys every variant alike.
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding, Origin"}
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return web.Response(status=304, headers=headers)
    if accepts_gzip(request.headers.get("Accept-Encoding", "")):
        # Compressed once per revision, like the plain body (about a quarter of its size).
        body = state.derived("client_body_gzip", lambda _: gzip.compress(state.client_body(), 1))
        headers["Content-Encoding"] = "gzip"
    else:
        body = state.client_body()
    return web.Response(body=body, headers=headers, content_type="application/json")
