"""Bench only (bench/stream_response.py): with this directory on PYTHONPATH, flagd's stream
answers with aiohttp-sse's EventSourceResponse instead of aiohttp's plain StreamResponse.
Events still go around it (the broker writes pre-framed bytes into the transport) and its
own ping task ends at once (flagd pings every stream from one task). Needs aiohttp-sse in
the environment (`.venv/bin/pip install aiohttp-sse`); flagd does not depend on it."""

from __future__ import annotations

from aiohttp import web
from aiohttp_sse import EventSourceResponse

import flagd.stream


class EventStream(EventSourceResponse):
    async def _ping(self) -> None:
        return


def sse_response(request: web.Request) -> web.StreamResponse:
    # send_timeout=None: no TCP_USER_TIMEOUT; the snapshot timeout and the subscriber bound
    # already close a client that does not read.
    response = EventStream(headers=flagd.stream.STREAM_HEADERS, send_timeout=None)
    response.headers["Cache-Control"] = flagd.stream.STREAM_HEADERS["Cache-Control"]
    if request.version < (1, 1):
        del response.headers["Connection"]  # HTTP/1.0: the body ends when the connection does
    return response


flagd.stream.new_response = sse_response
