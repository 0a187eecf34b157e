"""The one place that turns failures into HTTP responses: {"error": code, "message": text}.

`ERROR_CODES` lists every code flagd answers with, its status and what it means; the
responses here, the middleware's, the HTTP layer's and the OpenAPI document's error
table (flagd/openapi.py) are all made from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from .core import FlagdError
from .core.snapshot import encode_json

log = logging.getLogger("flagd.http")


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    status: int
    meaning: str  # when it is answered (the OpenAPI document's words)


ERROR_CODES: tuple[ErrorCode, ...] = (
    ErrorCode(
        "invalid_request",
        400,
        "the request could not be read: a body that is not JSON, a malformed If-Match or "
        "Idempotency-Key, bad paging parameters, or a request the HTTP parser refuses",
    ),
    ErrorCode("validation_error", 400, "a field breaks the rules, or a PUT changes `key`"),
    ErrorCode("unauthorized", 401, "the API key is missing or wrong"),
    ErrorCode("cors_forbidden", 403, "a CORS preflight from an origin not in CORS_ORIGINS"),
    ErrorCode("not_found", 404, "no flag has this id or key, or no such route"),
    ErrorCode("method_not_allowed", 405, "the route does not serve this method"),
    ErrorCode(
        "request_timeout",
        408,
        "the headers or the body did not arrive in time (FLAGD_HEADER_TIMEOUT, "
        "FLAGD_BODY_TIMEOUT); the connection is closed",
    ),
    ErrorCode("duplicate_key", 409, "a flag with this key already exists"),
    ErrorCode(
        "version_conflict", 412, "If-Match names a version other than the flag's current one"
    ),
    ErrorCode("payload_too_large", 413, "the body is over the configured limit"),
    ErrorCode(
        "idempotency_key_reused",
        422,
        "the Idempotency-Key was first sent with another request (method, route, flag, "
        "If-Match or body); nothing was applied",
    ),
    ErrorCode("internal_error", 500, "an unexpected failure; details are in the daemon's log only"),
    ErrorCode(
        "store_unavailable",
        503,
        "the store cannot be reached (writes fail fast). A write whose COMMIT was cut short "
        "may have applied: retry it with the same Idempotency-Key",
    ),
    ErrorCode(
        "too_many_streams",
        503,
        "this instance serves its limit of streams (FLAGD_MAX_STREAMS); Retry-After says when",
    ),
)
STATUS_OF: dict[str, int] = {error.code: error.status for error in ERROR_CODES}

# What aiohttp raises on its own (routing, body limits) becomes the same wire shape.
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "the request could not be read"),
    401: ("unauthorized", "a valid API key is required"),
    404: ("not_found", "no such route"),
    405: ("method_not_allowed", "method not allowed on this route"),
    408: ("request_timeout", "the request body did not arrive in time"),
    413: ("payload_too_large", "request body too large"),
}


def error_body(code: str, message: str) -> bytes:
    return encode_json({"error": code, "message": message})


def error_response(code: str, message: str, status: int | None = None) -> web.Response:
    """The code's own status unless the HTTP layer already chose one (aiohttp's parser)."""
    return web.Response(
        status=status or STATUS_OF[code],
        body=error_body(code, message),
        content_type="application/json",
    )


def unauthorized(message: str) -> web.Response:
    return error_response("unauthorized", message)


def cors_forbidden() -> web.Response:
    return error_response("cors_forbidden", "origin not allowed by CORS_ORIGINS")


def not_ready() -> web.Response:
    return error_response("store_unavailable", "the store has not been reachable yet")


def too_many_streams(limit: int, retry_after: int) -> web.Response:
    response = error_response(
        "too_many_streams", f"this instance serves its limit of {limit} streams; retry later"
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def response_for(exc: BaseException) -> web.Response:
    """Map any exception escaping a handler; unexpected ones are logged, never shown."""
    if isinstance(exc, FlagdError) and exc.code in STATUS_OF:
        return error_response(exc.code, exc.message)
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        code, message = HTTP_ERRORS.get(exc.status, ("http_error", exc.reason))
        response = error_response(code, message, exc.status)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    if isinstance(exc, ConnectionError):
        # The client went away mid-request (a truncated body): its failure, not ours.
        log.debug("client connection lost: %s", exc)
        return error_response("invalid_request", "the connection ended mid-request")
    log.error("internal error", exc_info=exc)
    return error_response("internal_error", "internal error; see the daemon's log")
