"""Strict validation of write bodies, refs and If-Match headers (SPEC sections 3, 11, 12)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import InvalidRequest, ValidationError
from .fields import (
    DESCRIPTION_MAX,
    KEY_MAX,
    TARGETED_USERS_MAX,
    USER_ID_MAX,
    check_text,
    is_valid_key,
    parse_users,
)
from .targeting import FlagType, Prerequisite, Rule, Serve, Target, Variant
from .targeting_validation import (
    parse_bucket_by,
    parse_off_variant,
    parse_prerequisites,
    parse_rules,
    parse_serve,
    parse_targets,
    parse_type,
    parse_variants,
)

T = TypeVar("T")
_HEX = "[0-9a-fA-F]"
_UUID_RE = re.compile(f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}")
_IF_MATCH_RE = re.compile(r'(?:W/)?"([0-9]{1,18})"|([0-9]{1,18})')

__all__ = [
    "DESCRIPTION_MAX",
    "KEY_MAX",
    "TARGETED_USERS_MAX",
    "USER_ID_MAX",
    "FlagPatch",
    "is_uuid",
    "is_valid_key",
    "parse_create",
    "parse_if_match",
    "parse_update",
]


def is_uuid(value: str) -> bool:
    return _UUID_RE.fullmatch(value) is not None


def parse_if_match(raw: str | None) -> int | None:
    """`3`, `"3"` or `W/"3"` → 3; absent → None; anything else is a 400."""
    if raw is None:
        return None
    match = _IF_MATCH_RE.fullmatch(raw.strip())
    if match is None:
        raise InvalidRequest('If-Match must be a flag version: 3, "3" or W/"3"')
    return int(match.group(1) or match.group(2))


@dataclass(frozen=True, slots=True)
class FlagPatch:
    """Fields a write sets. None means "not given": keep the current value.

    Section 12's fields are parsed for shape, types and limits only; the checks that need
    the whole flag run when mutations.py builds it (flag_checks.py). `bucket_by` is ""
    when the write resets it to the context key. Rules without an id have id "".
    """

    key: str | None = None
    description: str | None = None
    enabled: bool | None = None
    rollout_percentage: int | None = None
    targeted_users: tuple[str, ...] | None = None
    type: FlagType | None = None
    variants: tuple[Variant, ...] | None = None
    off_variant: str | None = None
    targets: tuple[Target, ...] | None = None
    rules: tuple[Rule, ...] | None = None
    fallthrough: Serve | None = None
    prerequisites: tuple[Prerequisite, ...] | None = None
    bucket_by: str | None = None


def parse_create(body: Any) -> FlagPatch:
    patch = _parse_fields(body)
    if patch.key is None:
        raise ValidationError("key", "is required")
    return patch


def parse_update(body: Any, current_key: str) -> FlagPatch:
    patch = _parse_fields(body)
    if patch.key is not None and patch.key != current_key:
        raise ValidationError("key", "is immutable; create a new flag instead")
    return patch


def _parse_fields(body: Any) -> FlagPatch:
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    key = body.get("key")
    if key is not None:
        check_text("key", key, KEY_MAX, allow_empty=False)
        if not is_valid_key(key):
            raise ValidationError("key", "may contain only letters, digits and '-'")
    description = body.get("description")
    if description is not None:
        check_text("description", description, DESCRIPTION_MAX, allow_empty=True)
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise ValidationError("enabled", "must be a boolean")
    rollout = body.get("rollout_percentage")
    if rollout is not None:
        # bool is a subclass of int; float 50.0 is not an integer on the wire.
        if type(rollout) is not int:
            raise ValidationError("rollout_percentage", "must be an integer from 0 to 100")
        if not 0 <= rollout <= 100:
            raise ValidationError("rollout_percentage", "must be from 0 to 100")
    users = body.get("targeted_users")
    fallthrough = body.get("fallthrough")
    return FlagPatch(
        key=key,
        description=description,
        enabled=enabled,
        rollout_percentage=rollout,
        targeted_users=None if users is None else _parse_users(users),
        type=_given(body, "type", parse_type),
        variants=_given(body, "variants", parse_variants),
        off_variant=_given(body, "off_variant", parse_off_variant),
        targets=_given(body, "targets", parse_targets),
        rules=_given(body, "rules", parse_rules),
        fallthrough=None if fallthrough is None else parse_serve("fallthrough", fallthrough),
        prerequisites=_given(body, "prerequisites", parse_prerequisites),
        bucket_by=_given(body, "bucket_by", parse_bucket_by),
    )


def _given(body: dict[str, Any], name: str, parse: Callable[[Any], T]) -> T | None:
    value = body.get(name)
    return None if value is None else parse(value)


def _parse_users(users: Any) -> tuple[str, ...]:
    return parse_users("targeted_users", users, TARGETED_USERS_MAX)
