"""Checks across flags and segments (section 12): unknown segments, prerequisite variants,
cycles, depth, and which flags hold a segment (409 segment_in_use)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from flagd.core import (
    Flag,
    Segment,
    SegmentInUse,
    ValidationError,
    check_flag_references,
    check_segment_unused,
    flags_using_segment,
    parse_create,
    parse_segment_create,
)
from flagd.core.mutations import new_flag, new_segment

NOW = "2024-01-01T00:00:00.000Z"


def flag(key: str, **fields: Any) -> Flag:
    ids = (f"rule-{n}" for n in itertools.count())
    return new_flag(parse_create({"key": key, **fields}), f"id-{key}", NOW, ids.__next__)


def needs(key: str, *prerequisites: str, variants: tuple[str, ...] = ("on",)) -> Flag:
    return flag(key, prerequisites=[{"flag": p, "variants": list(variants)} for p in prerequisites])


def segment(key: str) -> Segment:
    return new_segment(parse_segment_create({"key": key}), f"id-{key}", NOW)


def in_segment(*keys: str, negate: bool = False) -> list[dict[str, Any]]:
    clause = {"attribute": "key", "op": "in_segment", "values": list(keys), "negate": negate}
    return [
        {"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]},
        {"clauses": [clause]},
    ]


def with_serve(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**rule, "serve": {"variant": "on"}} for rule in rules]


def by_key(*flags: Flag) -> dict[str, Flag]:
    return {item.key: item for item in flags}


def rejected(
    candidate: Flag, flags: dict[str, Flag], segments: dict[str, Segment] | None = None
) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        check_flag_references(candidate, flags, segments or {})
    assert caught.value.code == "validation_error"
    return caught.value


# --- segments ------------------------------------------------------------------------------


def test_in_segment_must_name_existing_segments() -> None:
    candidate = flag("f", rules=with_serve(in_segment("beta", "gamma")))
    segments = {"beta": segment("beta")}
    error = rejected(candidate, {}, segments)
    assert error.field == "rules[1].clauses[0].values[1]"
    assert "no segment 'gamma'" in error.message
    segments["gamma"] = segment("gamma")
    check_flag_references(candidate, {}, segments)


def test_flags_using_a_segment_block_its_deletion() -> None:
    users = [
        flag("a", rules=with_serve(in_segment("beta"))),
        flag("b", rules=with_serve(in_segment("staff", "beta", negate=True))),
        flag("c", rules=with_serve(in_segment("staff"))),
        flag("d"),
    ]
    assert flags_using_segment(users, "beta") == ["a", "b"]
    assert flags_using_segment(users, "nobody") == []
    with pytest.raises(SegmentInUse) as caught:
        check_segment_unused("beta", users)
    assert caught.value.code == "segment_in_use"
    assert caught.value.flag_keys == ["a", "b"]
    assert "'beta'" in caught.value.message and "'a', 'b'" in caught.value.message
    check_segment_unused("nobody", users)


def test_segment_in_use_lists_at_most_ten_flags() -> None:
    users = [flag(f"f{n}", rules=with_serve(in_segment("beta"))) for n in range(25)]
    with pytest.raises(SegmentInUse) as caught:
        check_segment_unused("beta", users)
    assert "and 15 more" in caught.value.message and len(caught.value.flag_keys) == 25


# --- prerequisites -------------------------------------------------------------------------


def test_an_unknown_prerequisite_flag_is_legal() -> None:
    check_flag_references(needs("a", "not-yet"), {}, {})


def test_prerequisite_variants_must_exist_on_a_known_flag() -> None:
    tier = flag(
        "tier",
        type="string",
        variants=[{"key": "gold", "value": "g"}, {"key": "none", "value": ""}],
        off_variant="none",
        fallthrough={"variant": "none"},
    )
    candidate = needs("a", "tier", variants=("gold", "silver"))
    error = rejected(candidate, by_key(tier))
    assert error.field == "prerequisites[0].variants[1]"
    assert "'tier' has no variant 'silver'" in error.message
    check_flag_references(needs("a", "tier", variants=("gold",)), by_key(tier), {})


def test_a_flag_may_not_drop_a_variant_another_flag_requires() -> None:
    variants = [{"key": "gold", "value": "g"}, {"key": "none", "value": ""}]
    body = {"type": "string", "off_variant": "none", "fallthrough": {"variant": "none"}}
    tier = flag("tier", variants=variants, **body)
    dependent = needs("a", "tier", variants=("gold",))
    changed = flag("tier", variants=variants[1:], **body)
    error = rejected(changed, by_key(tier, dependent))
    assert error.field == "variants" and "'a' requires variant 'gold'" in error.message
    check_flag_references(tier, by_key(tier, dependent), {})


def test_a_cycle_is_refused_with_its_path() -> None:
    a, b = needs("a", "b"), needs("b", "c")
    c = needs("c", "a")
    error = rejected(c, by_key(a, b))
    assert error.field == "prerequisites[0].flag"
    assert "c → a → b → c" in error.message


def test_a_two_flag_cycle_written_as_an_update() -> None:
    a = needs("a", "b")
    b_before = flag("b")
    b_after = needs("b", "a")
    check_flag_references(b_before, by_key(a, b_before), {})
    assert "b → a → b" in rejected(b_after, by_key(a, b_before)).message


def chain(length: int, prefix: str = "f") -> dict[str, Flag]:
    """f0 → f1 → ... → f{length}: `length` prerequisite links."""
    flags = {f"{prefix}{n}": needs(f"{prefix}{n}", f"{prefix}{n + 1}") for n in range(length)}
    flags[f"{prefix}{length}"] = flag(f"{prefix}{length}")
    return flags


def test_ten_links_are_the_bound() -> None:
    flags = chain(9)
    top = needs("top", "f0")  # 10 links
    check_flag_references(top, flags, {})
    flags["top"] = top
    error = rejected(needs("higher", "top"), flags)
    assert error.field == "prerequisites" and "11 links" in error.message


def test_depth_counts_flags_that_depend_on_the_written_one() -> None:
    """Giving a flag in the middle of two chains a prerequisite joins them."""
    upper, lower = chain(6, "u"), chain(4, "l")
    flags = {**upper, **lower}
    joined = needs("u6", "l0")  # u0..u6 (6 links) + u6 → l0 (1) + l0..l4 (4) = 11
    error = rejected(joined, flags)
    assert "11 links" in error.message
    check_flag_references(needs("u6", "l1"), flags, {})  # 6 + 1 + 3 = 10


def test_a_self_reference_is_refused_before_references_are_checked() -> None:
    with pytest.raises(ValidationError) as caught:
        needs("a", "a")
    assert caught.value.field == "prerequisites[0].flag"
