"""Parsing section 12's write fields: shapes, types and limits, each error naming its path
(`rules[2].clauses[0].op: unknown operator 'regex'`).

These checks need nothing but the field itself. Checks that need the whole flag (values of
the flag's type, variant references, a user in two targets) are in flag_checks.py; checks
that need other flags or segments are in references.py.

Clause values are checked for their operator's type, not parsed: `semver_eq: ["1.2"]` and
`before: ["yesterday"]` are accepted and never match, as the contract's vectors pin for
an invalid version (a flag holding one must stay writable).
"""

from __future__ import annotations

import math
from typing import Any, Final

from .errors import ValidationError
from .fields import (
    DESCRIPTION_MAX,
    TARGETED_USERS_MAX,
    check_key,
    check_list,
    check_object,
    check_text,
    is_valid_key,
    parse_users,
)
from .targeting import (
    FLAG_TYPES,
    INSTANT_OPERATORS,
    NUMBER_OPERATORS,
    OPERATORS,
    SEMVER_OPERATORS,
    SPLIT_TOTAL,
    STRING_OPERATORS,
    Clause,
    FlagType,
    Prerequisite,
    Rule,
    Serve,
    SplitEntry,
    Target,
    Variant,
    canonical_json,
)

RULES_MAX: Final = 100
CLAUSES_MAX: Final = 20
CLAUSE_VALUES_MAX: Final = 1_000
CLAUSE_VALUE_MAX: Final = 1_024  # characters of one string value
ATTRIBUTE_MAX: Final = 256
VARIANTS_MAX: Final = 100
VARIANT_VALUE_MAX_BYTES: Final = 64 * 1024
PREREQUISITES_MAX: Final = 100
TARGETS_MAX: Final = VARIANTS_MAX  # one entry per variant at most


def parse_type(value: Any) -> FlagType:
    if value not in FLAG_TYPES or not isinstance(value, str):
        raise ValidationError("type", f"must be one of {', '.join(FLAG_TYPES)}")
    return value  # type: ignore[return-value]


def parse_variants(value: Any) -> tuple[Variant, ...]:
    items = check_list("variants", value, VARIANTS_MAX, what="variants")
    if not items:
        raise ValidationError("variants", f"must hold 1 to {VARIANTS_MAX} variants")
    variants: list[Variant] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        path = f"variants[{index}]"
        check_object(path, item)
        key = check_key(f"{path}.key", item.get("key"), "variant key")
        if key in seen:
            raise ValidationError(
                f"{path}.key", f"duplicate variant {key!r} (variants[{seen[key]}])"
            )
        seen[key] = index
        if item.get("value") is None:
            raise ValidationError(f"{path}.value", "is required")
        variant_value = item["value"]
        check_json_value(f"{path}.value", variant_value)
        size = len(canonical_json(variant_value).encode())
        if size > VARIANT_VALUE_MAX_BYTES:
            raise ValidationError(
                f"{path}.value", f"is {size} bytes as JSON; at most {VARIANT_VALUE_MAX_BYTES}"
            )
        description = _optional_description(f"{path}.description", item.get("description"))
        variants.append(Variant(key, variant_value, description))
    return tuple(variants)


def parse_off_variant(value: Any) -> str:
    return check_key("off_variant", value, "variant key")


def parse_targets(value: Any) -> tuple[Target, ...]:
    """Entries with no users are dropped; users collapse within an entry."""
    items = check_list("targets", value, TARGETS_MAX, what="targets")
    targets: list[Target] = []
    for index, item in enumerate(items):
        path = f"targets[{index}]"
        check_object(path, item)
        variant = check_key(f"{path}.variant", item.get("variant"), "variant key")
        users = parse_users(f"{path}.users", item.get("users"), TARGETED_USERS_MAX)
        if users:
            targets.append(Target(variant, users))
    return tuple(targets)


def parse_rules(value: Any) -> tuple[Rule, ...]:
    """Rules without an `id` get "" here; mutations.py assigns one."""
    items = check_list("rules", value, RULES_MAX, what="rules")
    rules: list[Rule] = []
    ids: dict[str, int] = {}
    for index, item in enumerate(items):
        path = f"rules[{index}]"
        check_object(path, item)
        rule_id = item.get("id")
        if rule_id is not None:
            check_key(f"{path}.id", rule_id, "rule id")
            if rule_id in ids:
                raise ValidationError(
                    f"{path}.id", f"duplicate rule id {rule_id!r} (rules[{ids[rule_id]}])"
                )
            ids[rule_id] = index
        rules.append(
            Rule(
                id=rule_id or "",
                clauses=parse_clauses(f"{path}.clauses", item.get("clauses")),
                serve=parse_serve(f"{path}.serve", item.get("serve")),
                description=_optional_description(f"{path}.description", item.get("description")),
            )
        )
    return tuple(rules)


def parse_clauses(path: str, value: Any, *, in_segment_allowed: bool = True) -> tuple[Clause, ...]:
    if value is None:
        raise ValidationError(path, "is required (an empty list matches every context)")
    items = check_list(path, value, CLAUSES_MAX, what="clauses")
    return tuple(
        parse_clause(f"{path}[{index}]", item, in_segment_allowed=in_segment_allowed)
        for index, item in enumerate(items)
    )


def parse_clause(path: str, value: Any, *, in_segment_allowed: bool) -> Clause:
    check_object(path, value)
    op = value.get("op")
    if op is None:
        raise ValidationError(f"{path}.op", "is required")
    if not isinstance(op, str):
        raise ValidationError(f"{path}.op", "must be a string")
    if op not in OPERATORS:
        raise ValidationError(f"{path}.op", f"unknown operator {op!r}")
    if op == "in_segment" and not in_segment_allowed:
        raise ValidationError(f"{path}.op", "in_segment cannot be used in a segment rule")
    attribute = value.get("attribute")
    if attribute is None and op == "in_segment":
        attribute = "key"  # in_segment ignores it
    if attribute is None:
        raise ValidationError(f"{path}.attribute", "is required")
    check_text(f"{path}.attribute", attribute, ATTRIBUTE_MAX, allow_empty=False)
    negate = value.get("negate")
    if negate is not None and not isinstance(negate, bool):
        raise ValidationError(f"{path}.negate", "must be a boolean")
    values = check_list(f"{path}.values", value.get("values"), CLAUSE_VALUES_MAX, what="values")
    if not values:
        raise ValidationError(f"{path}.values", "must not be empty")
    for index, item in enumerate(values):
        _check_clause_value(f"{path}.values[{index}]", op, item)
    return Clause(attribute, op, tuple(values), negate is True)


def parse_serve(path: str, value: Any) -> Serve:
    if value is None:
        raise ValidationError(path, "is required: {'variant': K} or {'split': [...]}")
    check_object(path, value)
    variant, split = value.get("variant"), value.get("split")
    if (variant is None) == (split is None):
        raise ValidationError(path, "must have exactly one of 'variant' and 'split'")
    if variant is not None:
        return Serve(variant=check_key(f"{path}.variant", variant, "variant key"))
    entries = check_list(f"{path}.split", split, VARIANTS_MAX, what="entries")
    if not entries:
        raise ValidationError(f"{path}.split", "must not be empty")
    parsed: list[SplitEntry] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        entry_path = f"{path}.split[{index}]"
        check_object(entry_path, entry)
        key = check_key(f"{entry_path}.variant", entry.get("variant"), "variant key")
        if key in seen:
            raise ValidationError(
                f"{entry_path}.variant", f"{key!r} is already in split[{seen[key]}]"
            )
        seen[key] = index
        weight = entry.get("weight")
        if type(weight) is not int or not 0 <= weight <= SPLIT_TOTAL:
            raise ValidationError(
                f"{entry_path}.weight", f"must be an integer from 0 to {SPLIT_TOTAL}"
            )
        parsed.append(SplitEntry(key, weight))
    total = sum(entry.weight for entry in parsed)
    if total != SPLIT_TOTAL:
        raise ValidationError(
            f"{path}.split", f"weights sum to {total}; they must sum to {SPLIT_TOTAL} (100 %)"
        )
    return Serve(split=tuple(parsed))


def parse_prerequisites(value: Any) -> tuple[Prerequisite, ...]:
    items = check_list("prerequisites", value, PREREQUISITES_MAX, what="prerequisites")
    prerequisites: list[Prerequisite] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        path = f"prerequisites[{index}]"
        check_object(path, item)
        flag_key = check_key(f"{path}.flag", item.get("flag"), "flag key")
        if flag_key in seen:
            raise ValidationError(
                f"{path}.flag", f"{flag_key!r} is already prerequisites[{seen[flag_key]}]"
            )
        seen[flag_key] = index
        variants = check_list(
            f"{path}.variants", item.get("variants"), VARIANTS_MAX, what="variants"
        )
        if not variants:
            raise ValidationError(f"{path}.variants", "must list at least one variant")
        keys = [
            check_key(f"{path}.variants[{n}]", variant, "variant key")
            for n, variant in enumerate(variants)
        ]
        prerequisites.append(Prerequisite(flag_key, tuple(dict.fromkeys(keys))))
    return tuple(prerequisites)


def parse_bucket_by(value: Any) -> str:
    """An attribute name; "" and "key" mean the context key (the default), stored as ""
    in a patch so that a write can clear it (null means "not given")."""
    check_text("bucket_by", value, ATTRIBUTE_MAX, allow_empty=True)
    return "" if value == "key" else str(value)


def check_json_value(path: str, value: Any, depth: int = 0) -> None:
    """JSON types only (what the wire can carry back), finite numbers, at most 64 levels."""
    if depth > 64:
        raise ValidationError(path, "nests deeper than 64 levels")
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str):
            check_text(path, value, VARIANT_VALUE_MAX_BYTES, allow_empty=True)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(path, "must be a finite number")
        return
    if isinstance(value, list):
        for item in value:
            check_json_value(path, item, depth + 1)
        return
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                raise ValidationError(path, "object keys must be strings")
            check_json_value(path, item, depth + 1)
        return
    raise ValidationError(path, "must be a JSON value")


def _check_clause_value(path: str, op: str, value: Any) -> None:
    if op == "in":
        if isinstance(value, str):
            check_text(path, value, CLAUSE_VALUE_MAX, allow_empty=True)
        elif not (_is_number(value) or isinstance(value, bool)):
            raise ValidationError(path, "must be a string, a number or a boolean for 'in'")
    elif op in STRING_OPERATORS or op in SEMVER_OPERATORS:
        check_text(path, value, CLAUSE_VALUE_MAX, allow_empty=True)
    elif op in NUMBER_OPERATORS:
        if not _is_number(value):
            raise ValidationError(path, f"must be a number for {op!r}")
    elif op in INSTANT_OPERATORS:
        if isinstance(value, str):
            check_text(path, value, CLAUSE_VALUE_MAX, allow_empty=False)
        elif not _is_number(value):
            raise ValidationError(
                path, f"must be an RFC 3339 date-time or epoch milliseconds for {op!r}"
            )
    else:  # in_segment
        if not isinstance(value, str) or not is_valid_key(value):
            raise ValidationError(path, "must be a segment key")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int)


def _optional_description(path: str, value: Any) -> str:
    if value is None:
        return ""
    check_text(path, value, DESCRIPTION_MAX, allow_empty=True)
    return str(value)
