"""Write-body, ref and If-Match validation, and the pure flag mutations (SPEC sections 3, 11)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from flagd.core import (
    Flag,
    FlagPatch,
    InvalidRequest,
    ValidationError,
    is_uuid,
    is_valid_key,
    parse_create,
    parse_if_match,
    parse_update,
)
from flagd.core.mutations import new_flag, patched_flag, toggled_flag

T0 = "2024-01-01T00:00:00.000Z"
T1 = "2024-01-02T00:00:00.000Z"
FLAG_ID = "5f0c6d3e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"

CURRENT = Flag(
    id=FLAG_ID,
    key="checkout",
    description="old",
    enabled=False,
    rollout_percentage=10,
    targeted_users=("alice", "bob"),
    version=4,
    created_at=T0,
    updated_at=T0,
)


def rejects(field: str, body: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_create(body)
    assert caught.value.field == field
    assert caught.value.code == "validation_error"


# --- key -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "A", "0", "-", "new-checkout-flow", "Dark-Mode-2", "k" * 64])
def test_valid_keys(key: str) -> None:
    assert is_valid_key(key)
    assert parse_create({"key": key}).key == key


@pytest.mark.parametrize(
    "key",
    ["", "k" * 65, "has space", "under_score", "dot.ted", "slash/", "ü", "café", "k\n", "\x00"],
)
def test_invalid_keys(key: str) -> None:
    assert not is_valid_key(key)
    rejects("key", {"key": key})


@pytest.mark.parametrize("key", [5, True, ["k"], {"k": 1}, 1.5])
def test_key_must_be_a_string(key: Any) -> None:
    rejects("key", {"key": key})


@pytest.mark.parametrize("body", [{}, {"key": None}, {"description": "no key"}])
def test_create_requires_a_key(body: dict[str, Any]) -> None:
    rejects("key", body)


@pytest.mark.parametrize("body", [None, [], ["key"], "key", 5, True])
def test_body_must_be_an_object(body: Any) -> None:
    rejects("body", body)
    with pytest.raises(ValidationError):
        parse_update(body, "checkout")


def test_keys_are_case_sensitive() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_update({"key": "Checkout"}, "checkout")
    assert caught.value.field == "key"


# --- defaults and null ---------------------------------------------------------------------


def test_create_defaults() -> None:
    flag = new_flag(parse_create({"key": "k"}), FLAG_ID, T0)
    assert flag == Flag(FLAG_ID, "k", "", False, 0, (), 1, T0, T0)


def test_null_means_not_given() -> None:
    body = {
        "key": "k",
        "description": None,
        "enabled": None,
        "rollout_percentage": None,
        "targeted_users": None,
    }
    assert parse_create(body) == FlagPatch(key="k")
    assert new_flag(parse_create(body), FLAG_ID, T0) == new_flag(
        parse_create({"key": "k"}), FLAG_ID, T0
    )
    assert parse_update({**body, "key": None}, "checkout") == FlagPatch()


def test_unknown_and_server_set_fields_are_ignored() -> None:
    body = {
        "key": "k",
        "id": "not-a-uuid",
        "version": "x",
        "created_at": 5,
        "updated_at": None,
        "extra": {"nested": True},
    }
    assert parse_create(body) == FlagPatch(key="k")


def test_every_field_parses() -> None:
    body = {
        "key": "k",
        "description": "d",
        "enabled": True,
        "rollout_percentage": 42,
        "targeted_users": ["u1", "u2"],
    }
    assert parse_create(body) == FlagPatch("k", "d", True, 42, ("u1", "u2"))


# --- strict types --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 0, "true", "false", [], {}, 1.0])
def test_enabled_must_be_a_boolean(value: Any) -> None:
    rejects("enabled", {"key": "k", "enabled": value})


@pytest.mark.parametrize("value", [True, False])
def test_enabled_booleans(value: bool) -> None:
    assert parse_create({"key": "k", "enabled": value}).enabled is value


@pytest.mark.parametrize("value", [True, False, 50.0, 0.0, 12.5, "50", [50], {}, float("nan")])
def test_rollout_must_be_an_integer(value: Any) -> None:
    # bool is an int subclass in Python and 50.0 == 50: neither is a JSON integer.
    rejects("rollout_percentage", {"key": "k", "rollout_percentage": value})


@pytest.mark.parametrize("value", [-1, 101, 1000, -(2**63), 2**64])
def test_rollout_range(value: int) -> None:
    rejects("rollout_percentage", {"key": "k", "rollout_percentage": value})


@pytest.mark.parametrize("value", [0, 1, 50, 99, 100])
def test_rollout_in_range(value: int) -> None:
    patch = parse_create({"key": "k", "rollout_percentage": value})
    assert patch.rollout_percentage == value
    assert type(patch.rollout_percentage) is int


@pytest.mark.parametrize("value", [5, True, ["d"], {"d": 1}])
def test_description_must_be_a_string(value: Any) -> None:
    rejects("description", {"key": "k", "description": value})


@pytest.mark.parametrize("value", ["user-1", {"user-1": True}, 5, True, ("a",)])
def test_targeted_users_must_be_a_list(value: Any) -> None:
    rejects("targeted_users", {"key": "k", "targeted_users": value})


@pytest.mark.parametrize("user", [5, None, True, ["u"], {"u": 1}, ""])
def test_targeted_users_items_are_non_empty_strings(user: Any) -> None:
    rejects("targeted_users[1]", {"key": "k", "targeted_users": ["ok", user]})


# --- lengths count code points -------------------------------------------------------------


def test_description_length_counts_code_points() -> None:
    # 256 code points of 4 UTF-8 bytes each: 1,024 bytes, still within the limit.
    wide = "😀" * 256
    assert len(wide.encode()) == 1024
    assert parse_create({"key": "k", "description": wide}).description == wide
    assert parse_create({"key": "k", "description": ""}).description == ""
    rejects("description", {"key": "k", "description": "é" * 257})


def test_user_id_length_counts_code_points() -> None:
    wide = "用" * 256
    assert parse_create({"key": "k", "targeted_users": [wide]}).targeted_users == (wide,)
    rejects("targeted_users[0]", {"key": "k", "targeted_users": ["用" * 257]})


# --- NUL and lone surrogates ---------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "\x00", "lone \ud800", "\udfff", "x\udc00y"])
def test_nul_and_lone_surrogates_are_rejected(bad: str) -> None:
    rejects("description", {"key": "k", "description": bad})
    rejects("targeted_users[0]", {"key": "k", "targeted_users": [bad]})
    rejects("key", {"key": bad})


def test_paired_surrogates_from_json_are_one_code_point() -> None:
    body = json.loads('{"key": "k", "description": "\\ud83d\\ude00"}')
    assert parse_create(body).description == "😀"


# --- targeted_users: duplicates and the bound ----------------------------------------------


def test_duplicates_collapse_keeping_first_occurrence_order() -> None:
    users = ["c", "a", "c", "b", "a", "c"]
    assert parse_create({"key": "k", "targeted_users": users}).targeted_users == ("c", "a", "b")


def test_empty_list_is_an_explicit_empty_list() -> None:
    assert parse_create({"key": "k", "targeted_users": []}).targeted_users == ()
    assert parse_update({"targeted_users": []}, "checkout").targeted_users == ()


def test_ten_thousand_distinct_users_is_the_bound() -> None:
    users = [f"user-{n}" for n in range(10_000)]
    assert len(parse_create({"key": "k", "targeted_users": users}).targeted_users) == 10_000
    with pytest.raises(ValidationError) as caught:
        parse_create({"key": "k", "targeted_users": [*users, "one-more"]})
    assert caught.value.field == "targeted_users"
    assert "10000" in caught.value.message


def test_the_bound_applies_after_duplicates_collapse() -> None:
    users = [f"user-{n}" for n in range(10_000)] * 2 + ["user-0"]
    assert len(users) == 20_001
    assert len(parse_create({"key": "k", "targeted_users": users}).targeted_users) == 10_000


# --- updates -------------------------------------------------------------------------------


def test_update_fields_are_all_optional() -> None:
    assert parse_update({}, "checkout") == FlagPatch()


def test_update_may_repeat_the_same_key() -> None:
    assert parse_update({"key": "checkout"}, "checkout").key == "checkout"


@pytest.mark.parametrize("key", ["other", "Checkout", "checkout-2"])
def test_update_key_is_immutable(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_update({"key": key}, "checkout")
    assert caught.value.field == "key"


def test_update_validates_like_create() -> None:
    for body in [
        {"enabled": "yes"},
        {"rollout_percentage": 50.0},
        {"rollout_percentage": 101},
        {"description": "d" * 257},
        {"targeted_users": [""]},
    ]:
        with pytest.raises(ValidationError):
            parse_update(body, "checkout")


def test_patched_flag_changes_only_given_fields() -> None:
    patch = parse_update({"enabled": True, "targeted_users": []}, "checkout")
    after = patched_flag(CURRENT, patch, T1)
    assert after == replace(CURRENT, enabled=True, targeted_users=(), version=5, updated_at=T1)
    assert after is not None and after.created_at == T0 and after.id == FLAG_ID


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"key": "checkout"},
        {"description": "old", "enabled": False},
        {"rollout_percentage": 10, "targeted_users": ["alice", "bob"]},
        {"targeted_users": ["alice", "bob", "alice"]},
        {"description": None, "enabled": None, "unknown": 1},
    ],
)
def test_patched_flag_is_none_when_nothing_changes(body: dict[str, Any]) -> None:
    assert patched_flag(CURRENT, parse_update(body, "checkout"), T1) is None


def test_reordering_targeted_users_is_a_change() -> None:
    patch = parse_update({"targeted_users": ["bob", "alice"]}, "checkout")
    after = patched_flag(CURRENT, patch, T1)
    assert after is not None and after.targeted_users == ("bob", "alice")


def test_every_change_increments_the_version() -> None:
    flag = new_flag(parse_create({"key": "k"}), FLAG_ID, T0)
    assert flag.version == 1
    flag = toggled_flag(flag, T1)
    assert (flag.enabled, flag.version, flag.updated_at, flag.created_at) == (True, 2, T1, T0)
    flag = toggled_flag(flag, T1)
    assert (flag.enabled, flag.version) == (False, 3)
    patched = patched_flag(flag, parse_update({"rollout_percentage": 5}, "k"), T1)
    assert patched is not None and patched.version == 4


# --- refs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        FLAG_ID,
        FLAG_ID.upper(),
        "00000000-0000-0000-0000-000000000000",
        "A0B1C2D3-e4f5-0000-aaaa-BBBBBBBBBBBB",
    ],
)
def test_uuid_shaped_refs(value: str) -> None:
    assert is_uuid(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "checkout",
        FLAG_ID.replace("-", ""),
        "{" + FLAG_ID + "}",
        "urn:uuid:" + FLAG_ID,
        FLAG_ID + "0",
        FLAG_ID[:-1],
        FLAG_ID + "\n",
        " " + FLAG_ID,
        FLAG_ID.replace("5", "g", 1),
        "5f0c6d3e8-a1b-4c2d-9e3f-0a1b2c3d4e5f",
        "\u0665f0c6d3e-8a1b-4c2d-9e3f-0a1b2c3d4e5f",  # an Arabic-Indic digit is not hex
    ],
)
def test_not_uuid_shaped(value: str) -> None:
    assert not is_uuid(value)


# --- If-Match ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "version"),
    [("3", 3), ('"3"', 3), ('W/"3"', 3), (" 3 ", 3), ("0", 0), ('"123456789"', 123456789)],
)
def test_if_match_accepted_forms(raw: str, version: int) -> None:
    assert parse_if_match(raw) == version


def test_if_match_absent() -> None:
    assert parse_if_match(None) is None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "*",
        "abc",
        "-1",
        "+3",
        "3.0",
        "3,4",
        '"3", "4"',
        "'3'",
        '"3',
        '3"',
        'w/"3"',
        "W/3",
        'W/ "3"',
        '""',
        "1" * 19,
        "\u0663",  # an Arabic-Indic three
        "3\x00",
    ],
)
def test_if_match_other_forms_are_invalid_requests(raw: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_if_match(raw)
    assert caught.value.code == "invalid_request"
