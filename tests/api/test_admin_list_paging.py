"""GET /api/admin/flags: the whole array unpaged, pages with ?limit=&after= and a Link."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.daemon import Flagd

from .helpers import assert_error, create
from .rawhttp import connect

FLAGS = "/api/admin/flags"
NEXT_LINK = re.compile(r'^<(/api/admin/flags\?limit=\d+&after=[^>]+)>; rel="next"$')


def walk(admin: httpx.Client, limit: int) -> Iterator[httpx.Response]:
    """Every page, following each Link from the first page on."""
    url = f"{FLAGS}?limit={limit}"
    while True:
        response = admin.get(url)
        assert response.status_code == 200, response.text[:300]
        yield response
        link = response.headers.get("Link")
        if link is None:
            return
        match = NEXT_LINK.match(link)
        assert match, link
        url = match.group(1)


def test_unpaged_list_is_the_whole_array(admin: httpx.Client) -> None:
    for _ in range(3):
        create(admin)
    response = admin.get(FLAGS)
    assert response.status_code == 200
    assert "Link" not in response.headers
    body = response.json()
    assert isinstance(body, list) and len(body) >= 3
    created = [flag["created_at"] for flag in body]
    assert created == sorted(created, reverse=True)  # newest first


@pytest.mark.parametrize("limit", [1, 2, 3, 1000])
def test_pages_put_together_are_the_whole_list(admin: httpx.Client, limit: int) -> None:
    for _ in range(5):
        create(admin)
    whole = admin.get(FLAGS).json()
    pages = [page.json() for page in walk(admin, limit)]
    assert all(1 <= len(page) <= limit for page in pages[:-1])
    assert len(pages[-1]) <= limit
    assert [flag for page in pages for flag in page] == whole


def test_a_page_past_the_end_is_empty(admin: httpx.Client) -> None:
    create(admin)
    whole = admin.get(FLAGS).json()
    response = admin.get(FLAGS, params={"after": whole[-1]["id"], "limit": 5})
    assert response.status_code == 200
    assert response.json() == []
    assert "Link" not in response.headers


def test_after_alone_pages_with_the_default_limit(admin: httpx.Client) -> None:
    first, second = create(admin), create(admin)
    response = admin.get(FLAGS, params={"after": second["id"]})
    assert response.status_code == 200
    page = response.json()
    assert page[0] == first
    assert len(page) <= 100


def test_new_flags_do_not_shift_later_pages(admin: httpx.Client) -> None:
    for _ in range(4):
        create(admin)
    first = admin.get(FLAGS, params={"limit": 2})
    expected_next = admin.get(FLAGS).json()[2:4]
    create(admin)  # lands at the head, before the cursor
    link = NEXT_LINK.match(first.headers["Link"])
    assert link
    assert admin.get(link.group(1)).json() == expected_next


def test_reads_its_own_writes(admin: httpx.Client) -> None:
    """Each write is in the very next list (the cached list is per revision)."""
    flag = create(admin)
    assert admin.get(FLAGS, params={"limit": 1}).json() == [flag]
    toggled = admin.patch(f"{FLAGS}/{flag['id']}/toggle").json()
    assert admin.get(FLAGS).json()[0] == toggled
    assert admin.delete(f"{FLAGS}/{flag['id']}").status_code == 204
    assert flag["id"] not in {item["id"] for item in admin.get(FLAGS).json()}


def test_a_deleted_cursor_is_a_400(admin: httpx.Client) -> None:
    flag = create(admin)
    assert admin.delete(f"{FLAGS}/{flag['id']}").status_code == 204
    body = assert_error(admin.get(FLAGS, params={"after": flag["id"]}), 400, "invalid_request")
    assert "after" in body["message"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "limit=%EF%BC%91",  # a full-width digit one
        "limit=99999999999999999999",
        "limit=1&limit=2",
        "after=",
        "after=no-such-flag",
        "after=a&after=b",
    ],
)
def test_invalid_paging_is_a_400(admin: httpx.Client, query: str) -> None:
    create(admin)
    assert_error(admin.get(f"{FLAGS}?{query}"), 400, "invalid_request")


def test_paging_needs_the_admin_key_first(anon: httpx.Client) -> None:
    assert_error(anon.get(FLAGS, params={"limit": "0"}), 401, "unauthorized")


def test_another_instance_sees_a_write_at_once(
    new_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No Redis between them (and a reconcile far off): the list still includes the other
    instance's write, as when it was read from the store. Two instances share a database
    only on PostgreSQL, so this test runs there alone."""
    database_url = new_database()
    instances = [
        Flagd(
            data_dir=tmp_path_factory.mktemp("flagd-instance"),
            database_url=database_url,
            extra_env={"FLAGD_RECONCILE_INTERVAL": "3600"},
        ).start()
        for _ in range(2)
    ]
    try:
        with instances[0].admin() as admin, instances[1].admin() as other_admin:
            admin.get(FLAGS)  # this instance's list is cached at its current revision
            flag: dict[str, Any] = create(other_admin)
            assert admin.get(FLAGS, params={"limit": 1}).json() == [flag]
    finally:
        for instance in instances:
            instance.stop()


def big_flags(admin: httpx.Client, count: int = 5) -> None:
    """Enough flags for a list of several slices (256 KiB each)."""
    for index in range(count):
        users = [f"user-{index}-{number:05d}-{'x' * 12}" for number in range(4000)]
        create(admin, targeted_users=users)


def test_a_large_list_arrives_whole(admin: httpx.Client) -> None:
    big_flags(admin)
    response = admin.get(FLAGS)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) > 2 * 256 * 1024
    whole = response.json()
    assert [flag for page in walk(admin, 2) for flag in page.json()] == whole


def test_a_client_leaving_mid_list_is_no_error(flagd: Flagd, admin: httpx.Client) -> None:
    big_flags(admin)
    offset = len(flagd.log())
    request = f"GET {FLAGS} HTTP/1.1\r\nHost: x\r\nX-Admin-API-Key: {flagd.admin_key}\r\n\r\n"
    with connect(flagd.port) as sock:
        sock.sendall(request.encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    # The daemon still serves lists, and logged the early close as no error.
    assert admin.get(FLAGS, params={"limit": 1}).status_code == 200
    assert "level=error" not in flagd.log()[offset:]
