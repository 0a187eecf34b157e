"""The section-12 flag model: JSON shapes, rule ids, the boolean `on` target, and what
counts as a change (a PUT that changes nothing records nothing)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

import pytest

from flagd.core import Flag, Target, ValidationError, parse_create, parse_update
from flagd.core.mutations import new_flag, patched_flag, toggled_flag

NOW = "2024-01-01T00:00:00.000Z"
LATER = "2024-01-02T00:00:00.000Z"
SEED_FIELDS = {
    "id", "key", "description", "enabled", "rollout_percentage", "targeted_users",
    "version", "created_at", "updated_at",
}  # fmt: skip
BOOLEAN_PART_TWO = {"type", "targets", "rules", "prerequisites", "bucket_by"}
OTHER_PART_TWO = BOOLEAN_PART_TWO | {"variants", "off_variant", "fallthrough"}


def ids() -> Any:
    return (f"id-{n}" for n in itertools.count()).__next__


def create(body: dict[str, Any], new_rule_id: Any = None) -> Flag:
    return new_flag(parse_create(body), "flag-id", NOW, new_rule_id or ids())


def update(current: Flag, body: dict[str, Any], new_rule_id: Any = None) -> Flag | None:
    return patched_flag(current, parse_update(body, current.key), LATER, new_rule_id or ids())


def rule(country: str, serve: str = "on", **fields: Any) -> dict[str, Any]:
    clause = {"attribute": "country", "op": "in", "values": [country]}
    return {"clauses": [clause], "serve": {"variant": serve}, **fields}


STRING = {
    "key": "banner",
    "type": "string",
    "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
    "off_variant": "a",
    "fallthrough": {"variant": "a"},
}


# --- JSON shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"key": "k"},
        {"key": "k", "enabled": True, "rollout_percentage": 30, "targeted_users": ["a"]},
        {"key": "k", "type": "boolean", "targets": [{"variant": "on", "users": ["a"]}]},
        {"key": "k", "bucket_by": "key", "rules": [], "prerequisites": []},
    ],
)
def test_a_seed_model_flag_serialises_exactly_as_in_part_one(body: dict[str, Any]) -> None:
    flag = create(body)
    assert flag.is_seed_model
    assert set(flag.to_dict()) == SEED_FIELDS
    assert Flag.from_dict(flag.to_dict()) == flag


@pytest.mark.parametrize(
    "body",
    [
        {"key": "k", "rules": [rule("DE")]},
        {"key": "k", "bucket_by": "org"},
        {"key": "k", "prerequisites": [{"flag": "other", "variants": ["on"]}]},
        {"key": "k", "targets": [{"variant": "off", "users": ["a"]}]},
    ],
)
def test_a_boolean_flag_using_part_two_adds_the_fields_that_apply(body: dict[str, Any]) -> None:
    data = create(body).to_dict()
    assert set(data) == SEED_FIELDS | BOOLEAN_PART_TWO
    assert data["type"] == "boolean"
    assert Flag.from_dict(json.loads(json.dumps(data))) == create(body)


def test_a_non_boolean_flag_has_every_field_of_its_type() -> None:
    data = create(STRING).to_dict()
    assert set(data) == SEED_FIELDS | OTHER_PART_TWO
    assert (data["rollout_percentage"], data["targeted_users"], data["bucket_by"]) == (0, [], None)
    assert data["variants"] == [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}]
    assert data["fallthrough"] == {"variant": "a"}


def test_a_seed_form_still_reads_as_before() -> None:
    data = {
        "id": "i",
        "key": "k",
        "description": "",
        "enabled": True,
        "rollout_percentage": 5,
        "targeted_users": ["u"],
        "version": 3,
        "created_at": NOW,
        "updated_at": NOW,
    }
    flag = Flag.from_dict(data)
    assert flag.type == "boolean" and flag.targets == (Target("on", ("u",)),)
    assert flag.to_dict() == data


# --- the boolean `on` target is targeted_users ---------------------------------------------


def test_writing_targeted_users_sets_the_on_target_and_keeps_the_off_target() -> None:
    flag = create({"key": "k", "targets": [{"variant": "off", "users": ["x"]}]})
    after = update(flag, {"targeted_users": ["a", "b"]})
    assert after is not None
    assert after.targets == (Target("on", ("a", "b")), Target("off", ("x",)))
    cleared = update(after, {"targeted_users": []})
    assert cleared is not None and cleared.targets == (Target("off", ("x",)),)


def test_writing_targets_sets_targeted_users() -> None:
    flag = create({"key": "k", "targeted_users": ["old"]})
    after = update(
        flag, {"targets": [{"variant": "off", "users": ["x"]}, {"variant": "on", "users": ["n"]}]}
    )
    assert after is not None and after.targeted_users == ("n",)
    assert after.targets == (Target("off", ("x",)), Target("on", ("n",)))
    none_on = update(after, {"targets": [{"variant": "off", "users": ["x"]}]})
    assert none_on is not None and none_on.targeted_users == ()


def test_writing_both_requires_them_to_agree() -> None:
    body = {
        "key": "k",
        "targeted_users": ["a", "b"],
        "targets": [{"variant": "on", "users": ["b", "a"]}],
    }
    assert create(body).targeted_users == ("a", "b")
    with pytest.raises(ValidationError) as caught:
        create({**body, "targeted_users": ["a"]})
    assert caught.value.field == "targeted_users"


def test_replace_keeps_the_on_target_in_step() -> None:
    flag = create({"key": "k", "targets": [{"variant": "off", "users": ["x"]}]})
    assert replace(flag, targeted_users=("a",)).targets[0] == Target("on", ("a",))
    assert flag.with_targets((Target("on", ("z",)),)).targeted_users == ("z",)


def test_toggling_keeps_part_two_fields() -> None:
    flag = create({**STRING, "rules": [rule("DE", "b")]})
    toggled = toggled_flag(flag, LATER)
    assert (toggled.enabled, toggled.rules, toggled.version) == (True, flag.rules, 2)


# --- rule ids ------------------------------------------------------------------------------


def test_rule_ids_are_assigned_when_not_given_and_kept_when_given() -> None:
    flag = create({**STRING, "rules": [rule("DE", "b"), rule("FR", "b", id="france")]})
    assert [r.id for r in flag.rules] == ["id-0", "france"]


def test_a_put_resending_rules_with_their_ids_changes_nothing() -> None:
    flag = create({**STRING, "rules": [rule("DE", "b"), rule("FR", "b")]})
    body = json.loads(json.dumps(flag.to_dict()))
    assert update(flag, body) is None


def test_a_put_resending_rules_without_ids_keeps_them() -> None:
    flag = create({**STRING, "rules": [rule("DE", "b"), rule("FR", "b")]})
    assert update(flag, {"rules": [rule("DE", "b"), rule("FR", "b")]}) is None
    reordered = update(flag, {"rules": [rule("FR", "b"), rule("DE", "b")]})
    assert reordered is not None and [r.id for r in reordered.rules] == ["id-1", "id-0"]


def test_a_new_rule_gets_a_new_id_and_the_others_keep_theirs() -> None:
    flag = create({**STRING, "rules": [rule("DE", "b")]})
    after = update(flag, {"rules": [rule("US", "b"), rule("DE", "b")]}, iter(["fresh"]).__next__)
    assert after is not None and [r.id for r in after.rules] == ["fresh", "id-0"]
    assert after.version == flag.version + 1 and after.updated_at == LATER


def test_a_changed_rule_without_its_id_is_a_new_rule() -> None:
    flag = create({**STRING, "rules": [rule("DE", "b")]})
    after = update(flag, {"rules": [rule("DE", "a")]}, iter(["fresh"]).__next__)
    assert after is not None and after.rules[0].id == "fresh"
    kept = update(flag, {"rules": [rule("DE", "a", id="id-0")]})
    assert kept is not None and kept.rules[0].id == "id-0"


def test_generated_ids_skip_ids_already_taken() -> None:
    flag = create(
        {**STRING, "rules": [rule("DE", "b", id="x1"), rule("FR", "b")]},
        iter(["x1", "x2"]).__next__,
    )
    assert [r.id for r in flag.rules] == ["x1", "x2"]
    with pytest.raises(RuntimeError):
        create({**STRING, "rules": [rule("DE", "b", id="x1"), rule("FR", "b")]}, lambda: "x1")


# --- what counts as a change ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            {"type": "json", "variants": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]},
            {"variants": [{"key": "a", "value": True}, {"key": "b", "value": 2}]},
        ),
        (
            {"type": "number", "variants": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]},
            {"variants": [{"key": "a", "value": 1.0}, {"key": "b", "value": 2}]},
        ),
        (
            {
                "rules": [
                    {
                        "clauses": [{"attribute": "n", "op": "in", "values": [1]}],
                        "serve": {"variant": "b"},
                    }
                ]
            },
            {
                "rules": [
                    {
                        "clauses": [{"attribute": "n", "op": "in", "values": [True]}],
                        "serve": {"variant": "b"},
                    }
                ]
            },
        ),
    ],
)
def test_json_types_are_compared_strictly(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Python says 1 == True == 1.0; the wire does not, and neither does a change."""
    flag = create({**STRING, **before})
    changed = update(flag, after)
    assert changed is not None and changed.version == flag.version + 1


def test_bucket_by_is_cleared_with_key_or_empty() -> None:
    flag = create({"key": "k", "bucket_by": "org"})
    for reset in ("key", ""):
        cleared = update(flag, {"bucket_by": reset})
        assert cleared is not None and cleared.bucket_by is None and cleared.is_seed_model
    assert update(flag, {"bucket_by": None}) is None
    assert update(flag, {"bucket_by": "org"}) is None


def test_flags_are_hashable_with_json_values() -> None:
    flag = create(
        {
            **STRING,
            "type": "json",
            "variants": [{"key": "a", "value": {"x": [1]}}, {"key": "b", "value": [2]}],
        }
    )
    assert {flag: 1}[Flag.from_dict(flag.to_dict())] == 1
