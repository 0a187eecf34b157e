"""Section 12's write rules: every malformed field is a ValidationError naming its path.

A write is parse_create / parse_update (field by field) and then new_flag / patched_flag
(the whole flag); either step may refuse it, and nothing comes out when one does.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from flagd.core import Flag, ValidationError, parse_create, parse_update
from flagd.core.mutations import new_flag, patched_flag

NOW = "2024-01-01T00:00:00.000Z"
LATER = "2024-01-02T00:00:00.000Z"


def string_flag(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": "banner",
        "type": "string",
        "enabled": True,
        "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
        "off_variant": "a",
        "fallthrough": {"variant": "a"},
    }
    body.update(fields)
    return body


def rule(*clauses: dict[str, Any], serve: Any = None, **fields: Any) -> dict[str, Any]:
    return {"clauses": list(clauses), "serve": serve or {"variant": "b"}, **fields}


def clause(
    attribute: str = "country", op: str = "in", values: Any = None, **fields: Any
) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "op": op,
        "values": ["DE"] if values is None else values,
        **fields,
    }


def create(body: Any) -> Flag:
    return new_flag(
        parse_create(body), "flag-id", NOW, iter(f"rule-{n}" for n in range(1000)).__next__
    )


def rejects(body: Any, field: str, words: str = "") -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        create(body)
    assert caught.value.field == field, caught.value.message
    assert caught.value.code == "validation_error"
    assert caught.value.message.startswith(f"{field}: ")
    assert words in caught.value.message
    return caught.value


def test_the_issue_example_names_the_clause_path() -> None:
    rules = [rule(clause()), rule(clause()), rule(clause(op="regex", values=[".*"]))]
    error = rejects(string_flag(rules=rules), "rules[2].clauses[0].op")
    assert str(error) == "rules[2].clauses[0].op: unknown operator 'regex'"


# --- type ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["date", "Boolean", 1, True, ["string"]])
def test_type_must_be_one_of_four(value: Any) -> None:
    rejects({"key": "k", "type": value}, "type", "boolean, string, number, json")


@pytest.mark.parametrize("flag_type", ["boolean", "string", "number", "json"])
def test_type_is_fixed_at_create(flag_type: str) -> None:
    current = create({"key": "k"})
    if flag_type == "boolean":
        assert patched_flag(current, parse_update({"type": "boolean"}, "k"), LATER) is None
        return
    with pytest.raises(ValidationError) as caught:
        patched_flag(current, parse_update(string_flag(key="k", type=flag_type), "k"), LATER)
    assert caught.value.field == "type" and "fixed at create" in caught.value.message


def test_a_flag_without_type_is_boolean() -> None:
    assert create({"key": "k"}).type == "boolean"


# --- boolean flags: fixed variants, no fallthrough -----------------------------------------


def test_boolean_variants_may_be_repeated_not_changed() -> None:
    same = [{"key": "on", "value": True}, {"key": "off", "value": False}]
    assert (
        create({"key": "k", "variants": same, "off_variant": "off"}).variants
        == create({"key": "k"}).variants
    )
    rejects({"key": "k", "variants": [{"key": "on", "value": True}]}, "variants", "fixed")
    rejects(
        {"key": "k", "variants": [{"key": "on", "value": 1}, {"key": "off", "value": 0}]},
        "variants",
    )
    rejects({"key": "k", "off_variant": "on"}, "off_variant", "fixed")


def test_boolean_fallthrough_is_not_writable() -> None:
    rejects({"key": "k", "fallthrough": {"variant": "on"}}, "fallthrough", "rollout_percentage")


def test_boolean_targets_name_on_or_off() -> None:
    rejects(
        {"key": "k", "targets": [{"variant": "maybe", "users": ["u"]}]},
        "targets[0].variant",
        "'maybe'",
    )


# --- non-boolean flags ---------------------------------------------------------------------


@pytest.mark.parametrize("field", ["variants", "off_variant", "fallthrough"])
def test_non_boolean_flags_require_variants_off_variant_and_fallthrough(field: str) -> None:
    body = string_flag()
    del body[field]
    rejects(body, field, "required")


def test_non_boolean_flags_reject_seed_targeting() -> None:
    rejects(string_flag(targeted_users=["alice"]), "targeted_users", "boolean flags only")
    rejects(string_flag(rollout_percentage=50), "rollout_percentage", "boolean flags only")
    # The seed fields' defaults, as every response carries them, are accepted back.
    assert create(string_flag(targeted_users=[], rollout_percentage=0)).type == "string"


def test_a_response_body_writes_back_unchanged() -> None:
    flag = create(string_flag(rules=[rule(clause())], targets=[{"variant": "b", "users": ["u"]}]))
    body = json.loads(json.dumps(flag.to_dict()))
    assert patched_flag(flag, parse_update(body, flag.key), LATER) is None


# --- variants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variants", "field", "words"),
    [
        ("a", "variants", "list"),
        ([], "variants", "1 to 100"),
        ([{"key": f"v{n}", "value": "x"} for n in range(101)], "variants", "at most 100"),
        (["a"], "variants[0]", "object"),
        ([{"value": "x"}], "variants[0].key", ""),
        ([{"key": "has space", "value": "x"}], "variants[0].key", "letters, digits"),
        ([{"key": "k" * 65, "value": "x"}], "variants[0].key", "64"),
        ([{"key": "a", "value": "x"}, {"key": "a", "value": "y"}], "variants[1].key", "duplicate"),
        ([{"key": "a"}], "variants[0].value", "required"),
        ([{"key": "a", "value": None}], "variants[0].value", "required"),
        ([{"key": "a", "value": "x", "description": 5}], "variants[0].description", "string"),
        ([{"key": "a", "value": "x", "description": "d" * 257}], "variants[0].description", "256"),
    ],
)
def test_variant_shapes(variants: Any, field: str, words: str) -> None:
    rejects(string_flag(variants=variants), field, words)


def test_a_hundred_variants_is_the_bound() -> None:
    variants = [{"key": f"v{n}", "value": f"{n}"} for n in range(100)]
    assert (
        len(
            create(
                string_flag(variants=variants, off_variant="v0", fallthrough={"variant": "v1"})
            ).variants
        )
        == 100
    )


@pytest.mark.parametrize(
    ("flag_type", "value"),
    [("string", 1), ("string", True), ("string", ["x"]), ("number", "1"), ("number", True),
     ("number", {"n": 1}), ("number", None)],
)  # fmt: skip
def test_variant_values_have_the_flags_type(flag_type: str, value: Any) -> None:
    variants = [
        {"key": "a", "value": "A" if flag_type == "string" else 1},
        {"key": "b", "value": value},
    ]
    field = "variants[1].value"
    rejects(string_flag(type=flag_type, variants=variants), field)


@pytest.mark.parametrize(
    "value", [0, -1, 2.5, 10**20, "", "x", {"a": [1, None]}, [1, "two"], False]
)
def test_json_and_number_values(value: Any) -> None:
    flag_type = (
        "number" if isinstance(value, int | float) and not isinstance(value, bool) else "json"
    )
    variants = [{"key": "a", "value": value}, {"key": "b", "value": value}]
    flag = create(string_flag(type=flag_type, variants=variants))
    assert flag.variants[0].value == value


def test_a_json_value_over_64_kib_is_refused() -> None:
    fits = "x" * (64 * 1024 - 2)  # the quotes make 64 KiB of JSON
    create(
        string_flag(type="json", variants=[{"key": "a", "value": fits}, {"key": "b", "value": 1}])
    )
    rejects(
        string_flag(
            type="json", variants=[{"key": "a", "value": fits + "x"}, {"key": "b", "value": 1}]
        ),
        "variants[0].value",
        "65537 bytes",
    )
    big = {"items": ["é" * 100] * 400}  # 2 bytes per é
    rejects(
        string_flag(type="json", variants=[{"key": "a", "value": big}, {"key": "b", "value": 1}]),
        "variants[0].value",
        "65536",
    )


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), {"x": float("-inf")}, {1: "x"}, object()]
)
def test_json_values_are_json(value: Any) -> None:
    rejects(
        string_flag(type="json", variants=[{"key": "a", "value": value}, {"key": "b", "value": 1}]),
        "variants[0].value",
    )


def test_off_variant_names_a_variant() -> None:
    rejects(string_flag(off_variant="c"), "off_variant", "'c'")
    rejects(string_flag(off_variant="not a key"), "off_variant", "letters")


# --- targets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "field", "words"),
    [
        ({"variant": "a"}, "targets", "list"),
        ([{"variant": "c", "users": ["u"]}], "targets[0].variant", "'c'"),
        ([{"users": ["u"]}], "targets[0].variant", ""),
        ([{"variant": "a", "users": "u"}], "targets[0].users", "list"),
        ([{"variant": "a", "users": ["u", ""]}], "targets[0].users[1]", "empty"),
        ([{"variant": "a", "users": ["u" * 257]}], "targets[0].users[0]", "256"),
        (
            [{"variant": "a", "users": ["alice"]}, {"variant": "b", "users": ["bob", "alice"]}],
            "targets[1].users[1]",
            "'alice' is already in targets[0]",
        ),
        (
            [{"variant": "a", "users": ["x"]}, {"variant": "a", "users": ["y"]}],
            "targets[1].variant",
            "already has targets[0]",
        ),
    ],
)
def test_target_rules(targets: Any, field: str, words: str) -> None:
    rejects(string_flag(targets=targets), field, words)


def test_a_user_in_targeted_users_and_the_off_target() -> None:
    body = {
        "key": "k",
        "targeted_users": ["alice"],
        "targets": [{"variant": "on", "users": ["alice"]}, {"variant": "off", "users": ["alice"]}],
    }
    rejects(body, "targets[1].users[0]", "already in targets[0]")
    current = create({"key": "k", "targets": [{"variant": "off", "users": ["alice"]}]})
    with pytest.raises(ValidationError) as caught:
        patched_flag(current, parse_update({"targeted_users": ["alice"]}, "k"), LATER)
    assert caught.value.field == "targets[1].users[0]"


def test_target_users_are_bounded_in_all() -> None:
    users = [f"user-{n}" for n in range(6000)]
    rejects(
        string_flag(
            targets=[
                {"variant": "a", "users": users},
                {"variant": "b", "users": [u + "x" for u in users]},
            ]
        ),
        "targets",
        "at most 10000",
    )


# --- rules and clauses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "field", "words"),
    [
        ({"clauses": []}, "rules", "list"),
        ([rule()] * 101, "rules", "at most 100"),
        (["r"], "rules[0]", "object"),
        ([{"serve": {"variant": "b"}}], "rules[0].clauses", "required"),
        ([rule(*[clause()] * 21)], "rules[0].clauses", "at most 20"),
        ([rule(clause(), "c")], "rules[0].clauses[1]", "object"),
        ([rule(clause(op=None))], "rules[0].clauses[0].op", "required"),
        ([rule(clause(op=3))], "rules[0].clauses[0].op", "string"),
        ([rule(clause(op="IN"))], "rules[0].clauses[0].op", "unknown operator 'IN'"),
        ([rule(clause(op="matches"))], "rules[0].clauses[0].op", "unknown operator"),
        ([rule({"op": "in", "values": ["x"]})], "rules[0].clauses[0].attribute", "required"),
        ([rule(clause(attribute=""))], "rules[0].clauses[0].attribute", "empty"),
        ([rule(clause(attribute=5))], "rules[0].clauses[0].attribute", "string"),
        ([rule(clause(attribute="a" * 257))], "rules[0].clauses[0].attribute", "256"),
        ([rule(clause(negate="yes"))], "rules[0].clauses[0].negate", "boolean"),
        ([rule(clause(values=[]))], "rules[0].clauses[0].values", "empty"),
        ([rule(clause(values="DE"))], "rules[0].clauses[0].values", "list"),
        ([rule({"attribute": "a", "op": "in"})], "rules[0].clauses[0].values", "list"),
        ([rule(clause(values=["x"] * 1001))], "rules[0].clauses[0].values", "at most 1000"),
        ([rule(clause(values=["DE", None]))], "rules[0].clauses[0].values[1]", "string, a number"),
        ([rule(clause(values=[{"a": 1}]))], "rules[0].clauses[0].values[0]", ""),
        ([rule(clause(values=[["DE"]]))], "rules[0].clauses[0].values[0]", ""),
        ([rule(clause(values=["x" * 1025]))], "rules[0].clauses[0].values[0]", "1024"),
        ([rule(clause(op="lt", values=["5"]))], "rules[0].clauses[0].values[0]", "number"),
        ([rule(clause(op="gte", values=[True]))], "rules[0].clauses[0].values[0]", "number"),
        ([rule(clause(op="gt", values=[float("nan")]))], "rules[0].clauses[0].values[0]", "number"),
        ([rule(clause(op="starts_with", values=[5]))], "rules[0].clauses[0].values[0]", "string"),
        ([rule(clause(op="contains", values=[True]))], "rules[0].clauses[0].values[0]", "string"),
        ([rule(clause(op="semver_eq", values=[1]))], "rules[0].clauses[0].values[0]", "string"),
        ([rule(clause(op="before", values=[True]))], "rules[0].clauses[0].values[0]", "RFC 3339"),
        ([rule(clause(op="after", values=[[1]]))], "rules[0].clauses[0].values[0]", "epoch"),
        (
            [rule(clause(op="in_segment", values=["not a key"]))],
            "rules[0].clauses[0].values[0]",
            "segment key",
        ),
        (
            [rule(clause(op="in_segment", values=[7]))],
            "rules[0].clauses[0].values[0]",
            "segment key",
        ),
        ([rule(clause(), id="has space")], "rules[0].id", "letters"),
        ([rule(clause(), id=7)], "rules[0].id", "string"),
        ([rule(clause(), id="r"), rule(clause(), id="r")], "rules[1].id", "duplicate rule id 'r'"),
        ([rule(clause(), description=["d"])], "rules[0].description", "string"),
    ],
)
def test_rule_and_clause_rules(rules: Any, field: str, words: str) -> None:
    rejects(string_flag(rules=rules), field, words)


def test_the_limits_themselves_are_accepted() -> None:
    rules = [rule(*[clause(values=[f"v{n}" for n in range(1000)])] * 20)] * 100
    flag = create(string_flag(rules=rules))
    assert len(flag.rules) == 100 and len(flag.rules[0].clauses) == 20


@pytest.mark.parametrize(
    "values",
    [["1.2"], ["v1.0.0"], ["yesterday"], [""]],
)
def test_unparsable_versions_and_instants_are_accepted_and_never_match(values: list[str]) -> None:
    """The vectors hold `semver_eq: ["1.2", "2.0.0"]`: such a flag must stay writable."""
    op = "semver_eq" if values[0] in ("1.2", "v1.0.0") else "starts_with"
    create(string_flag(rules=[rule(clause(op=op, values=values))]))
    if values[0] == "yesterday":
        create(string_flag(rules=[rule(clause(op="before", values=values))]))


def test_in_segment_needs_no_attribute() -> None:
    flag = create(string_flag(rules=[rule({"op": "in_segment", "values": ["beta"]})]))
    assert flag.rules[0].clauses[0].attribute == "key"


# --- serve and splits ----------------------------------------------------------------------


def split(*weights: Any, variants: tuple[str, ...] = ("a", "b")) -> dict[str, Any]:
    return {"split": [{"variant": v, "weight": w} for v, w in zip(variants, weights, strict=True)]}


@pytest.mark.parametrize(
    ("serve", "field", "words"),
    [
        ("b", "rules[0].serve", "object"),
        ({}, "rules[0].serve", "exactly one"),
        ({"variant": "b", **split(50000, 50000)}, "rules[0].serve", "exactly one"),
        ({"variant": "c"}, "rules[0].serve.variant", "'c'"),
        ({"split": []}, "rules[0].serve.split", "empty"),
        ({"split": {"a": 100000}}, "rules[0].serve.split", "list"),
        (split(50000, 49999), "rules[0].serve.split", "sum to 99999"),
        (split(60000, 50000), "rules[0].serve.split", "100000"),
        (split(50000.0, 50000), "rules[0].serve.split[0].weight", "integer"),
        (split(True, 99999), "rules[0].serve.split[0].weight", "integer"),
        (split(-1, 100001), "rules[0].serve.split[0].weight", "0 to 100000"),
        (split(100000, 0, variants=("a", "c")), "rules[0].serve.split[1].variant", "'c'"),
        (
            split(50000, 50000, variants=("a", "a")),
            "rules[0].serve.split[1].variant",
            "already in split[0]",
        ),
        ({"split": [{"weight": 100000}]}, "rules[0].serve.split[0].variant", ""),
    ],
)
def test_serve_rules(serve: Any, field: str, words: str) -> None:
    rejects(string_flag(rules=[{"clauses": [], "serve": serve}]), field, words)


def test_a_rule_needs_a_serve() -> None:
    rejects(string_flag(rules=[{"clauses": []}]), "rules[0].serve", "required")


def test_fallthrough_paths() -> None:
    rejects(string_flag(fallthrough={"variant": "z"}), "fallthrough.variant", "'z'")
    rejects(string_flag(fallthrough=split(1, 2)), "fallthrough.split", "sum to 3")
    assert create(string_flag(fallthrough=split(0, 100000))).fallthrough is not None


def test_boolean_rules_serve_on_off_splits() -> None:
    body = {
        "key": "k",
        "rules": [{"clauses": [], "serve": split(500, 99500, variants=("on", "off"))}],
    }
    assert create(body).rules[0].serve.split[0].weight == 500
    body["rules"][0]["serve"] = {"variant": "maybe"}
    rejects(body, "rules[0].serve.variant", "'maybe'")


# --- prerequisites and bucket_by -----------------------------------------------------------


@pytest.mark.parametrize(
    ("prerequisites", "field", "words"),
    [
        ({"flag": "x"}, "prerequisites", "list"),
        ([{"flag": "x"}] * 101, "prerequisites", "at most 100"),
        (["x"], "prerequisites[0]", "object"),
        ([{"variants": ["on"]}], "prerequisites[0].flag", ""),
        ([{"flag": "not a key", "variants": ["on"]}], "prerequisites[0].flag", "letters"),
        ([{"flag": "banner", "variants": ["a"]}], "prerequisites[0].flag", "own prerequisite"),
        ([{"flag": "x", "variants": []}], "prerequisites[0].variants", "at least one"),
        ([{"flag": "x"}], "prerequisites[0].variants", "list"),
        ([{"flag": "x", "variants": ["on", 1]}], "prerequisites[0].variants[1]", "string"),
        (
            [{"flag": "x", "variants": ["on"]}, {"flag": "x", "variants": ["off"]}],
            "prerequisites[1].flag",
            "already prerequisites[0]",
        ),
    ],
)
def test_prerequisite_rules(prerequisites: Any, field: str, words: str) -> None:
    rejects(string_flag(prerequisites=prerequisites), field, words)


def test_an_unknown_prerequisite_flag_is_legal() -> None:
    flag = create(string_flag(prerequisites=[{"flag": "later", "variants": ["on", "on"]}]))
    assert flag.prerequisites[0].variants == ("on",)


@pytest.mark.parametrize(
    ("value", "stored"), [("org", "org"), ("key", None), ("", None), ("país", "país")]
)
def test_bucket_by(value: str, stored: str | None) -> None:
    assert create({"key": "k", "bucket_by": value}).bucket_by == stored


@pytest.mark.parametrize("value", [1, True, ["org"], "a" * 257, "a\x00"])
def test_bucket_by_must_be_an_attribute_name(value: Any) -> None:
    rejects({"key": "k", "bucket_by": value}, "bucket_by")


# --- null means not given, unknown fields are ignored --------------------------------------


def test_null_part_two_fields_are_not_given() -> None:
    body = {name: None for name in ("type", "variants", "off_variant", "targets", "rules",
                                    "fallthrough", "prerequisites", "bucket_by")}  # fmt: skip
    flag = create({"key": "k", **body, "segments": "ignored"})
    assert flag.is_seed_model


def test_parse_errors_do_not_depend_on_field_order() -> None:
    body = string_flag(rules=[rule(clause(op="regex"))])
    reordered = dict(reversed(list(copy.deepcopy(body).items())))
    for candidate in (body, reordered):
        rejects(candidate, "rules[0].clauses[0].op")
