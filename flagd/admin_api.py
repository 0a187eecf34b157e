"""Admin routes (X-Admin-API-Key): thin handlers, parse → call the service → respond."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .admin_list import parse_page
from .appkeys import ADMIN_LIST, CORS, SERVICE, SETTINGS
from .core import Flag, InvalidRequest, encode_json
from .idempotency import KEY_HEADER, REPLAYED_HEADER
from .service import WriteRequest, Written

ACTOR_HEADER = "X-Flagd-Actor"
SEND_SLICE = 256 * 1024
DEFAULT_ACTOR = "admin-api"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/flags", list_flags, allow_head=False)
    app.router.add_post("/api/admin/flags", create_flag)
    app.router.add_get("/api/admin/flags/{ref}", get_flag, allow_head=False)
    app.router.add_put("/api/admin/flags/{ref}", update_flag)
    app.router.add_delete("/api/admin/flags/{ref}", delete_flag)
    app.router.add_patch("/api/admin/flags/{ref}/toggle", toggle_flag)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=encode_json(data), content_type="application/json")


def flag_response(flag: Flag, status: int = 200) -> web.Response:
    response = json_response(flag.to_dict(), status)
    response.headers["ETag"] = f'"{flag.version}"'
    return response


async def read_body(request: web.Request) -> bytes:
    try:
        # A body trickled in slowly would hold the connection and its buffer indefinitely.
        async with asyncio.timeout(request.app[SETTINGS].body_timeout):
            return await request.read()  # raises 413 past client_max_size
    except TimeoutError:
        raise web.HTTPRequestTimeout() from None
    except web.RequestPayloadError:  # bad chunked framing or content encoding
        raise InvalidRequest("the request body could not be decoded") from None


async def write_request(request: web.Request, *, with_body: bool) -> WriteRequest:
    """The write as it came; the service checks its parts in the contract's order."""
    resource = request.match_info.route.resource
    return WriteRequest(
        method=request.method,
        route=resource.canonical if resource is not None else request.path,
        actor=actor(request),
        body=await read_body(request) if with_body else None,
        if_match=request.headers.get("If-Match"),
        idempotency_key=request.headers.get(KEY_HEADER),
    )


def written_response(written: Written) -> web.Response:
    if written.flag is None:
        response = web.Response(status=written.status)
    else:
        response = flag_response(written.flag, written.status)
    if written.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


def actor(request: web.Request) -> str:
    given = request.headers.get(ACTOR_HEADER, "").strip()
    return given[:128] if given.isprintable() and given else DEFAULT_ACTOR


async def list_flags(request: web.Request) -> web.StreamResponse:
    page = parse_page(request.query.getall("limit", []), request.query.getall("after", []))
    listing = await request.app[ADMIN_LIST].current()
    if page is None:
        return await send_json_bytes(request, listing.body)
    body, next_after = listing.page(page)
    headers = {}
    if next_after is not None:
        query = f"limit={page.limit}&after={quote(next_after, safe='')}"
        headers["Link"] = f'</api/admin/flags?{query}>; rel="next"'
    return await send_json_bytes(request, body, headers)


async def send_json_bytes(
    request: web.Request, body: bytes, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    """A large body goes out a slice at a time, each once the socket took the last: the
    loop serves other requests in between, and a slow reader holds a slice of the shared
    bytes rather than its own copy of all of them in the transport's buffer."""
    if len(body) <= SEND_SLICE:
        return web.Response(body=body, headers=headers, content_type="application/json")
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/json"
    response.content_length = len(body)
    request.app[CORS].apply(request, response)
    await response.prepare(request)
    view = memoryview(body)
    try:
        for start in range(0, len(body), SEND_SLICE):
            await response.write(view[start : start + SEND_SLICE])
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away mid-body; aiohttp closes the connection
    return response


async def create_flag(request: web.Request) -> web.Response:
    written = await request.app[SERVICE].create(await write_request(request, with_body=True))
    response = written_response(written)
    assert written.flag is not None
    response.headers["Location"] = f"/api/admin/flags/{written.flag.id}"
    return response


async def get_flag(request: web.Request) -> web.Response:
    return flag_response(await request.app[SERVICE].get_flag(request.match_info["ref"]))


async def update_flag(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    written = await request.app[SERVICE].update(ref, await write_request(request, with_body=True))
    return written_response(written)


async def toggle_flag(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    written = await request.app[SERVICE].toggle(ref, await write_request(request, with_body=False))
    return written_response(written)


async def delete_flag(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    written = await request.app[SERVICE].delete(ref, await write_request(request, with_body=False))
    return written_response(written)
