"""The one place that turns failures into HTTP responses: {"error": code, "message": text}."""

from __future__ import annotations

import logging

from aiohttp import web

from .core import (
    DuplicateKey,
    FlagdError,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    StoreUnavailable,
    ValidationError,
    VersionConflict,
)
from .core.snapshot import encode_json

log = logging.getLogger("flagd.http")

DOMAIN_STATUS: dict[type[FlagdError], int] = {
    InvalidRequest: 400,
    ValidationError: 400,
    NotFound: 404,
    DuplicateKey: 409,
    VersionConflict: 412,
    IdempotencyKeyReused: 422,
    StoreUnavailable: 503,
}

# aiohttp raises these on its own (routing, body limits); same wire shape as ours.
HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "the request could not be read"),
    401: ("unauthorized", "a valid API key is required"),
    404: ("not_found", "no such route"),
    405: ("method_not_allowed", "method not allowed on this route"),
    408: ("request_timeout", "the request body did not arrive in time"),
    413: ("payload_too_large", "request body too large"),
}


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=encode_json({"error": code, "message": message}),
        content_type="application/json",
    )


def unauthorized(message: str) -> web.Response:
    return error_response(401, "unauthorized", message)


def too_many_streams(limit: int, retry_after: int) -> web.Response:
    response = error_response(
        503, "too_many_streams", f"this instance serves its limit of {limit} streams; retry later"
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def response_for(exc: BaseException) -> web.Response:
    """Map any exception escaping a handler; unexpected ones are logged, never shown."""
    if isinstance(exc, FlagdError):
        status = DOMAIN_STATUS.get(type(exc), 500)
        return error_response(status, exc.code, exc.message)
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        code, message = HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        response = error_response(exc.status, code, message)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    if isinstance(exc, ConnectionError):
        # The client went away mid-request (a truncated body): its failure, not ours.
        log.debug("client connection lost: %s", exc)
        return error_response(400, "invalid_request", "the connection ended mid-request")
    log.error("internal error", exc_info=exc)
    return error_response(500, "internal_error", "internal error; see the daemon's log")
