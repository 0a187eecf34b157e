"""Segments (section 12): write validation, mutations, JSON form, and membership."""

from __future__ import annotations

from typing import Any

import pytest

from flagd.core import (
    Flag,
    FlagSet,
    Segment,
    SegmentPatch,
    ValidationError,
    compile_segment,
    parse_segment_create,
    parse_segment_update,
)
from flagd.core.evaluation import NO_FLAGS
from flagd.core.mutations import new_segment, patched_segment

NOW = "2024-01-01T00:00:00.000Z"
LATER = "2024-01-02T00:00:00.000Z"


def create(body: dict[str, Any]) -> Segment:
    return new_segment(parse_segment_create(body), "segment-id", NOW)


def rejects(body: Any, field: str, words: str = "") -> None:
    with pytest.raises(ValidationError) as caught:
        parse_segment_create(body)
    assert caught.value.field == field, caught.value.message
    assert words in caught.value.message


def test_defaults_and_json_form() -> None:
    segment = create({"key": "beta"})
    assert segment.to_dict() == {
        "id": "segment-id", "key": "beta", "description": "", "included": [], "excluded": [],
        "rules": [], "version": 1, "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip
    assert Segment.from_dict(segment.to_dict()) == segment


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ([], "body", "object"),
        ({}, "key", "required"),
        ({"key": "has space"}, "key", "letters"),
        ({"key": "k" * 65}, "key", "64"),
        ({"key": "s", "description": 1}, "description", "string"),
        ({"key": "s", "included": "u"}, "included", "list"),
        ({"key": "s", "included": ["u", ""]}, "included[1]", "empty"),
        ({"key": "s", "excluded": [5]}, "excluded[0]", "string"),
        ({"key": "s", "rules": {}}, "rules", "list"),
        ({"key": "s", "rules": [{"clauses": []}] * 101}, "rules", "at most 100"),
        ({"key": "s", "rules": ["r"]}, "rules[0]", "object"),
        ({"key": "s", "rules": [{}]}, "rules[0].clauses", "required"),
        (
            {
                "key": "s",
                "rules": [
                    {"clauses": [{"attribute": "key", "op": "in_segment", "values": ["s2"]}]}
                ],
            },
            "rules[0].clauses[0].op",
            "in_segment cannot be used in a segment rule",
        ),
        (
            {
                "key": "s",
                "rules": [{"clauses": [{"attribute": "a", "op": "regex", "values": ["x"]}]}],
            },
            "rules[0].clauses[0].op",
            "unknown operator 'regex'",
        ),
        (
            {
                "key": "s",
                "rules": [
                    {"clauses": [], "x": 1},
                    {"clauses": [{"attribute": "a", "op": "lt", "values": ["1"]}]},
                ],
            },
            "rules[1].clauses[0].values[0]",
            "number",
        ),
    ],
)
def test_segment_write_rules(body: Any, field: str, words: str) -> None:
    rejects(body, field, words)


def test_a_hundred_thousand_users_in_each_list_is_the_bound() -> None:
    users = [f"user-{n}" for n in range(100_000)]
    segment = create({"key": "big", "included": users, "excluded": users})
    assert len(segment.included) == len(segment.excluded) == 100_000
    rejects({"key": "big", "included": [*users, "one-more"]}, "included", "100000")
    rejects({"key": "big", "excluded": [*users, "one-more"]}, "excluded", "100000")


def test_included_and_excluded_may_overlap_and_included_wins() -> None:
    segment = compile_segment(create({"key": "s", "included": ["u"], "excluded": ["u", "v"],
                                      "rules": [{"clauses": []}]}))  # fmt: skip
    assert segment.contains("u", {}, NO_FLAGS)
    assert not segment.contains("v", {}, NO_FLAGS)
    assert segment.contains("w", {}, NO_FLAGS)


def test_updates() -> None:
    segment = create({"key": "s", "included": ["a"]})
    assert parse_segment_update({}, "s") == SegmentPatch()
    with pytest.raises(ValidationError) as caught:
        parse_segment_update({"key": "other"}, "s")
    assert caught.value.field == "key"
    assert (
        patched_segment(segment, parse_segment_update({"included": ["a", "a"]}, "s"), LATER) is None
    )
    assert patched_segment(segment, parse_segment_update(segment.to_dict(), "s"), LATER) is None
    after = patched_segment(segment, parse_segment_update({"excluded": ["b"]}, "s"), LATER)
    assert after is not None
    assert (after.included, after.excluded, after.version, after.updated_at) == (
        ("a",),
        ("b",),
        2,
        LATER,
    )


def test_a_segment_change_recompiles_only_that_segment() -> None:
    flag_body = {
        "key": "f",
        "enabled": True,
        "rules": [
            {
                "id": "r",
                "clauses": [{"attribute": "key", "op": "in_segment", "values": ["s"]}],
                "serve": {"variant": "on"},
            }
        ],
    }
    flags = FlagSet.from_flags([Flag.from_dict(flag_body)], 1, [create({"key": "s"})])
    assert flags.evaluate("f", "alice").reason == "DEFAULT"
    changed = flags.with_segment(create({"key": "s", "included": ["alice"]}), revision=2)
    assert changed.by_key["f"] is flags.by_key["f"]
    assert changed.evaluate("f", "alice").to_dict() == {
        "value": True, "variant": "on", "reason": "TARGETING_MATCH", "rule_index": 0, "rule_id": "r"
    }  # fmt: skip
    assert flags.evaluate("f", "alice").reason == "DEFAULT"  # the old set is unchanged
    assert changed.revision == 2
    assert changed.without_segment("s").evaluate("f", "alice").reason == "DEFAULT"
