"""Two flagd instances on one PostgreSQL database and Redis: a client on each converges."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REDIS_TEST_URL, port_open, service_missing
from tests.daemon import Flagd

from .conftest import OpenClient
from .helpers import Admin, by_key, eventually, unique_key

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def pair(new_database: Callable[[], str], tmp_path: Path) -> Iterator[tuple[Flagd, Flagd]]:
    if not port_open("127.0.0.1", 6379):
        service_missing("Redis on 127.0.0.1:6379")
    database = new_database()
    env = {"FLAGD_REDIS_CHANNEL": f"flag_updates_test_{uuid.uuid4().hex[:12]}"}
    first = Flagd(
        data_dir=tmp_path / "a", database_url=database, redis_url=REDIS_TEST_URL, extra_env=env
    )
    second = Flagd(
        data_dir=tmp_path / "b", database_url=database, redis_url=REDIS_TEST_URL, extra_env=env
    )
    first.start()
    try:
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()


async def test_a_client_on_each_instance_converges(
    pair: tuple[Flagd, Flagd], open_client: OpenClient
) -> None:
    first, second = pair
    async with (
        Admin(first) as admin_a,
        Admin(second) as admin_b,
        open_client(first.url) as client_a,
        open_client(second.url) as client_b,
    ):
        keys = [unique_key(f"pair{n}") for n in range(8)]
        for step in range(120):
            admin = admin_a if step % 2 else admin_b  # writes land on both instances
            key = keys[step % len(keys)]
            if step < len(keys):
                await admin.create(key, enabled=True, rollout_percentage=step)
            elif step % 5 == 0:
                await admin.toggle(key)
            else:
                await admin.update(
                    key, rollout_percentage=step % 101, targeted_users=[f"user-{step}", "ñandú"]
                )
        final = await admin_a.revision()
        store = await admin_a.flags()
        for name, client in (("first", client_a), ("second", client_b)):
            await eventually(
                lambda c=client: c.revision == final,
                f"the {name} instance's client at revision {final}",
            )
            assert by_key(client.flags()) == store, name
        for key in keys:
            for user in ("ñandú", "user-119", "someone"):
                assert client_a.is_enabled(key, user) is client_b.is_enabled(key, user)
