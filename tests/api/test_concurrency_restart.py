"""Concurrent writers and a daemon restart: versions, revisions and order stay exact."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.daemon import ADMIN_KEY, Flagd

from .helpers import assert_error, client_state, create, revision, unique_key

FLAGS = "/api/admin/flags"


Request = tuple[str, str, dict[str, Any]]


def run_concurrently(url: str, requests: list[Request]) -> list[httpx.Response]:
    """Send every request at once (one connection each) and return the responses in order."""

    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=url, headers={"X-Admin-API-Key": ADMIN_KEY}, timeout=30, limits=limits
        ) as http:
            return list(
                await asyncio.gather(
                    *(http.request(method, path, **kwargs) for method, path, kwargs in requests)
                )
            )

    return asyncio.run(main())


def test_concurrent_toggles_are_serialised(
    flagd: Flagd, admin: httpx.Client, client: httpx.Client
) -> None:
    flag = create(admin, unique_key("race"))
    start = revision(client)
    path = f"{FLAGS}/{flag['id']}/toggle"
    responses = run_concurrently(flagd.url, [("PATCH", path, {})] * 50)
    assert [r.status_code for r in responses] == [200] * 50, [
        r.text for r in responses if r.status_code != 200
    ]
    versions = sorted(r.json()["version"] for r in responses)
    assert versions == list(range(2, 52))
    # Each response's enabled matches the parity of its version (toggles alternate).
    for response in responses:
        body = response.json()
        assert body["enabled"] is (body["version"] % 2 == 0)
    final = admin.get(f"{FLAGS}/{flag['id']}").json()
    assert final["version"] == 51
    assert final["enabled"] is False  # 50 toggles from off
    state = client_state(client)
    assert state["revision"] == start + 50
    seen = next(item for item in state["flags"] if item["key"] == flag["key"])
    assert seen["version"] == 51


def test_concurrent_creates_of_one_key(
    flagd: Flagd, admin: httpx.Client, client: httpx.Client
) -> None:
    key = unique_key("same")
    start = revision(client)
    requests = [
        ("POST", FLAGS, {"json": {"key": key, "description": f"writer {i}"}}) for i in range(20)
    ]
    responses = run_concurrently(flagd.url, requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "duplicate_key")
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert admin.get(f"{FLAGS}/{key}").json() == winner
    assert revision(client) == start + 1
    assert [f["key"] for f in admin.get(FLAGS).json()].count(key) == 1


def test_concurrent_if_match_updates_let_one_win(
    flagd: Flagd, admin: httpx.Client, client: httpx.Client
) -> None:
    flag = create(admin, unique_key("cas"))
    start = revision(client)
    requests = [
        (
            "PUT",
            f"{FLAGS}/{flag['key']}",
            {"json": {"rollout_percentage": i + 1}, "headers": {"If-Match": '"1"'}},
        )
        for i in range(10)
    ]
    responses = run_concurrently(flagd.url, requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 9, statuses
    for response in responses:
        if response.status_code == 412:
            assert_error(response, 412, "version_conflict")
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert winner["version"] == 2
    assert admin.get(f"{FLAGS}/{flag['key']}").json() == winner
    assert revision(client) == start + 1


def test_concurrent_mixed_writes_keep_revisions_contiguous(
    flagd: Flagd, admin: httpx.Client, client: httpx.Client
) -> None:
    flags = [create(admin, unique_key(f"mix{i}")) for i in range(5)]
    start = revision(client)
    requests: list[Request] = []
    for flag in flags:
        requests.append(("PATCH", f"{FLAGS}/{flag['key']}/toggle", {}))
        requests.append(("PUT", f"{FLAGS}/{flag['key']}", {"json": {"description": "mixed"}}))
        requests.append(("POST", FLAGS, {"json": {"key": unique_key("mixnew")}}))
    responses = run_concurrently(flagd.url, requests)
    assert all(r.status_code in {200, 201} for r in responses), [r.text for r in responses]
    assert revision(client) == start + len(requests)
    for flag in flags:
        current = admin.get(f"{FLAGS}/{flag['key']}").json()
        assert current["version"] == 3
        assert current["enabled"] is True
        assert current["description"] == "mixed"


def test_restart_keeps_flags_versions_order_and_revision(flagd: Flagd) -> None:
    with flagd.admin() as admin:
        made = [
            create(admin, unique_key(f"keep{i}"), targeted_users=[f"u{i}", "é"]) for i in range(4)
        ]
        admin.patch(f"{FLAGS}/{made[0]['key']}/toggle")
        admin.put(f"{FLAGS}/{made[1]['key']}", json={"rollout_percentage": 42})
        assert admin.delete(f"{FLAGS}/{made[2]['key']}").status_code == 204
        before_admin = admin.get(FLAGS).json()
        before_one = admin.get(f"{FLAGS}/{made[0]['id']}")
    with flagd.client() as client:
        before_client = client.get("/api/client/flags")
    assert before_client.status_code == 200

    flagd.restart()

    with flagd.admin() as admin:
        assert admin.get(FLAGS).json() == before_admin
        after_one = admin.get(f"{FLAGS}/{made[0]['id']}")
        assert after_one.json() == before_one.json()
        assert after_one.headers["ETag"] == before_one.headers["ETag"]
        assert_error(admin.get(f"{FLAGS}/{made[2]['key']}"), 404, "not_found")
    with flagd.client() as client:
        after_client = client.get("/api/client/flags")
        assert after_client.json() == before_client.json()
        assert after_client.headers["ETag"] == before_client.headers["ETag"]
        assert (
            client.get(
                "/api/client/flags", headers={"If-None-Match": before_client.headers["ETag"]}
            ).status_code
            == 304
        )
        # Revisions continue where they were.
        with flagd.admin() as admin:
            toggled = admin.patch(f"{FLAGS}/{made[3]['key']}/toggle").json()
            assert toggled["version"] == 2
            created = create(admin, made[2]["key"])
            assert created["version"] == 1
        assert revision(client) == before_client.json()["revision"] + 2
        assert client_state(client)["flags"][0]["key"] == made[2]["key"]
