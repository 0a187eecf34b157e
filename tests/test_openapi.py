"""The OpenAPI document stays in step with the routes the app registers and with validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

import flagd
from flagd import ops_api
from flagd.app import create_app
from flagd.core import Flag, ValidationError, parse_create, parse_update
from flagd.keys import ApiKeys
from flagd.openapi import openapi_document
from flagd.settings import Settings

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# The stream handler lands after the document: the document may list it first. No other
# difference is allowed.
DOCUMENTED_AHEAD = {("GET", "/api/client/stream")}

# Every response status each operation can give (SPEC sections 5, 10 and 11).
EXPECTED_STATUSES = {
    ("GET", "/api/admin/flags"): {"200", "400", "401", "500", "503"},
    ("POST", "/api/admin/flags"): {"201", "400", "401", "408", "409", "413", "422", "500", "503"},
    ("GET", "/api/admin/flags/{ref}"): {"200", "401", "404", "500", "503"},
    ("PUT", "/api/admin/flags/{ref}"): {
        "200",
        "400",
        "401",
        "404",
        "408",
        "412",
        "413",
        "422",
        "500",
        "503",
    },
    ("DELETE", "/api/admin/flags/{ref}"): {"204", "400", "401", "404", "412", "422", "500", "503"},
    ("PATCH", "/api/admin/flags/{ref}/toggle"): {
        "200",
        "400",
        "401",
        "404",
        "412",
        "422",
        "500",
        "503",
    },
    ("GET", "/api/client/flags"): {"200", "304", "401", "500", "503"},
    ("GET", "/api/client/stream"): {"200", "401", "500", "503"},
    ("GET", "/health"): {"200"},
    ("GET", "/ready"): {"200", "503"},
    ("GET", "/metrics"): {"200"},
    ("GET", "/openapi.json"): {"200"},
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        assert node["$ref"].startswith("#/"), node["$ref"]
        for part in node["$ref"][2:].split("/"):
            document = document[part]
        node = document
    return node


def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(Settings(), ApiKeys(b"a" * 8, b"s" * 8), tmp_path)
    routes = set()
    for route in app.router.routes():
        if route.method in {"HEAD", "OPTIONS"}:  # aiohttp's automatic companions of GET
            continue
        assert route.resource is not None
        routes.add((route.method, route.resource.canonical))
    return routes


def test_document_lists_exactly_the_app_routes(document: dict[str, Any], tmp_path: Path) -> None:
    registered = app_routes(tmp_path)
    documented = set(operations(document))
    assert registered - documented == set(), "routes missing from the OpenAPI document"
    assert documented - registered <= DOCUMENTED_AHEAD, "documented routes the app lacks"


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_document_is_built_once_and_versioned(document: dict[str, Any]) -> None:
    assert openapi_document() is document
    assert document["info"]["version"] == flagd.__version__


async def test_served_document_is_the_document(document: dict[str, Any]) -> None:
    response = await ops_api.openapi(make_mocked_request("GET", "/openapi.json"))
    assert response.content_type == "application/json"
    assert json.loads(response.body) == document  # type: ignore[arg-type]


def test_every_operation_lists_its_statuses(document: dict[str, Any]) -> None:
    found = {route: set(op["responses"]) for route, op in operations(document).items()}
    assert found == EXPECTED_STATUSES


def test_every_error_response_uses_the_error_schema(document: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for route, op in operations(document).items():
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            content = resolve(document, response)["content"]
            assert set(content) == {"application/json"}, (route, status)
            assert content["application/json"]["schema"] == error, (route, status)


def test_error_schema_requires_error_and_message(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["Error"]
    assert set(schema["required"]) == {"error", "message"}
    assert schema["properties"]["error"]["type"] == "string"
    assert schema["properties"]["message"]["type"] == "string"


def test_security_by_route_family(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminKey"] == {"type": "apiKey", "in": "header", "name": "X-Admin-API-Key"}
    assert schemes["sdkKey"] == {"type": "apiKey", "in": "header", "name": "X-SDK-Key"}
    assert (schemes["sdkKeyQuery"]["in"], schemes["sdkKeyQuery"]["name"]) == ("query", "key")
    for (_, path), op in operations(document).items():
        if path.startswith("/api/admin/"):
            assert op["security"] == [{"adminKey": []}], path
        elif path.startswith("/api/client/"):
            assert op["security"] == [{"sdkKey": []}, {"sdkKeyQuery": []}], path
        else:
            assert op["security"] == [], path


def parameter_names(document: dict[str, Any], path: str, method: str) -> set[str]:
    item = document["paths"][path]
    params = item.get("parameters", []) + item[method].get("parameters", [])
    return {resolve(document, param)["name"] for param in params}


def test_conditional_headers_where_they_apply(document: dict[str, Any]) -> None:
    for path, method in [
        ("/api/admin/flags/{ref}", "put"),
        ("/api/admin/flags/{ref}", "delete"),
        ("/api/admin/flags/{ref}/toggle", "patch"),
    ]:
        assert parameter_names(document, path, method) == {"ref", "If-Match", "Idempotency-Key"}
    assert parameter_names(document, "/api/admin/flags", "post") == {"Idempotency-Key"}
    assert parameter_names(document, "/api/client/flags", "get") == {"If-None-Match"}
    assert parameter_names(document, "/api/admin/flags", "get") == {"limit", "after"}
    assert parameter_names(document, "/api/client/stream", "get") == {
        "Last-Event-ID",
        "lastEventId",
    }
    stream = document["paths"]["/api/client/stream"]["get"]["responses"]["200"]
    assert set(stream["content"]) == {"text/event-stream"}


def test_etag_headers(document: dict[str, Any]) -> None:
    ops = operations(document)
    for route in [
        ("POST", "/api/admin/flags"),
        ("GET", "/api/admin/flags/{ref}"),
        ("PUT", "/api/admin/flags/{ref}"),
        ("PATCH", "/api/admin/flags/{ref}/toggle"),
        ("GET", "/api/client/flags"),
    ]:
        success = next(r for s, r in ops[route]["responses"].items() if s in {"200", "201"})
        assert "ETag" in success["headers"], route
    assert "ETag" in ops[("GET", "/api/client/flags")]["responses"]["304"]["headers"]


def test_ops_routes_answer_plain_text(document: dict[str, Any]) -> None:
    ops = operations(document)
    for path in ["/health", "/ready", "/metrics"]:
        assert set(ops[("GET", path)]["responses"]["200"]["content"]) == {"text/plain"}, path
    assert ops[("GET", "/health")]["responses"]["200"]["content"]["text/plain"]["example"] == "ok"


# --- the schemas agree with the core's validation and model --------------------------------


def schema_validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    # The components travel with the schema so that its #/components/... references resolve.
    root = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


SAMPLE_FLAG = Flag(
    id="0b0f7c1e-3a53-4d5e-9a3c-2f6d2b8f0e11",
    key="new-checkout-flow",
    description="Checkout v2",
    enabled=True,
    rollout_percentage=25,
    targeted_users=("user-1", "用户-7"),
    version=3,
    created_at="2024-05-01T12:00:00.000Z",
    updated_at="2024-05-02T08:30:00.123Z",
)


def test_flag_and_client_flags_schemas_describe_the_model(document: dict[str, Any]) -> None:
    schema_validator(document, "Flag").validate(SAMPLE_FLAG.to_dict())
    schema_validator(document, "ClientFlags").validate(
        {"flags": [SAMPLE_FLAG.to_dict()], "revision": 9}
    )
    assert set(document["components"]["schemas"]["Flag"]["required"]) == set(SAMPLE_FLAG.to_dict())


WRITE_BODIES = [
    {"key": "a"},
    {"key": "A-b-9", "description": "", "enabled": None, "rollout_percentage": None},
    {"key": "k" * 64, "description": "é" * 256, "rollout_percentage": 100},
    {"key": "k", "targeted_users": ["u" * 256, "用户"], "enabled": False},
    {"key": "k", "unknown": 1, "id": "x", "version": "y"},
    {},
    {"key": ""},
    {"key": "k" * 65},
    {"key": "has space"},
    {"key": "under_score"},
    {"key": None},
    {"key": 5},
    {"key": "k", "enabled": 1},
    {"key": "k", "enabled": "true"},
    {"key": "k", "rollout_percentage": 50.0},
    {"key": "k", "rollout_percentage": True},
    {"key": "k", "rollout_percentage": -1},
    {"key": "k", "rollout_percentage": 101},
    {"key": "k", "description": "d" * 257},
    {"key": "k", "description": "nul\x00"},
    {"key": "k", "targeted_users": "user-1"},
    {"key": "k", "targeted_users": [""]},
    {"key": "k", "targeted_users": ["u" * 257]},
    {"key": "k", "targeted_users": [1]},
    {"key": "k", "targeted_users": ["nul\x00"]},
]


# JSON Schema's "integer" admits 50.0 (a number with no fraction); the server's stricter
# rule is stated in the schema's description instead.
SCHEMA_ADMITS_BUT_SERVER_REJECTS = [{"key": "k", "rollout_percentage": 50.0}]


def accepted(parse: Any, body: Any) -> bool:
    try:
        parse(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("body", WRITE_BODIES, ids=lambda body: json.dumps(body)[:60])
def test_flag_create_schema_agrees_with_parse_create(
    document: dict[str, Any], body: dict[str, Any]
) -> None:
    schema_ok = schema_validator(document, "FlagCreate").is_valid(body)
    server_ok = accepted(parse_create, body)
    if body in SCHEMA_ADMITS_BUT_SERVER_REJECTS:
        assert (schema_ok, server_ok) == (True, False)
    else:
        assert schema_ok == server_ok


@pytest.mark.parametrize("body", WRITE_BODIES, ids=lambda body: json.dumps(body)[:60])
def test_flag_update_schema_agrees_with_parse_update(
    document: dict[str, Any], body: dict[str, Any]
) -> None:
    # The schema cannot know the flag's key, so the update is checked against the body's own.
    current = body.get("key") if isinstance(body.get("key"), str) and body.get("key") else "k"
    schema_ok = schema_validator(document, "FlagUpdate").is_valid(body)
    server_ok = accepted(lambda b: parse_update(b, current), body)
    if body in SCHEMA_ADMITS_BUT_SERVER_REJECTS:
        assert (schema_ok, server_ok) == (True, False)
    else:
        assert schema_ok == server_ok
