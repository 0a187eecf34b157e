"""The OpenAPI 3.1 document of flagd's HTTP API, served at GET /openapi.json.

Built from small helpers so that each route reads as one short entry, and built from the
core's own limits so the documented constraints cannot drift from what validation checks.
tests/test_openapi.py keeps the paths in step with the routes the app registers.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from . import __version__
from .admin_list import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from .core.validation import DESCRIPTION_MAX, KEY_MAX, TARGETED_USERS_MAX, USER_ID_MAX
from .errors import ERROR_CODES
from .idempotency import KEY_HEADER, REPLAYED_HEADER
from .idempotency import KEY_MAX as IDEMPOTENCY_KEY_MAX

Json = dict[str, Any]

JSON = "application/json"
TEXT = "text/plain"
EVENT_STREAM = "text/event-stream"

ADMIN = [{"adminKey": []}]
CLIENT = [{"sdkKey": []}, {"sdkKeyQuery": []}]
OPEN: list[Json] = []

NO_NUL = "^[^\\u0000]*$"  # text fields reject NUL characters


def ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: Json) -> Json:
    return {JSON: {"schema": schema}}


def text_response(description: str, example: str | None = None) -> Json:
    media: Json = {"schema": {"type": "string"}}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {TEXT: media}}


def flag_response(description: str, status: int = 200, *, write: bool = False) -> Json:
    headers: Json = {"ETag": ref("headers", "FlagETag")}
    if write:
        headers[REPLAYED_HEADER] = ref("headers", "IdempotentReplayed")
    if status == 201:
        headers["Location"] = {
            "description": "Path of the new flag: /api/admin/flags/{id}",
            "schema": {"type": "string"},
        }
    return {
        "description": description,
        "headers": headers,
        "content": json_content(ref("schemas", "Flag")),
    }


# Every error shares one body; each status is a component response listing its codes,
# made from flagd/errors.py's table (the one list of codes flagd answers with).
STATUS_COMPONENTS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "CorsForbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    409: "Conflict",
    412: "VersionConflict",
    413: "PayloadTooLarge",
    422: "IdempotencyKeyReused",
    500: "InternalError",
    503: "Unavailable",
}


def _error_table() -> dict[str, tuple[str, str]]:
    by_status: dict[int, list[str]] = {}
    for error in ERROR_CODES:
        by_status.setdefault(error.status, []).append(f"`{error.code}`: {error.meaning}")
    return {
        str(status): (STATUS_COMPONENTS[status], "; ".join(codes))
        for status, codes in sorted(by_status.items())
    }


ERRORS: dict[str, tuple[str, str]] = _error_table()


def error_response(description: str) -> Json:
    return {"description": description, "content": json_content(ref("schemas", "Error"))}


def responses(success: Json, *errors: str) -> Json:
    """Success responses as given, then each error status as a reference to its component."""
    return {**success, **{status: ref("responses", ERRORS[status][0]) for status in errors}}


def header_param(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def operation(
    operation_id: str,
    summary: str,
    tag: str,
    security: list[Json],
    answers: Json,
    *,
    parameters: tuple[Json, ...] = (),
    body: Json | None = None,
    description: str | None = None,
) -> Json:
    op: Json = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if description:
        op["description"] = description
    op["security"] = security
    if parameters:
        op["parameters"] = list(parameters)
    if body is not None:
        op["requestBody"] = body
    op["responses"] = answers
    return op


def request_body(schema_name: str) -> Json:
    return {"required": True, "content": json_content(ref("schemas", schema_name))}


# --- schemas -------------------------------------------------------------------------------


def key_schema() -> Json:
    return {"type": "string", "minLength": 1, "maxLength": KEY_MAX, "pattern": "^[a-zA-Z0-9-]+$"}


def description_schema() -> Json:
    return {"type": "string", "maxLength": DESCRIPTION_MAX, "pattern": NO_NUL}


def targeted_users_schema() -> Json:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": USER_ID_MAX, "pattern": NO_NUL},
        "maxItems": TARGETED_USERS_MAX,
        "description": "Users for whom the flag is on whenever it is enabled. Duplicates "
        f"collapse, first occurrence kept; at most {TARGETED_USERS_MAX} distinct users.",
    }


def rollout_schema() -> Json:
    return {
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
        # JSON Schema counts 50.0 as an integer; the server does not.
        "description": "A JSON integer literal: 50.0 and true are rejected",
    }


def nullable(schema: Json) -> Json:
    """In a write body `null` means "not given"."""
    return {**schema, "type": [schema["type"], "null"]}


def write_fields() -> Json:
    return {
        "description": nullable(description_schema()),
        "enabled": nullable({"type": "boolean"}),
        "rollout_percentage": nullable(rollout_schema()),
        "targeted_users": nullable(targeted_users_schema()),
    }


WRITE_NOTES = (
    " Types are strict: `enabled` is a JSON boolean, `rollout_percentage` a JSON integer "
    "(not 50.0, not true). Lengths count Unicode code points; NUL characters and lone "
    "surrogates are rejected. Unknown fields and server-set fields (id, version, timestamps) "
    "are ignored."
)


def schemas() -> Json:
    timestamp = {"type": "string", "format": "date-time"}
    return {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {
                    "type": "string",
                    "description": "Stable machine code",
                    "enum": [error.code for error in ERROR_CODES],
                },
                "message": {"type": "string", "description": "Human-readable explanation"},
            },
        },
        "Flag": {
            "type": "object",
            "required": [
                "id",
                "key",
                "description",
                "enabled",
                "rollout_percentage",
                "targeted_users",
                "version",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "key": key_schema(),
                "description": description_schema(),
                "enabled": {"type": "boolean"},
                "rollout_percentage": rollout_schema(),
                "targeted_users": targeted_users_schema(),
                "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "1 at creation, +1 on every change of this flag",
                },
                "created_at": timestamp,
                "updated_at": timestamp,
            },
        },
        "FlagCreate": {
            "type": "object",
            "description": "A new flag. Omitted or null fields take their defaults: "
            'description "", enabled false, rollout_percentage 0, targeted_users [].' + WRITE_NOTES,
            "required": ["key"],
            "properties": {"key": key_schema(), **write_fields()},
        },
        "FlagUpdate": {
            "type": "object",
            "description": "A partial update: omitted or null fields keep their value; "
            "`targeted_users: []` clears the list. `key` is immutable: a different key is a "
            "400. An update that changes nothing records nothing and returns the flag."
            + WRITE_NOTES,
            "properties": {"key": nullable(key_schema()), **write_fields()},
        },
        "ClientFlags": {
            "type": "object",
            "required": ["flags", "revision"],
            "properties": {
                "flags": {
                    "type": "array",
                    "items": ref("schemas", "Flag"),
                    "description": "Every flag, newest first",
                },
                "revision": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The newest change applied; also the ETag",
                },
            },
        },
    }


def components() -> Json:
    return {
        "securitySchemes": {
            "adminKey": {"type": "apiKey", "in": "header", "name": "X-Admin-API-Key"},
            "sdkKey": {"type": "apiKey", "in": "header", "name": "X-SDK-Key"},
            "sdkKeyQuery": {
                "type": "apiKey",
                "in": "query",
                "name": "key",
                "description": "For browsers' EventSource, which cannot set headers. "
                "Accepted on client routes only, never on admin routes.",
            },
        },
        "schemas": schemas(),
        "responses": {name: error_response(text) for name, text in ERRORS.values()},
        "parameters": {
            "FlagRef": {
                "name": "ref",
                "in": "path",
                "required": True,
                "description": "A flag id or a flag key. A canonical UUID (any case) is "
                "tried as an id first, then as a key. Any ref that names no flag is a 404.",
                "schema": {"type": "string", "minLength": 1},
            },
            "IfMatch": header_param(
                "If-Match",
                'Apply the write only if the flag is at this version: 3, "3" or W/"3". '
                "A stale version is a 412; any other form is a 400.",
                {"type": "string", "pattern": '^(?:W/)?"[0-9]{1,18}"$|^[0-9]{1,18}$'},
            ),
            "IfNoneMatch": header_param(
                "If-None-Match",
                'An ETag from an earlier response ("<revision>"); 304 when it is current.',
            ),
            "IdempotencyKey": header_param(
                KEY_HEADER,
                "Makes the write safe to retry: a fresh key (a UUID) per write, the same key "
                "when retrying it. A retry within the remembered time (FLAGD_IDEMPOTENCY_TTL, "
                "24 h by default) gets the first answer (status, body, ETag, Location) and "
                "applies nothing; a retry racing the first attempt waits for it. The same key "
                "with another request is a 422. Failures are not remembered: they applied "
                "nothing, so their retry runs again.",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": IDEMPOTENCY_KEY_MAX,
                    "pattern": "^[ -~]+$",
                },
            ),
            "LastEventId": header_param(
                "Last-Event-ID",
                "The revision of the last event received. Every change after it is "
                "replayed; an unknown, non-numeric or too old value gets a fresh snapshot.",
            ),
            "Limit": {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": "Page size. Without limit and after the whole list is one "
                f"array; with either, a page (limit defaults to {PAGE_LIMIT_DEFAULT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT_MAX},
            },
            "After": {
                "name": "after",
                "in": "query",
                "required": False,
                "description": "The id of the last flag of the previous page: the page "
                "continues after it. Take it from the Link header. An id no longer in the "
                "list (the flag was deleted) is a 400; list again from the first page.",
                "schema": {"type": "string", "minLength": 1},
            },
            "LastEventIdQuery": {
                "name": "lastEventId",
                "in": "query",
                "required": False,
                "description": "Last-Event-ID for clients that cannot set headers (some "
                "EventSource polyfills); the header wins when both are given.",
                "schema": {"type": "string"},
            },
        },
        "headers": {
            "FlagETag": {
                "description": 'The flag version, quoted: "<version>"',
                "schema": {"type": "string"},
            },
            "RevisionETag": {
                "description": 'The flag set revision, quoted: "<revision>"',
                "schema": {"type": "string"},
            },
            "IdempotentReplayed": {
                "description": "`true` when this is the remembered answer of an earlier "
                "attempt with the same Idempotency-Key (nothing was applied this time)",
                "schema": {"type": "string", "enum": ["true"]},
            },
            "NextLink": {
                "description": "On a page with more after it: </api/admin/flags?limit=N&"
                'after=<id>>; rel="next". Absent on the last page and unpaged.',
                "schema": {"type": "string"},
            },
            "ClientVary": {
                "description": "Always `Accept-Encoding, Origin`, with or without an Origin, "
                "so shared caches keep every variant apart.",
                "schema": {"type": "string", "const": "Accept-Encoding, Origin"},
            },
        },
    }


# --- paths ---------------------------------------------------------------------------------

REF = ref("parameters", "FlagRef")
IF_MATCH = ref("parameters", "IfMatch")
IDEMPOTENCY_KEY = ref("parameters", "IdempotencyKey")


def admin_paths() -> Json:
    return {
        "/api/admin/flags": {
            "get": operation(
                "listFlags",
                "List every flag, newest first",
                "admin",
                ADMIN,
                responses(
                    {
                        "200": {
                            "description": "Every flag (or one page), newest first by "
                            "creation time",
                            "headers": {"Link": ref("headers", "NextLink")},
                            "content": json_content(
                                {"type": "array", "items": ref("schemas", "Flag")}
                            ),
                        }
                    },
                    "400",
                    "401",
                    "500",
                    "503",
                ),
                parameters=(ref("parameters", "Limit"), ref("parameters", "After")),
                description="Unpaged (no limit, no after), one array of every flag. Paged, "
                "follow the Link header until a page has none. The list always includes "
                "every write acknowledged before the request, on any instance.",
            ),
            "post": operation(
                "createFlag",
                "Create a flag",
                "admin",
                ADMIN,
                responses(
                    {"201": flag_response("The created flag", 201, write=True)},
                    "400",
                    "401",
                    "408",
                    "409",
                    "413",
                    "422",
                    "500",
                    "503",
                ),
                parameters=(IDEMPOTENCY_KEY,),
                body=request_body("FlagCreate"),
            ),
        },
        "/api/admin/flags/{ref}": {
            "parameters": [REF],
            "get": operation(
                "getFlag",
                "Get one flag by id or key",
                "admin",
                ADMIN,
                responses({"200": flag_response("The flag")}, "401", "404", "500", "503"),
            ),
            "put": operation(
                "updateFlag",
                "Update a flag (partial)",
                "admin",
                ADMIN,
                responses(
                    {"200": flag_response("The flag after the update", write=True)},
                    "400",
                    "401",
                    "404",
                    "408",
                    "412",
                    "413",
                    "422",
                    "500",
                    "503",
                ),
                parameters=(IF_MATCH, IDEMPOTENCY_KEY),
                body=request_body("FlagUpdate"),
                description="Checks run in this order: 401, 404 (unknown ref), 400, 412.",
            ),
            "delete": operation(
                "deleteFlag",
                "Delete a flag",
                "admin",
                ADMIN,
                responses(
                    {
                        "204": {
                            "description": "Deleted",
                            "headers": {REPLAYED_HEADER: ref("headers", "IdempotentReplayed")},
                        }
                    },
                    "400",
                    "401",
                    "404",
                    "412",
                    "422",
                    "500",
                    "503",
                ),
                parameters=(IF_MATCH, IDEMPOTENCY_KEY),
            ),
        },
        "/api/admin/flags/{ref}/toggle": {
            "parameters": [REF],
            "patch": operation(
                "toggleFlag",
                "Flip a flag's enabled state",
                "admin",
                ADMIN,
                responses(
                    {"200": flag_response("The flag after the toggle", write=True)},
                    "400",
                    "401",
                    "404",
                    "412",
                    "422",
                    "500",
                    "503",
                ),
                parameters=(IF_MATCH, IDEMPOTENCY_KEY),
            ),
        },
    }


STREAM_DESCRIPTION = """\
Server-Sent Events. Every event carries `id: <revision>`; `retry:` is sent once at the start.

- Without Last-Event-ID: `event: snapshot`, data `{"revision": N, "flags": [...]}`, then live
  events after N.
- With `Last-Event-ID: R`: every change after R in order, then live; a fresh `snapshot` when
  R is unknown, not a number or older than the retained change log.
- `event: flag_updated`, data the flag JSON (create, update, toggle);
  `event: flag_deleted`, data `{"key": "<key>"}`.
- A comment heartbeat (`: ping`) at a configurable interval. A subscriber that falls too far
  behind is disconnected and catches up on reconnect through Last-Event-ID, and so is one
  that has not taken its snapshot (or replay) within the snapshot timeout.
- Each instance serves a limited number of streams at once; past it, a 503
  `too_many_streams` with Retry-After."""

STREAM_UNAVAILABLE: Json = {
    "description": "`store_unavailable`: the flags are not loaded yet (the store has not "
    "been reachable since start), or `too_many_streams`: this instance already serves its "
    "limit of streams (FLAGD_MAX_STREAMS)",
    "headers": {
        "Retry-After": {
            "description": "With `too_many_streams`: seconds to wait before reconnecting "
            "(5-15, spread so that refused clients do not return together)",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": json_content(ref("schemas", "Error")),
}


def client_paths() -> Json:
    return {
        "/api/client/flags": {
            "get": operation(
                "getClientFlags",
                "Every flag config, with the revision",
                "client",
                CLIENT,
                responses(
                    {
                        "200": {
                            "description": "The flag set",
                            "headers": {
                                "ETag": ref("headers", "RevisionETag"),
                                "Vary": ref("headers", "ClientVary"),
                            },
                            "content": json_content(ref("schemas", "ClientFlags")),
                        },
                        "304": {
                            "description": "Not modified: If-None-Match names the current revision",
                            "headers": {
                                "ETag": ref("headers", "RevisionETag"),
                                "Vary": ref("headers", "ClientVary"),
                            },
                        },
                    },
                    "401",
                    "500",
                    "503",
                ),
                parameters=(ref("parameters", "IfNoneMatch"),),
            ),
        },
        "/api/client/stream": {
            "get": operation(
                "streamFlagEvents",
                "Live flag changes (Server-Sent Events)",
                "client",
                CLIENT,
                responses(
                    {
                        "200": {
                            "description": "An event stream that stays open",
                            "content": {
                                EVENT_STREAM: {
                                    "schema": {"type": "string"},
                                    "example": "retry: 3000\n\nid: 7\nevent: snapshot\n"
                                    'data: {"flags":[],"revision":7}\n\n',
                                }
                            },
                        },
                        "503": STREAM_UNAVAILABLE,
                    },
                    "401",
                    "500",
                ),
                parameters=(
                    ref("parameters", "LastEventId"),
                    ref("parameters", "LastEventIdQuery"),
                ),
                description=STREAM_DESCRIPTION,
            ),
        },
    }


def ops_paths() -> Json:
    return {
        "/health": {
            "get": operation(
                "health",
                "Liveness",
                "operations",
                OPEN,
                {"200": text_response("The process is serving", "ok")},
            ),
        },
        "/ready": {
            "get": operation(
                "ready",
                "Readiness: flags loaded from the store",
                "operations",
                OPEN,
                responses({"200": text_response("Ready", "ok")}, "503"),
            ),
        },
        "/metrics": {
            "get": operation(
                "metrics",
                "Prometheus metrics",
                "operations",
                OPEN,
                {"200": text_response("Prometheus text exposition format 0.0.4")},
            ),
        },
        "/openapi.json": {
            "get": operation(
                "openapi",
                "This document",
                "operations",
                OPEN,
                {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": json_content({"type": "object"}),
                    }
                },
            ),
        },
    }


API_DESCRIPTION = """\
Feature flags over HTTP. JSON in and out, snake_case fields. Every error is
`{"error": "<code>", "message": "<human text>"}`.

Admin routes need the `X-Admin-API-Key` header; client routes need `X-SDK-Key` or `?key=`.
Checks run in the order 401, 404, 400, 412. A method a route does not serve is a 405
`method_not_allowed`; an unknown route is a 404 `not_found`.

Every admin write takes an `Idempotency-Key` header: send a fresh key with each write and
the same key when retrying it (after a 503 or a lost connection), and the retry gets the
first answer without applying the write twice.

Connections: a request whose headers do not arrive within FLAGD_HEADER_TIMEOUT gets a 408
`request_timeout` and the connection is closed; an idle keep-alive connection is closed
after FLAGD_KEEPALIVE_TIMEOUT; a 401 closes its connection (`Connection: close`). A
request the HTTP parser refuses (control bytes in a header or the query, a line over
64 KiB) is a 400 `invalid_request` that never quotes the request. Every response carries
`Server: flagd`, without versions."""


@cache
def openapi_document() -> Json:
    """The document, built once. Callers share it: treat it as read-only."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flagd",
            "version": __version__,
            "description": API_DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "admin", "description": "Manage flags (X-Admin-API-Key)"},
            {"name": "client", "description": "Read flags for evaluation (X-SDK-Key or ?key=)"},
            {"name": "operations", "description": "Health, readiness, metrics; no key"},
        ],
        "paths": {**admin_paths(), **client_paths(), **ops_paths()},
        "components": components(),
    }
