"""Keys, open operator routes, CORS, unknown routes and wrong methods (SPEC 5 and 11)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon import ADMIN_KEY, SDK_KEY, Flagd

from .helpers import assert_error, create, is_json, unique_key

DASHBOARD = "http://localhost:3000"

ADMIN_ROUTES = [
    ("GET", "/api/admin/flags"),
    ("POST", "/api/admin/flags"),
    ("GET", "/api/admin/flags/{ref}"),
    ("PUT", "/api/admin/flags/{ref}"),
    ("DELETE", "/api/admin/flags/{ref}"),
    ("PATCH", "/api/admin/flags/{ref}/toggle"),
]
CLIENT_ROUTES = [
    ("GET", "/api/client/flags"),
    ("GET", "/api/client/stream"),
]
WRONG_ADMIN_HEADERS = [
    {},
    {"X-Admin-API-Key": ""},
    {"X-Admin-API-Key": "wrong"},
    {"X-Admin-API-Key": ADMIN_KEY[:-1]},
    {"X-Admin-API-Key": ADMIN_KEY + "x"},
    {"X-Admin-API-Key": ADMIN_KEY.upper()},
    {"X-Admin-API-Key": SDK_KEY},
    {"X-SDK-Key": SDK_KEY},
    {"X-SDK-Key": ADMIN_KEY},
    {"Authorization": f"Bearer {ADMIN_KEY}"},
]
WRONG_SDK_HEADERS = [
    {},
    {"X-SDK-Key": ""},
    {"X-SDK-Key": "wrong"},
    {"X-SDK-Key": SDK_KEY[:-1]},
    {"X-SDK-Key": SDK_KEY + "x"},
    {"X-SDK-Key": ADMIN_KEY},
    {"X-Admin-API-Key": ADMIN_KEY},
    {"X-Admin-API-Key": SDK_KEY},
    {"Authorization": f"Bearer {SDK_KEY}"},
]


@pytest.fixture(scope="module")
def known_flag(flagd: Flagd) -> dict[str, object]:
    with flagd.admin() as admin:
        return create(admin, unique_key("auth"))


def send(http: httpx.Client, method: str, path: str, **kwargs: object) -> httpx.Response:
    if method in {"POST", "PUT"}:
        kwargs.setdefault("json", {"key": unique_key("auth"), "enabled": True})
    return http.request(method, path, **kwargs)  # type: ignore[arg-type]


# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_need_the_admin_key(
    anon: httpx.Client, known_flag: dict[str, object], method: str, path: str
) -> None:
    before = anon.get("/api/client/flags", headers={"X-SDK-Key": SDK_KEY}).json()
    for ref in (str(known_flag["key"]), unique_key("unknown")):
        for headers in WRONG_ADMIN_HEADERS:
            response = send(anon, method, path.format(ref=ref), headers=headers)
            assert_error(response, 401, "unauthorized")
    # Nothing was written by any of those requests.
    assert anon.get("/api/client/flags", headers={"X-SDK-Key": SDK_KEY}).json() == before


@pytest.mark.parametrize(("method", "path"), CLIENT_ROUTES)
def test_client_routes_need_the_sdk_key(anon: httpx.Client, method: str, path: str) -> None:
    for headers in WRONG_SDK_HEADERS:
        assert_error(anon.request(method, path, headers=headers), 401, "unauthorized")


def test_the_right_keys_open_their_routes(admin: httpx.Client, client: httpx.Client) -> None:
    assert admin.get("/api/admin/flags").status_code == 200
    assert client.get("/api/client/flags").status_code == 200
    with client.stream("GET", "/api/client/stream") as stream:
        assert stream.status_code == 200


def test_unknown_admin_and_client_subpaths_still_need_a_key(anon: httpx.Client) -> None:
    for path in ("/api/admin/nope", "/api/admin/", "/api/client/nope", "/api/client/"):
        assert_error(anon.get(path), 401, "unauthorized")


# --- open operator routes -----------------------------------------------------------------


def test_health_needs_no_key(anon: httpx.Client) -> None:
    response = anon.get("/health")
    assert response.status_code == 200
    assert response.text.strip() == "ok"


def test_ready_needs_no_key(anon: httpx.Client) -> None:
    response = anon.get("/ready")
    assert response.status_code == 200
    assert response.text.strip() == "ok"


def test_metrics_needs_no_key(anon: httpx.Client, admin: httpx.Client) -> None:
    admin.get("/api/admin/flags")
    response = anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "flagd_http_requests" in text
    assert "flagd_revision" in text
    for line in text.splitlines():
        assert line.startswith("#") or not line or " " in line, line


def test_openapi_needs_no_key_and_describes_every_route(anon: httpx.Client) -> None:
    response = anon.get("/openapi.json")
    assert response.status_code == 200
    assert is_json(response)
    document = response.json()
    assert str(document.get("openapi", "")).startswith("3.")
    paths = document["paths"]
    expected = {
        "/api/admin/flags": {"get", "post"},
        "/api/admin/flags/{ref}": {"get", "put", "delete"},
        "/api/admin/flags/{ref}/toggle": {"patch"},
        "/api/client/flags": {"get"},
        "/api/client/stream": {"get"},
        "/health": {"get"},
        "/ready": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, f"{path} missing from /openapi.json"
        assert methods <= {method.lower() for method in paths[path]}, (path, paths[path])


# --- unknown routes and wrong methods -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/nope", "/api", "/api/admin", "/health/", "/HEALTH", "/api/v1/flags", "/favicon.ico"],
)
def test_unknown_route_is_404_json(anon: httpx.Client, admin: httpx.Client, path: str) -> None:
    response = admin.get(path) if path.startswith("/api/admin") else anon.get(path)
    assert_error(response, 404, "not_found")


def test_unknown_route_under_api_with_keys_is_404(
    admin: httpx.Client, client: httpx.Client
) -> None:
    assert_error(admin.get("/api/admin/nope"), 404, "not_found")
    assert_error(admin.get("/api/admin/flags/a/b/c"), 404, "not_found")
    assert_error(client.get("/api/client/nope"), 404, "not_found")


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("anon", "POST", "/health"),
        ("anon", "DELETE", "/health"),
        ("anon", "PUT", "/ready"),
        ("anon", "POST", "/metrics"),
        ("anon", "POST", "/openapi.json"),
        ("admin", "DELETE", "/api/admin/flags"),
        ("admin", "PUT", "/api/admin/flags"),
        ("admin", "PATCH", "/api/admin/flags"),
        ("admin", "POST", "/api/admin/flags/{ref}"),
        ("admin", "PATCH", "/api/admin/flags/{ref}"),
        ("admin", "GET", "/api/admin/flags/{ref}/toggle"),
        ("admin", "POST", "/api/admin/flags/{ref}/toggle"),
        ("client", "POST", "/api/client/flags"),
        ("client", "DELETE", "/api/client/flags"),
        ("client", "POST", "/api/client/stream"),
    ],
)
def test_wrong_method_is_405_json(
    anon: httpx.Client,
    admin: httpx.Client,
    client: httpx.Client,
    known_flag: dict[str, object],
    who: str,
    method: str,
    path: str,
) -> None:
    http = {"anon": anon, "admin": admin, "client": client}[who]
    response = http.request(method, path.format(ref=known_flag["key"]))
    assert_error(response, 405, "method_not_allowed")
    assert "Allow" in response.headers


def test_wrong_method_without_a_key_is_401_on_api_routes(anon: httpx.Client) -> None:
    assert_error(anon.delete("/api/admin/flags"), 401, "unauthorized")
    assert_error(anon.post("/api/client/flags"), 401, "unauthorized")


# --- CORS ---------------------------------------------------------------------------------


def preflight(http: httpx.Client, path: str, origin: str, method: str = "PUT") -> httpx.Response:
    return http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type, x-admin-api-key, if-match",
        },
    )


def assert_preflight_allowed(response: httpx.Response, origin: str) -> None:
    assert response.status_code == 204, response.text
    assert response.headers["Access-Control-Allow-Origin"] in {origin, "*"}
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    headers = response.headers["Access-Control-Allow-Headers"].split(",")
    allowed = {header.strip().lower() for header in headers}
    assert {"content-type", "x-admin-api-key", "x-sdk-key", "if-match", "if-none-match"} <= allowed


def test_dashboard_origin_gets_cors_on_normal_responses(
    flagd, admin: httpx.Client, client: httpx.Client, anon: httpx.Client
) -> None:
    origin = {"Origin": DASHBOARD}
    responses = [
        admin.get("/api/admin/flags", headers=origin),
        admin.post("/api/admin/flags", headers=origin, json={"key": unique_key("cors")}),
        admin.get(f"/api/admin/flags/{unique_key('none')}", headers=origin),  # 404
        admin.post("/api/admin/flags", headers=origin, json={"key": "bad key"}),  # 400
        client.get("/api/client/flags", headers=origin),
        anon.get("/api/admin/flags", headers=origin),  # 401
        anon.get("/api/client/flags", headers=origin),  # 401
        anon.get("/health", headers=origin),
    ]
    etag = responses[4].headers["ETag"]
    responses.append(client.get("/api/client/flags", headers={**origin, "If-None-Match": etag}))
    for response in responses:
        assert response.headers.get("Access-Control-Allow-Origin") == DASHBOARD, (
            response.request.method,
            response.request.url,
            response.status_code,
        )
    # The browser may read the ETag it needs for If-None-Match / If-Match.
    exposed = responses[4].headers.get("Access-Control-Expose-Headers", "").lower()
    assert "etag" in exposed


@pytest.mark.parametrize(
    "path",
    [
        "/api/admin/flags",
        "/api/admin/flags/x",
        "/api/admin/flags/x/toggle",
        "/api/client/flags",
        "/api/client/stream",
    ],
)
def test_dashboard_preflight_needs_no_key(anon: httpx.Client, path: str) -> None:
    assert_preflight_allowed(preflight(anon, path, DASHBOARD), DASHBOARD)


def test_other_origin_gets_no_cors(admin: httpx.Client, anon: httpx.Client) -> None:
    for origin in (
        "https://evil.example",
        "http://localhost:3001",
        "http://localhost",
        "null",
        "HTTP://LOCALHOST:3000",
    ):
        response = admin.get("/api/admin/flags", headers={"Origin": origin})
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        unauthorized = anon.get("/api/admin/flags", headers={"Origin": origin})
        assert_error(unauthorized, 401, "unauthorized")
        assert "Access-Control-Allow-Origin" not in unauthorized.headers
        refused = preflight(anon, "/api/admin/flags", origin)
        assert_error(refused, 403)
        assert "Access-Control-Allow-Origin" not in refused.headers


def test_options_without_preflight_headers_is_not_a_crash(anon: httpx.Client) -> None:
    response = anon.options("/api/admin/flags")
    assert response.status_code < 500


@pytest.fixture(scope="module")
def cors_daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Flagd]]:
    daemons: dict[str, Flagd] = {}
    try:
        for name, value in (("any", "*"), ("list", "https://a.example, https://b.example/")):
            data_dir: Path = tmp_path_factory.mktemp(f"cors-{name}")
            daemons[name] = Flagd(data_dir=data_dir, extra_env={"CORS_ORIGINS": value})
            daemons[name].start()
        yield daemons
    finally:
        for daemon in daemons.values():
            daemon.stop()


def test_cors_origins_star_allows_any_origin(cors_daemons: dict[str, Flagd]) -> None:
    daemon = cors_daemons["any"]
    with daemon.admin() as admin, httpx.Client(base_url=daemon.url) as anon:
        for origin in ("https://anything.example", DASHBOARD):
            response = admin.get("/api/admin/flags", headers={"Origin": origin})
            assert response.headers["Access-Control-Allow-Origin"] in {origin, "*"}
            assert_preflight_allowed(preflight(anon, "/api/admin/flags", origin), origin)


def test_cors_origins_list(cors_daemons: dict[str, Flagd]) -> None:
    daemon = cors_daemons["list"]
    with daemon.client() as client, httpx.Client(base_url=daemon.url) as anon:
        for origin in ("https://a.example", "https://b.example"):
            response = client.get("/api/client/flags", headers={"Origin": origin})
            assert response.status_code == 200
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert_preflight_allowed(preflight(anon, "/api/client/flags", origin), origin)
        # The configured list replaces the default: the dashboard origin is no longer allowed.
        for origin in (DASHBOARD, "https://c.example", "https://a.example.evil"):
            response = client.get("/api/client/flags", headers={"Origin": origin})
            assert "Access-Control-Allow-Origin" not in response.headers
            assert_error(preflight(anon, "/api/client/flags", origin), 403)


def test_dashboard_origin_gets_cors_on_the_stream(anon: httpx.Client) -> None:
    """A browser EventSource (with ?key=) from the dashboard must be allowed to read the stream."""
    with anon.stream(
        "GET", "/api/client/stream", params={"key": SDK_KEY}, headers={"Origin": DASHBOARD}
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers.get("Access-Control-Allow-Origin") == DASHBOARD, dict(stream.headers)
    with anon.stream(
        "GET",
        "/api/client/stream",
        params={"key": SDK_KEY},
        headers={"Origin": "https://evil.example"},
    ) as stream:
        assert "Access-Control-Allow-Origin" not in stream.headers
