"""Idempotency-Key on admin writes: a retried write applies once and answers as the first did.

Run on both stores. The key is remembered in the write's own transaction, so a write that
committed but whose answer was lost (a 503 during COMMIT, a dropped connection) is found
by the retry. Failures (4xx) are not remembered: they applied nothing, so a retry runs again.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.daemon import Flagd

from .helpers import assert_error, client_flag, create, revision, unique_key, wait_until

FLAGS = "/api/admin/flags"
RELEASE_SCHEMAS = Path(__file__).parent / "schema_v0_1"
REPLAYED = "Idempotent-Replayed"


def flag_path(ref: str, suffix: str = "") -> str:
    return f"{FLAGS}/{ref}{suffix}"


def new_key() -> str:
    return f"test-{unique_key('idem')}"


def same_answer(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code, again.text
    assert again.content == first.content
    for header in ("ETag", "Location", "Content-Type"):
        assert again.headers.get(header) == first.headers.get(header), header
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"


# --- same key, same request: the original answer, one revision --------------------------------


def test_a_retried_create_answers_the_original_and_applies_once(
    admin: httpx.Client, client: httpx.Client
) -> None:
    key, body = new_key(), {"key": unique_key("retried"), "enabled": True}
    before = revision(client)
    first = admin.post(FLAGS, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    again = admin.post(FLAGS, json=body, headers={"Idempotency-Key": key})
    same_answer(first, again)
    assert revision(client) == before + 1
    # Without the key the same body is a new request: the flag exists now.
    assert_error(admin.post(FLAGS, json=body), 409, "duplicate_key")


def test_the_body_is_compared_as_json_not_as_bytes(admin: httpx.Client) -> None:
    key, flag_key = new_key(), unique_key("json")
    first = admin.post(
        FLAGS,
        content=f'{{"key": "{flag_key}", "rollout_percentage": 5}}',
        headers={"Idempotency-Key": key},
    )
    assert first.status_code == 201, first.text
    again = admin.post(
        FLAGS,
        content=f'{{"rollout_percentage":5,"key":"{flag_key}"}}',
        headers={"Idempotency-Key": key},
    )
    same_answer(first, again)


def test_a_replay_answers_as_then_even_after_later_changes(
    admin: httpx.Client, client: httpx.Client
) -> None:
    flag = create(admin)
    key = new_key()
    first = admin.put(
        flag_path(flag["key"]),
        json={"rollout_percentage": 40},
        headers={"Idempotency-Key": key, "If-Match": '"1"'},
    )
    assert first.status_code == 200 and first.headers["ETag"] == '"2"', first.text
    assert admin.patch(flag_path(flag["key"], "/toggle")).status_code == 200
    before = revision(client)
    again = admin.put(
        flag_path(flag["key"]),
        json={"rollout_percentage": 40},
        headers={"Idempotency-Key": key, "If-Match": '"1"'},  # stale now: no 412 on a replay
    )
    same_answer(first, again)
    assert revision(client) == before
    assert admin.get(flag_path(flag["key"])).json()["version"] == 3


def test_a_retried_toggle_flips_once(admin: httpx.Client, client: httpx.Client) -> None:
    flag = create(admin)
    key, before = new_key(), revision(client)
    first = admin.patch(flag_path(flag["id"], "/toggle"), headers={"Idempotency-Key": key})
    assert first.status_code == 200 and first.json()["enabled"] is True, first.text
    for _ in range(3):
        same_answer(
            first, admin.patch(flag_path(flag["id"], "/toggle"), headers={"Idempotency-Key": key})
        )
    assert revision(client) == before + 1
    assert client_flag(client, flag["key"])["enabled"] is True  # type: ignore[index]


def test_a_retried_delete_answers_204_not_404(admin: httpx.Client, client: httpx.Client) -> None:
    flag = create(admin)
    key, before = new_key(), revision(client)
    first = admin.delete(flag_path(flag["key"]), headers={"Idempotency-Key": key})
    assert first.status_code == 204
    same_answer(first, admin.delete(flag_path(flag["key"]), headers={"Idempotency-Key": key}))
    assert revision(client) == before + 1
    assert_error(admin.delete(flag_path(flag["key"])), 404, "not_found")


def test_a_write_that_changes_nothing_is_remembered_too(
    admin: httpx.Client, client: httpx.Client
) -> None:
    """Otherwise its retry could apply a change the first attempt did not make."""
    flag = create(admin, enabled=True)
    key, before = new_key(), revision(client)
    first = admin.put(
        flag_path(flag["key"]), json={"enabled": True}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 200 and first.json() == flag
    assert revision(client) == before  # nothing changed, nothing recorded
    assert admin.patch(flag_path(flag["key"], "/toggle")).json()["enabled"] is False
    again = admin.put(
        flag_path(flag["key"]), json={"enabled": True}, headers={"Idempotency-Key": key}
    )
    same_answer(first, again)
    assert admin.get(flag_path(flag["key"])).json()["enabled"] is False


def test_concurrent_attempts_with_one_key_apply_once(flagd: Flagd, client: httpx.Client) -> None:
    """The later attempts wait for the first one's transaction, then replay its answer."""
    key, body, attempts = new_key(), {"key": unique_key("race")}, 8
    before = revision(client)
    start = threading.Barrier(attempts)

    def attempt(_: int) -> httpx.Response:
        with flagd.admin() as admin:
            start.wait()
            return admin.post(FLAGS, json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(attempts) as pool:
        answers = list(pool.map(attempt, range(attempts)))
    assert {answer.status_code for answer in answers} == {201}, [a.text for a in answers]
    assert len({answer.content for answer in answers}) == 1
    assert sum(REPLAYED not in answer.headers for answer in answers) == 1
    assert revision(client) == before + 1


# --- same key, another request: 422 --------------------------------------------------------


def test_a_key_reused_with_another_body_is_a_422(admin: httpx.Client, client: httpx.Client) -> None:
    key = new_key()
    first = admin.post(FLAGS, json={"key": unique_key("first")}, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    before = revision(client)
    reused = admin.post(FLAGS, json={"key": unique_key("other")}, headers={"Idempotency-Key": key})
    body = assert_error(reused, 422, "idempotency_key_reused")
    assert "Idempotency-Key" in body["message"]
    assert revision(client) == before


@pytest.mark.parametrize(
    "method, suffix, extra",
    [
        ("PATCH", "/toggle", {}),  # another route
        ("DELETE", "", {}),  # another method
        ("PUT", "", {"If-Match": '"1"'}),  # another condition
    ],
)
def test_a_key_reused_on_another_request_is_a_422(
    admin: httpx.Client, method: str, suffix: str, extra: dict[str, str]
) -> None:
    flag = create(admin)
    key = new_key()
    first = admin.put(
        flag_path(flag["key"]), json={"enabled": True}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 200
    reused = admin.request(
        method,
        flag_path(flag["key"], suffix),
        json={"enabled": True} if method == "PUT" else None,
        headers={"Idempotency-Key": key, **extra},
    )
    assert_error(reused, 422, "idempotency_key_reused")


def test_a_key_reused_on_another_flag_is_a_422(admin: httpx.Client) -> None:
    one, two = create(admin), create(admin)
    key = new_key()
    assert admin.patch(
        flag_path(one["key"], "/toggle"), headers={"Idempotency-Key": key}
    ).is_success
    reused = admin.patch(flag_path(two["key"], "/toggle"), headers={"Idempotency-Key": key})
    assert_error(reused, 422, "idempotency_key_reused")
    assert admin.get(flag_path(two["key"])).json()["enabled"] is False


# --- failures are not remembered ------------------------------------------------------------


def test_a_failed_write_is_not_remembered(admin: httpx.Client) -> None:
    flag_key, key = unique_key("later"), new_key()
    missing = admin.patch(flag_path(flag_key, "/toggle"), headers={"Idempotency-Key": key})
    assert_error(missing, 404, "not_found")
    create(admin, flag_key)
    toggled = admin.patch(flag_path(flag_key, "/toggle"), headers={"Idempotency-Key": key})
    assert toggled.status_code == 200 and REPLAYED not in toggled.headers
    assert toggled.json()["enabled"] is True


def test_a_failed_write_frees_its_key_for_another_body(admin: httpx.Client) -> None:
    key = new_key()
    invalid = admin.post(FLAGS, json={"key": "has space"}, headers={"Idempotency-Key": key})
    assert_error(invalid, 400, "validation_error")
    fixed = admin.post(FLAGS, json={"key": unique_key("fixed")}, headers={"Idempotency-Key": key})
    assert fixed.status_code == 201, fixed.text


# --- the key itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_key",
    ["k" * 256, b"caf\xc3\xa9", b"tab\there"],
    ids=["too-long", "not-ascii", "control-character"],
)
def test_a_malformed_key_is_a_400(
    admin: httpx.Client, client: httpx.Client, bad_key: str | bytes
) -> None:
    before = revision(client)
    answer = admin.post(
        FLAGS, json={"key": unique_key("bad")}, headers={"Idempotency-Key": bad_key}
    )
    body = assert_error(answer, 400, "invalid_request")
    assert "Idempotency-Key" in body["message"]
    assert revision(client) == before


def test_the_longest_key_is_accepted(admin: httpx.Client) -> None:
    key = "k" * 255
    first = admin.post(FLAGS, json={"key": unique_key("long")}, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text


def test_an_unknown_flag_is_a_404_before_a_malformed_key(admin: httpx.Client) -> None:
    answer = admin.patch(
        flag_path(unique_key("nowhere"), "/toggle"), headers={"Idempotency-Key": "k" * 300}
    )
    assert_error(answer, 404, "not_found")


def test_a_browser_may_send_the_key(flagd: Flagd, anon: httpx.Client) -> None:
    assert flagd.admin_key is not None  # the fixture's daemons have configured keys
    answer = anon.options(
        FLAGS,
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Idempotency-Key",
        },
    )
    allowed = {
        name.strip().lower() for name in answer.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert "idempotency-key" in allowed


# --- expiry and purging ---------------------------------------------------------------------

SHORT_TTL = 1.0


@pytest.fixture(scope="module")
def short_lived(  # type: ignore[no-untyped-def]
    store_kind: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Flagd]:
    database_url = None
    if store_kind == "postgres":
        database_url = request.getfixturevalue("new_database")()
    daemon = Flagd(
        data_dir=tmp_path_factory.mktemp(f"short-ttl-{store_kind}"),
        database_url=database_url,
        extra_env={"FLAGD_IDEMPOTENCY_TTL": str(SHORT_TTL)},
    )
    daemon.start()
    yield daemon
    daemon.stop()


def remembered_keys(daemon: Flagd) -> set[str]:
    """The keys in the store's table, read over a real connection of its own."""
    if daemon.database_url is None:
        db = sqlite3.connect(daemon.data_dir / "flagd.sqlite3")
        try:
            return {row[0] for row in db.execute("SELECT key FROM idempotency_keys")}
        finally:
            db.close()

    async def read() -> set[str]:
        conn = await asyncpg.connect(daemon.database_url)
        try:
            return {row[0] for row in await conn.fetch("SELECT key FROM idempotency_keys")}
        finally:
            await conn.close()

    return asyncio.run(read())


def test_a_key_expires_after_the_ttl(short_lived: Flagd) -> None:
    key = new_key()
    with short_lived.admin() as admin:
        first = admin.post(FLAGS, json={"key": unique_key("a")}, headers={"Idempotency-Key": key})
        assert first.status_code == 201
        other = {"key": unique_key("b")}

        def reuse_allowed() -> httpx.Response | None:
            answer = admin.post(FLAGS, json=other, headers={"Idempotency-Key": key})
            if answer.status_code == 422:
                return None  # still remembered: nothing was applied
            return answer

        started = time.monotonic()
        answer = wait_until(reuse_allowed, timeout=SHORT_TTL + 10, what="the key to expire")
        assert answer.status_code == 201, answer.text
        assert time.monotonic() - started >= SHORT_TTL * 0.5  # not forgotten at once


def test_expired_keys_are_purged(short_lived: Flagd) -> None:
    keys = [new_key() for _ in range(3)]
    with short_lived.admin() as admin:
        for key in keys:
            answer = admin.post(FLAGS, json={"key": unique_key()}, headers={"Idempotency-Key": key})
            assert answer.status_code == 201
    assert set(keys) <= remembered_keys(short_lived)
    wait_until(
        lambda: not set(keys) & remembered_keys(short_lived),
        timeout=SHORT_TTL + 15,
        what="expired keys to be purged",
    )


# --- a database from the previous release -----------------------------------------------------

OLD_FLAG_ID = "0b0f7c1e-3a53-4d5e-9a3c-2f6d2b8f0e11"
OLD_FLAG: dict[str, Any] = {
    "id": OLD_FLAG_ID,
    "key": "from-release-0-1",
    "description": "made before Idempotency-Key existed",
    "enabled": True,
    "rollout_percentage": 10,
    "targeted_users": ["u1"],
    "version": 1,
    "created_at": "2024-05-01T12:00:00.000Z",
    "updated_at": "2024-05-01T12:00:00.000Z",
}


def make_release_sqlite(path: Path) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript((RELEASE_SCHEMAS / "schema_sqlite.sql").read_text())
    f = OLD_FLAG
    db.execute(
        "INSERT INTO flags VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        (f["id"], f["key"], f["description"], 1, f["rollout_percentage"],
         json.dumps(f["targeted_users"]), 1, f["created_at"], f["updated_at"]),
    )  # fmt: skip
    db.execute(
        "INSERT INTO flag_changes VALUES (1, 'created', ?, ?, 'admin-api', ?)",
        (f["key"], json.dumps(f), f["created_at"]),
    )
    db.execute("UPDATE store_revision SET revision = 1")
    db.close()


def make_release_postgres(url: str) -> None:
    import json

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute((RELEASE_SCHEMAS / "schema.sql").read_text())
            f = OLD_FLAG
            await conn.execute(
                "INSERT INTO flags VALUES ($1::uuid, $2, $3, true, $4, $5::jsonb, 1, $6, $7, 1)",
                f["id"], f["key"], f["description"], f["rollout_percentage"],
                json.dumps(f["targeted_users"]), f["created_at"], f["updated_at"],
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO flag_changes VALUES (1, 'created', $1, $2::jsonb, 'admin-api', $3)",
                f["key"], json.dumps(f), f["created_at"],
            )  # fmt: skip
            await conn.execute("UPDATE store_revision SET revision = 1")
        finally:
            await conn.close()

    asyncio.run(run())


def test_a_database_from_the_previous_release_gains_the_table(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data_dir = tmp_path / "upgraded"
    database_url = None
    if store_kind == "postgres":
        database_url = request.getfixturevalue("new_database")()
        make_release_postgres(database_url)
    else:
        make_release_sqlite(data_dir / "flagd.sqlite3")
    daemon = Flagd(data_dir=data_dir, database_url=database_url).start()
    try:
        with daemon.admin() as admin, daemon.client() as client:
            assert admin.get(flag_path(OLD_FLAG["key"])).json() == OLD_FLAG
            key = new_key()
            first = admin.patch(flag_path(OLD_FLAG_ID, "/toggle"), headers={"Idempotency-Key": key})
            assert first.status_code == 200, first.text
            same_answer(
                first,
                admin.patch(flag_path(OLD_FLAG_ID, "/toggle"), headers={"Idempotency-Key": key}),
            )
            assert revision(client) == 2
        daemon.restart()  # the schema is applied again over the new table: still idempotent
        with daemon.admin() as admin:
            again = admin.patch(flag_path(OLD_FLAG_ID, "/toggle"), headers={"Idempotency-Key": key})
            same_answer(first, again)
    finally:
        daemon.stop()


# --- a retry that lands on another instance ---------------------------------------------------


@pytest.mark.postgres
def test_a_retry_on_another_instance_replays_and_reads_its_write(
    new_database: Any, tmp_path: Path
) -> None:
    """Behind a load balancer the retry may reach an instance that never heard of the first
    attempt (no Redis here, and no reconcile for an hour): it replays, and a read right
    after it sees the write."""
    url, slow = new_database(), {"FLAGD_RECONCILE_INTERVAL": "3600"}
    first_instance = Flagd(data_dir=tmp_path / "a", database_url=url, extra_env=slow).start()
    other_instance = Flagd(data_dir=tmp_path / "b", database_url=url, extra_env=slow).start()
    try:
        key, body = new_key(), {"key": unique_key("elsewhere")}
        with first_instance.admin() as admin:
            first = admin.post(FLAGS, json=body, headers={"Idempotency-Key": key})
        with other_instance.admin() as admin, other_instance.client() as client:
            assert revision(client) == 0
            same_answer(first, admin.post(FLAGS, json=body, headers={"Idempotency-Key": key}))
            assert client_flag(client, body["key"]) is not None
            assert revision(client) == 1
    finally:
        first_instance.stop()
        other_instance.stop()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_the_ttl_must_be_a_positive_number_of_seconds(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from flagd.settings import load_settings

    assert load_settings([], {"FLAGD_IDEMPOTENCY_TTL": "0.5"}).idempotency_ttl == 0.5
    with pytest.raises(SystemExit) as exited:
        load_settings([], {"FLAGD_IDEMPOTENCY_TTL": value})
    assert exited.value.code == 2
    assert "FLAGD_IDEMPOTENCY_TTL" in capsys.readouterr().err
