"""The shared evaluation vectors (SPEC section 4), through every evaluation entry point."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flagd.core import Flag, FlagSet, bucket, compile_flag, evaluate, explain, fnv1a32
from tests.conftest import VECTORS

DATA: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
SHARE_25 = "share_25pct_of_user-0..user-9999"


def make_flag(
    key: str,
    enabled: bool = True,
    rollout_percentage: int = 0,
    targeted_users: list[str] | tuple[str, ...] = (),
) -> Flag:
    return Flag(
        id="00000000-0000-4000-8000-000000000000",
        key=key,
        description="",
        enabled=enabled,
        rollout_percentage=rollout_percentage,
        targeted_users=tuple(targeted_users),
        version=1,
        created_at="2024-01-01T00:00:00.000Z",
        updated_at="2024-01-01T00:00:00.000Z",
    )


def vector_id(vector: dict[str, Any]) -> str:
    if "flag" in vector:
        flag = vector["flag"]
        state = "on" if flag["enabled"] else "off"
        return f"{flag['key']}-{state}-{flag['rollout_percentage']}%-{vector['user_id']!r}"
    if "flag_key" in vector:
        return f"{vector['flag_key']}:{vector['user_id']!r}"
    return repr(vector["input"])


def params(name: str) -> list[Any]:
    return [pytest.param(vector, id=vector_id(vector)) for vector in DATA[name]]


def test_vector_file_has_every_section() -> None:
    assert DATA["fnv1a32"] and DATA["buckets"] and DATA["evaluations"]
    assert isinstance(DATA[SHARE_25], int)


@pytest.mark.parametrize("vector", params("fnv1a32"))
def test_fnv1a32(vector: dict[str, Any]) -> None:
    assert fnv1a32(vector["input"].encode("utf-8")) == vector["fnv1a32"]


@pytest.mark.parametrize("vector", params("buckets"))
def test_bucket(vector: dict[str, Any]) -> None:
    key, user = vector["flag_key"], vector["user_id"]
    assert fnv1a32(f"{key}:{user}".encode()) == vector["hash"]
    assert vector["hash"] % 100 == vector["bucket"]
    assert bucket(key, user) == vector["bucket"]
    # The compiled prefix state continues the same hash.
    compiled = compile_flag(make_flag(key))
    assert fnv1a32(user.encode(), compiled.prefix_state) == vector["hash"]


@pytest.mark.parametrize("vector", params("buckets"))
def test_explain_reports_the_vector_bucket(vector: dict[str, Any], hash_path: str) -> None:
    key, user, expected_bucket = vector["flag_key"], vector["user_id"], vector["bucket"]
    for rollout in (1, 50, 99):
        result = explain(make_flag(key, rollout_percentage=rollout), user)
        assert (result.reason, result.bucket) == ("rollout", expected_bucket)
        assert result.enabled == (expected_bucket < rollout)


@pytest.mark.parametrize("vector", params("evaluations"))
def test_evaluation(vector: dict[str, Any], hash_path: str) -> None:
    flag = make_flag(**vector["flag"])
    user, expected = vector["user_id"], vector["expected"]
    compiled = compile_flag(flag)
    flag_set = FlagSet.from_flags([flag], revision=1)

    assert evaluate(flag, user) is expected
    assert evaluate(compiled, user) is expected
    assert compiled.is_enabled(user) is expected
    assert flag_set.is_enabled(flag.key, user) is expected
    # A present flag ignores the caller's default.
    assert evaluate(flag, user, default=not expected) is expected
    assert flag_set.is_enabled(flag.key, user, default=not expected) is expected


@pytest.mark.parametrize("vector", params("evaluations"))
def test_explain_agrees_with_evaluate(vector: dict[str, Any], hash_path: str) -> None:
    flag = make_flag(**vector["flag"])
    user = vector["user_id"]
    result = explain(flag, user)

    assert result.enabled is evaluate(flag, user) is vector["expected"]
    assert compile_flag(flag).explain(user) == result
    assert FlagSet.from_flags([flag], 1).explain(flag.key, user) == result
    if not flag.enabled:
        assert (result.reason, result.bucket) == ("disabled", None)
    elif user in flag.targeted_users:
        assert (result.reason, result.bucket) == ("targeted", None)
    else:
        assert (result.reason, result.bucket) == ("rollout", bucket(flag.key, user))


def test_share_of_a_25_percent_rollout(hash_path: str) -> None:
    flag = make_flag("new-checkout-flow", rollout_percentage=25)
    compiled = compile_flag(flag)
    users = [f"user-{n}" for n in range(10_000)]
    assert sum(compiled.is_enabled(user) for user in users) == DATA[SHARE_25]
    assert sum(evaluate(flag, user) for user in users) == DATA[SHARE_25]


def test_missing_flag_gives_the_default_with_reason_not_found(hash_path: str) -> None:
    flag_set = FlagSet.from_flags([make_flag("present", rollout_percentage=100)], 1)
    assert evaluate(None, "user-1") is False
    assert evaluate(None, "user-1", default=True) is True
    assert flag_set.is_enabled("absent", "user-1") is False
    assert flag_set.is_enabled("absent", "user-1", default=True) is True
    for result in (explain(None, "user-1"), flag_set.explain("absent", "user-1")):
        assert (result.enabled, result.reason, result.bucket) == (False, "not_found", None)


def test_rollout_edges_bypass_the_hash(hash_path: str) -> None:
    users = [f"user-{n}" for n in range(200)]
    assert not any(evaluate(make_flag("edge", rollout_percentage=0), u) for u in users)
    assert all(evaluate(make_flag("edge", rollout_percentage=100), u) for u in users)


def test_keys_are_case_sensitive_in_the_hash() -> None:
    assert bucket("Dark-Mode", "user-1") != bucket("dark-mode", "user-1")


@pytest.mark.parametrize("key", ["new-checkout-flow", "dark-mode", "beta-dashboard"])
def test_raising_the_rollout_only_adds_users(key: str, hash_path: str) -> None:
    users = [f"user-{n}" for n in range(2_000)]
    compiled = [compile_flag(make_flag(key, rollout_percentage=p)) for p in range(101)]
    enabled_at = [{user for user in users if flag.is_enabled(user)} for flag in compiled]
    for p in range(100):
        assert enabled_at[p] <= enabled_at[p + 1], f"users lost going from {p}% to {p + 1}%"
    assert enabled_at[0] == set()
    assert enabled_at[100] == set(users)
