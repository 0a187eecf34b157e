"""Shared fixtures: a fresh PostgreSQL database per test run, real services only.

Outside CI a missing PostgreSQL or Redis skips the tests that need it; in CI (CI=true) it
is a failure, because .ci/run is responsible for starting both.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO.parent / "shared" / "vectors" / "evaluation.json"
VECTORS_V2 = REPO.parent / "shared" / "vectors" / "evaluation-v2.json"
PG_ADMIN_URL = os.environ.get("FLAGD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("FLAGD_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI") == "true"


def service_missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is not reachable; in CI this is a failure, not a skip")
    pytest.skip(f"{what} is not reachable (with CI=true this fails instead)")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_admin_execute(sql: str, admin_url: str = PG_ADMIN_URL) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def postgres_server() -> str:
    if not port_open("127.0.0.1", 5432):
        service_missing("PostgreSQL on 127.0.0.1:5432")
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def new_database(postgres_server: str) -> Iterator[object]:
    """A factory of fresh databases, all dropped at the end of the run."""
    created: list[str] = []

    def make() -> str:
        name = f"flagd_test_{uuid.uuid4().hex[:12]}"
        pg_admin_execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    yield make
    for name in created:
        pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(new_database) -> str:  # type: ignore[no-untyped-def]
    """One fresh database shared by the run's PostgreSQL tests."""
    return new_database()


STORE_KINDS = ["sqlite", "postgres"]


@pytest.fixture(scope="module", params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def flagd(  # type: ignore[no-untyped-def]
    store_kind: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
):
    """One real flagd per test module and store kind, on a fresh database."""
    from tests.daemon import Flagd

    database_url = None
    if store_kind == "postgres":
        database_url = request.getfixturevalue("new_database")()
    data_dir = tmp_path_factory.mktemp(f"flagd-{store_kind}")
    daemon = Flagd(data_dir=data_dir, database_url=database_url)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(params=["pure", "accelerated"])
def hash_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on both FNV-1a paths: the pure loop (the reference) and fnv-hash-fast.

    The accelerator is a dependency, so its absence is a failure in CI like a missing service.
    """
    from flagd.core import evaluation

    if request.param == "pure":
        monkeypatch.setattr(evaluation, "_fast_fnv1a32", None)
    elif evaluation._fast_fnv1a32 is None:
        service_missing("the fnv-hash-fast accelerator")
    return str(request.param)
