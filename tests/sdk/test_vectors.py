"""The shared evaluation vectors (SPEC section 4) through the SDK's read API.

In memory (InMemoryFlagClient, an AsyncFlagClient bootstrap) and through a real daemon: the
vector flags are written to flagd, the client syncs them, and every vector is checked.
Each runs with the C hash accelerator (when installed) and with the pure-Python loop forced.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from flagd.core import evaluation as evaluation_module
from flagd.sdk import AsyncFlagClient, InMemoryFlagClient
from tests.conftest import VECTORS
from tests.daemon import Flagd

from .conftest import OpenClient
from .helpers import SDK_KEY, Admin, eventually

DATA: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
EVALUATIONS: list[dict[str, Any]] = DATA["evaluations"]
BUCKETS: list[dict[str, Any]] = DATA["buckets"]


def config_groups() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The vectors grouped by flag configuration, in file order."""
    groups: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for vector in EVALUATIONS:
        name = json.dumps(vector["flag"], sort_keys=True)
        groups.setdefault(name, (vector["flag"], []))[1].append(vector)
    return list(groups.values())


def full_flag(config: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{version:012d}",
        "description": "",
        "version": version,
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:00:00.000Z",
        **config,
    }


def check_reader(client: Any, vectors: list[dict[str, Any]]) -> None:
    for vector in vectors:
        key, user, expected = vector["flag"]["key"], vector["user_id"], vector["expected"]
        where = f"{key} for {user!r}"
        assert client.is_enabled(key, user) is expected, where
        assert client.is_enabled(key, user, default=not expected) is expected, where
        assert client.evaluate(key, user).enabled is expected, where
        assert client.all_flags(user)[key] is expected, where


def test_vector_groups_cover_every_vector() -> None:
    assert sum(len(vectors) for _, vectors in config_groups()) == len(EVALUATIONS) > 0


@pytest.mark.parametrize("vector", EVALUATIONS)
def test_in_memory_client(vector: dict[str, Any], hash_path: str) -> None:
    with InMemoryFlagClient([vector["flag"]]) as client:
        check_reader(client, [vector])
        result = client.evaluate(vector["flag"]["key"], vector["user_id"])
        flag = vector["flag"]
        if not flag["enabled"]:
            assert (result.reason, result.bucket) == ("disabled", None)
        elif vector["user_id"] in flag["targeted_users"]:
            assert (result.reason, result.bucket) == ("targeted", None)
        else:
            assert result.reason == "rollout" and result.bucket is not None


@pytest.mark.parametrize("vector", BUCKETS)
def test_buckets_through_evaluate(vector: dict[str, Any], hash_path: str) -> None:
    key, user = vector["flag_key"], vector["user_id"]
    flags = [
        {"key": key, "enabled": True, "rollout_percentage": rollout} for rollout in (1, 50, 99)
    ]
    for flag in flags:
        result = InMemoryFlagClient([flag]).evaluate(key, user)
        assert (result.reason, result.bucket) == ("rollout", vector["bucket"])
        assert result.enabled is (vector["bucket"] < flag["rollout_percentage"])


def test_share_of_a_25_percent_rollout(hash_path: str) -> None:
    client = InMemoryFlagClient([{"key": "new-checkout-flow", "rollout_percentage": 25}])
    users = [f"user-{n}" for n in range(10_000)]
    enabled = sum(client.is_enabled("new-checkout-flow", user) for user in users)
    assert enabled == DATA["share_25pct_of_user-0..user-9999"]


async def test_async_client_bootstrap(hash_path: str) -> None:
    for index, (config, vectors) in enumerate(config_groups()):
        snapshot = {"revision": index + 1, "flags": [full_flag(config)]}
        for bootstrap in (snapshot, json.dumps(snapshot), json.dumps(snapshot).encode()):
            # Never started: a bootstrapped client evaluates with no network at all.
            client = AsyncFlagClient(
                "http://127.0.0.1:9", SDK_KEY, bootstrap=bootstrap, cache_path=None
            )
            assert client.status == "stale" and client.revision == index + 1
            check_reader(client, vectors)
            await client.close()


async def test_through_a_real_daemon(
    flagd: Flagd, open_client: OpenClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Admin(flagd) as admin, open_client(flagd.url) as client:
        for config, vectors in config_groups():
            key = config["key"]
            fields = {name: value for name, value in config.items() if name != "key"}
            existing = await admin.flags()
            if key in existing:
                written = await admin.update(key, **fields)
            else:
                written = await admin.create(key, **fields)
            assert {name: written[name] for name in fields} == fields
            await eventually(
                lambda key=key, version=written["version"]: any(
                    flag.key == key and flag.version == version for flag in client.flags()
                ),
                what=f"version {written['version']} of {key} reaching the client",
            )
            check_reader(client, vectors)
            with monkeypatch.context() as patched:
                patched.setattr(evaluation_module, "_fast_fnv1a32", None)
                check_reader(client, vectors)
