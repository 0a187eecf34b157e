"""The connection layer under the app: time limits, and requests the HTTP parser refuses.

aiohttp answers a request its parser refuses (a CR in a header, a control byte in the
query, a line over the limit) itself, outside the app and its middleware: it logs the
rejected line at level error with a traceback and echoes it in a plain-text 400. That
line can hold an API key. `FlagdRequestHandler.handle_error` replaces both: a warning
that names the kind of error only, and the JSON error shape.

aiohttp has an idle keep-alive timeout but none for receiving a request's headers, so a
client trickling header lines holds a connection for as long as it likes. The handler
times the headers from the first byte of each request (from the connection's start for
the first one). Once a request's headers are in, the request runs as long as it needs:
an event stream stays open indefinitely.

aiohttp builds its protocol class in `web.Server.__call__`; `FlagdRunner` substitutes
this subclass, the only aiohttp wiring it changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidURLError,
    LineTooLong,
)
from aiohttp.web_protocol import RequestHandler

from .errors import error_body, error_response

log = logging.getLogger("flagd.http")

SERVER_NAME = "flagd"  # the Server header: no Python or aiohttp version for scanners


def describe_parse_error(exc: HttpProcessingError) -> str:
    """What was wrong with the request, without the bytes aiohttp quotes in exc.message."""
    if isinstance(exc, LineTooLong):
        return "the request line or a header is too long"
    if isinstance(exc, InvalidURLError):
        return "the request target (path or query) has characters HTTP does not allow"
    if isinstance(exc, BadStatusLine):
        return "the request line could not be parsed"
    return "the request headers could not be parsed"


def timeout_response_bytes(message: str) -> bytes:
    body = error_body("request_timeout", message)
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Server: {SERVER_NAME}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class FlagdRequestHandler(RequestHandler):
    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False  # bytes of the next request's head have arrived
        self._last_body: Any = None  # the body stream of the last request parsed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # The first request's head is timed from the connection's start: a client that
        # connects and sends nothing is closed after the header timeout too.
        self._start_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Bytes that arrive once the last request's body is complete (or it had none) start
        # the next request's head, even while that request is still being answered.
        last_body = self._last_body
        starts_a_head = last_body is None or last_body.is_eof()
        queued = len(self._messages)
        super().data_received(data)
        if len(self._messages) > queued:
            # A request's headers are in (or the parser refused them): the head is complete.
            self._last_body = self._messages[-1][1]
            self._stop_head_timer()
        elif data and starts_a_head:
            self._head_started = True
            if self._head_timer is None:
                self._start_head_timer()

    def _waiting_for_request(self) -> bool:
        """start() waits for the next request: none queued, none being handled."""
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def _start_head_timer(self) -> None:
        if self._header_timeout > 0:
            self._head_timer = self._loop.call_later(self._header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head_started = False

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport is None:
            return
        if not self._waiting_for_request():
            # A request is still being answered (a stream runs for hours): its time is its
            # own, but a head begun behind it is timed again from here.
            if self._head_started:
                self._start_head_timer()
            return
        if self._head_started:
            log.info(
                "request headers not received in time; connection closed",
                extra={"fields": {"timeout_s": self._header_timeout, "remote": self.peername}},
            )
            self.transport.write(
                timeout_response_bytes(
                    f"request headers not received within {self._header_timeout:g} s"
                )
            )
        self.force_close()

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp logs a body it cannot decode (read again after the handler, to drain the
        connection) as an unhandled exception with a traceback: the client's fault, not
        ours, so a warning without the exception's text."""
        exc = kwargs.get("exc_info")
        if isinstance(exc, web.RequestPayloadError | HttpProcessingError):
            log.warning(
                "request body refused by the HTTP parser",
                extra={"fields": {"error": type(exc).__name__, "remote": self.peername}},
            )
            return
        super().log_exception(*args, **kwargs)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Replaces aiohttp's: never log or echo the request's bytes (exc.message quotes
        them), and answer in the JSON error shape. The connection is closed afterwards."""
        if isinstance(exc, HttpProcessingError):
            code, text = "invalid_request", describe_parse_error(exc)
            # Non-HTTP traffic (TLS to the plain port, scanners) is noise, as aiohttp rates it.
            level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
            log.log(
                level,
                "request refused by the HTTP parser",
                extra={
                    "fields": {
                        "status": status,
                        "error": type(exc).__name__,
                        "reason": text,
                        "remote": request.remote,
                    }
                },
            )
        else:
            code, text = "internal_error", "internal error; see the daemon's log"
            log.error("internal error", exc_info=exc)
        if request.writer.output_size > 0:
            # Part of a response went out already; nothing sensible can follow it.
            raise ConnectionError("cannot send an error after a partial response")
        response = error_response(code, text, status)
        response.force_close()
        return response


class FlagdServer(web.Server):
    """aiohttp's server, making FlagdRequestHandler protocols."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return FlagdRequestHandler(
            self, loop=self._loop, header_timeout=self.header_timeout, **self._kwargs
        )


class FlagdRunner(web.AppRunner):
    """An AppRunner serving through FlagdServer; everything else as aiohttp's."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # starts the app, freezes it, applies handler_args
        return FlagdServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            header_timeout=self._header_timeout,
            **server._kwargs,
        )
