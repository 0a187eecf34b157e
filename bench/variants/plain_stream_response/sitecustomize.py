"""Bench only (bench/stream_response.py): with this directory on PYTHONPATH, flagd's stream
answers with aiohttp's plain StreamResponse instead of aiohttp-sse's EventSourceResponse,
which is what flagd used before issue 15. Everything else is the same code."""

from __future__ import annotations

from aiohttp import web

import flagd.stream


def plain_response(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers=flagd.stream.STREAM_HEADERS)
    if request.version >= (1, 1):
        response.enable_chunked_encoding()
    return response


flagd.stream.new_response = plain_response
