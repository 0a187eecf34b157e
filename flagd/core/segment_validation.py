"""Strict validation of segment write bodies (SPEC section 12), like flags' (section 11):
null means "not given", unknown and server-set fields are ignored, the key is immutable.

A user may be both included and excluded (included wins, as the vectors pin); segment
rules cannot use `in_segment`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .errors import ValidationError
from .fields import DESCRIPTION_MAX, check_key, check_list, check_object, check_text, parse_users
from .segment import SegmentRule
from .targeting_validation import RULES_MAX, parse_clauses

SEGMENT_USERS_MAX: Final = 100_000  # in each of included and excluded


@dataclass(frozen=True, slots=True)
class SegmentPatch:
    key: str | None = None
    description: str | None = None
    included: tuple[str, ...] | None = None
    excluded: tuple[str, ...] | None = None
    rules: tuple[SegmentRule, ...] | None = None


def parse_segment_create(body: Any) -> SegmentPatch:
    patch = _parse_segment_fields(body)
    if patch.key is None:
        raise ValidationError("key", "is required")
    return patch


def parse_segment_update(body: Any, current_key: str) -> SegmentPatch:
    patch = _parse_segment_fields(body)
    if patch.key is not None and patch.key != current_key:
        raise ValidationError("key", "is immutable; create a new segment instead")
    return patch


def _parse_segment_fields(body: Any) -> SegmentPatch:
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    key = body.get("key")
    description = body.get("description")
    if description is not None:
        check_text("description", description, DESCRIPTION_MAX, allow_empty=True)
    included, excluded, rules = body.get("included"), body.get("excluded"), body.get("rules")
    return SegmentPatch(
        key=None if key is None else check_key("key", key),
        description=description,
        included=None if included is None else parse_users("included", included, SEGMENT_USERS_MAX),
        excluded=None if excluded is None else parse_users("excluded", excluded, SEGMENT_USERS_MAX),
        rules=None if rules is None else _parse_segment_rules(rules),
    )


def _parse_segment_rules(value: Any) -> tuple[SegmentRule, ...]:
    items = check_list("rules", value, RULES_MAX, what="rules")
    rules: list[SegmentRule] = []
    for index, item in enumerate(items):
        path = f"rules[{index}]"
        check_object(path, item)
        clauses = parse_clauses(f"{path}.clauses", item.get("clauses"), in_segment_allowed=False)
        rules.append(SegmentRule(clauses))
    return tuple(rules)
