"""Strict validation of write bodies, refs and If-Match headers (SPEC sections 3 and 11)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest, ValidationError

KEY_MAX = 64
DESCRIPTION_MAX = 256
USER_ID_MAX = 256
TARGETED_USERS_MAX = 10_000

_KEY_RE = re.compile(r"[a-zA-Z0-9-]+")
_HEX = "[0-9a-fA-F]"
_UUID_RE = re.compile(f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}")
_IF_MATCH_RE = re.compile(r'(?:W/)?"([0-9]{1,18})"|([0-9]{1,18})')

_UNSET: Any = object()


def is_valid_key(value: str) -> bool:
    return 1 <= len(value) <= KEY_MAX and _KEY_RE.fullmatch(value) is not None


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
    """Fields a write sets. None means "not given": keep the current value."""

    key: str | None = None
    description: str | None = None
    enabled: bool | None = None
    rollout_percentage: int | None = None
    targeted_users: tuple[str, ...] | None = None


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
        _check_text("key", key, KEY_MAX, allow_empty=False)
        if not is_valid_key(key):
            raise ValidationError("key", "may contain only letters, digits and '-'")
    description = body.get("description")
    if description is not None:
        _check_text("description", description, DESCRIPTION_MAX, allow_empty=True)
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
    return FlagPatch(
        key=key,
        description=description,
        enabled=enabled,
        rollout_percentage=rollout,
        targeted_users=None if users is None else _parse_users(users),
    )


def _parse_users(users: Any) -> tuple[str, ...]:
    if not isinstance(users, list):
        raise ValidationError("targeted_users", "must be a list of strings")
    unique: dict[str, None] = {}
    for index, user in enumerate(users):
        _check_text(f"targeted_users[{index}]", user, USER_ID_MAX, allow_empty=False)
        unique[user] = None
    if len(unique) > TARGETED_USERS_MAX:
        raise ValidationError(
            "targeted_users", f"at most {TARGETED_USERS_MAX} distinct users, got {len(unique)}"
        )
    return tuple(unique)


def _check_text(field: str, value: Any, max_len: int, *, allow_empty: bool) -> None:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if not allow_empty and not value:
        raise ValidationError(field, "must not be empty")
    if len(value) > max_len:
        raise ValidationError(field, f"must be at most {max_len} characters")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, "must be valid Unicode (no lone surrogates)") from None
