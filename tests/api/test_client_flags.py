"""Client REST API: the flag set with its revision, ETag / If-None-Match, read-your-writes."""

from __future__ import annotations

import httpx
import pytest

from tests.daemon import ADMIN_KEY, SDK_KEY, Flagd

from .helpers import (
    CLIENT_FLAG_FIELDS,
    assert_error,
    client_flag,
    client_state,
    create,
    is_json,
    revision,
    unique_key,
)

CLIENT_FLAGS = "/api/client/flags"


def flag_path(ref: str) -> str:
    return f"/api/admin/flags/{ref}"


def test_shape_and_etag(admin: httpx.Client, client: httpx.Client) -> None:
    created = create(
        admin, description="client view", enabled=True, rollout_percentage=10, targeted_users=["u"]
    )
    response = client.get(CLIENT_FLAGS)
    assert response.status_code == 200
    assert is_json(response)
    body = response.json()
    assert set(body) >= {"flags", "revision"}
    assert type(body["revision"]) is int and body["revision"] >= 1
    assert isinstance(body["flags"], list)
    assert response.headers["ETag"] == f'"{body["revision"]}"'
    for flag in body["flags"]:
        assert set(flag) >= CLIENT_FLAG_FIELDS
    seen = client_flag(client, created["key"])
    assert seen is not None
    assert {name: seen[name] for name in CLIENT_FLAG_FIELDS} == {
        name: created[name] for name in CLIENT_FLAG_FIELDS
    }


def test_client_flags_are_newest_first_like_the_admin_list(
    admin: httpx.Client, client: httpx.Client
) -> None:
    for _ in range(3):
        create(admin)
    admin_keys = [flag["key"] for flag in admin.get("/api/admin/flags").json()]
    client_keys = [flag["key"] for flag in client_state(client)["flags"]]
    assert client_keys == admin_keys


def test_revision_counts_successful_writes(admin: httpx.Client, client: httpx.Client) -> None:
    start = revision(client)
    flag = create(admin)
    assert revision(client) == start + 1
    assert admin.patch(flag_path(flag["key"]) + "/toggle").status_code == 200
    assert revision(client) == start + 2
    assert admin.put(flag_path(flag["key"]), json={"rollout_percentage": 3}).status_code == 200
    assert revision(client) == start + 3
    # Nothing recorded for: a no-op PUT, validation errors, 404, 409, 412.
    assert admin.put(flag_path(flag["key"]), json={"rollout_percentage": 3}).status_code == 200
    assert admin.put(flag_path(flag["key"]), json={"enabled": "yes"}).status_code == 400
    assert admin.post("/api/admin/flags", json={"key": "bad key"}).status_code == 400
    assert admin.post("/api/admin/flags", json={"key": flag["key"]}).status_code == 409
    assert admin.patch(flag_path(unique_key("none")) + "/toggle").status_code == 404
    assert admin.delete(flag_path(flag["key"]), headers={"If-Match": "1"}).status_code == 412
    assert revision(client) == start + 3
    assert admin.delete(flag_path(flag["key"])).status_code == 204
    assert revision(client) == start + 4
    assert client_flag(client, flag["key"]) is None


def test_read_your_writes(admin: httpx.Client, client: httpx.Client) -> None:
    """The client view reflects each admin write as soon as the write's response is in."""
    flag = create(admin)
    assert client_flag(client, flag["key"]) is not None
    expected_revision = revision(client)
    for step in range(10):
        if step % 3 == 0:
            response = admin.patch(flag_path(flag["id"]) + "/toggle")
        else:
            response = admin.put(flag_path(flag["id"]), json={"rollout_percentage": step})
        assert response.status_code == 200
        written = response.json()
        expected_revision += 1
        state = client_state(client)
        assert state["revision"] == expected_revision
        seen = next(item for item in state["flags"] if item["key"] == flag["key"])
        assert seen["version"] == written["version"]
        assert seen["enabled"] == written["enabled"]
        assert seen["rollout_percentage"] == written["rollout_percentage"]
    assert admin.delete(flag_path(flag["id"])).status_code == 204
    assert client_flag(client, flag["key"]) is None


@pytest.mark.parametrize("form", ['"{n}"', 'W/"{n}"', '"0", "{n}"', 'W/"999999", W/"{n}"', "*"])
def test_if_none_match_current_is_304(client: httpx.Client, form: str) -> None:
    current = revision(client)
    response = client.get(CLIENT_FLAGS, headers={"If-None-Match": form.format(n=current)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == f'"{current}"'


def test_if_none_match_stale_is_200(admin: httpx.Client, client: httpx.Client) -> None:
    etag = client.get(CLIENT_FLAGS).headers["ETag"]
    assert client.get(CLIENT_FLAGS, headers={"If-None-Match": etag}).status_code == 304
    flag = create(admin)
    response = client.get(CLIENT_FLAGS, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert flag["key"] in [item["key"] for item in response.json()["flags"]]
    for other in ('"999999"', "garbage", '""', 'W/"-1"'):
        assert client.get(CLIENT_FLAGS, headers={"If-None-Match": other}).status_code == 200


def test_query_key_works_on_client_routes(flagd: Flagd) -> None:
    with httpx.Client(base_url=flagd.url, timeout=10) as plain:
        response = plain.get(CLIENT_FLAGS, params={"key": SDK_KEY})
        assert response.status_code == 200
        assert "revision" in response.json()
        with plain.stream("GET", "/api/client/stream", params={"key": SDK_KEY}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
        assert_error(plain.get(CLIENT_FLAGS, params={"key": "wrong"}), 401, "unauthorized")
        assert_error(plain.get(CLIENT_FLAGS, params={"key": ""}), 401, "unauthorized")
        assert_error(plain.get(CLIENT_FLAGS, params={"key": ADMIN_KEY}), 401, "unauthorized")


def test_query_key_never_opens_admin_routes(flagd: Flagd) -> None:
    with httpx.Client(base_url=flagd.url, timeout=10) as plain:
        for value in (ADMIN_KEY, SDK_KEY):
            assert_error(plain.get("/api/admin/flags", params={"key": value}), 401, "unauthorized")
            response = plain.post(
                "/api/admin/flags", params={"key": value}, json={"key": unique_key("q")}
            )
            assert_error(response, 401, "unauthorized")


def test_keys_do_not_cross(flagd: Flagd) -> None:
    with httpx.Client(base_url=flagd.url, timeout=10) as plain:
        # The SDK key never opens admin routes, in either header.
        for headers in ({"X-SDK-Key": SDK_KEY}, {"X-Admin-API-Key": SDK_KEY}):
            assert_error(plain.get("/api/admin/flags", headers=headers), 401, "unauthorized")
            assert_error(
                plain.post("/api/admin/flags", headers=headers, json={"key": unique_key("x")}),
                401,
                "unauthorized",
            )
        # The admin key never opens client routes, in either header or the query.
        for headers in ({"X-Admin-API-Key": ADMIN_KEY}, {"X-SDK-Key": ADMIN_KEY}):
            assert_error(plain.get(CLIENT_FLAGS, headers=headers), 401, "unauthorized")
            assert_error(plain.get("/api/client/stream", headers=headers), 401, "unauthorized")


def test_client_flags_reflect_a_recreated_key(admin: httpx.Client, client: httpx.Client) -> None:
    key = unique_key("re")
    first = create(admin, key)
    admin.patch(flag_path(key) + "/toggle")
    admin.delete(flag_path(key))
    second = create(admin, key)
    seen = client_flag(client, key)
    assert seen is not None
    assert seen["id"] == second["id"] != first["id"]
    assert seen["version"] == 1
    assert seen["enabled"] is False


def test_gzip_body_when_the_client_accepts_it(admin: httpx.Client, client: httpx.Client) -> None:
    admin.post("/api/admin/flags", json={"key": unique_key("gzip"), "description": "é" * 200})
    plain = client.get("/api/client/flags", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["vary"]

    compressed = client.get("/api/client/flags", headers={"Accept-Encoding": "br, gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["etag"] == plain.headers["etag"]
    assert compressed.json() == plain.json()  # httpx decompressed it
    assert int(compressed.headers["content-length"]) < len(plain.content)

    refused = client.get("/api/client/flags", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers

    with_origin = client.get(
        "/api/client/flags",
        headers={"Accept-Encoding": "gzip", "Origin": "http://localhost:3000"},
    )
    assert {v.strip() for v in with_origin.headers["vary"].split(",")} == {
        "Accept-Encoding",
        "Origin",
    }
