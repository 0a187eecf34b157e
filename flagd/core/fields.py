"""Field-level checks shared by every write body: keys, text, user lists, limits."""

from __future__ import annotations

import re
from typing import Any

from .errors import ValidationError

KEY_MAX = 64
DESCRIPTION_MAX = 256
USER_ID_MAX = 256
TARGETED_USERS_MAX = 10_000

_KEY_RE = re.compile(r"[a-zA-Z0-9-]+")


def is_valid_key(value: str) -> bool:
    return 1 <= len(value) <= KEY_MAX and _KEY_RE.fullmatch(value) is not None


def check_key(field: str, value: Any, what: str = "key") -> str:
    check_text(field, value, KEY_MAX, allow_empty=False)
    if not is_valid_key(value):
        raise ValidationError(field, f"a {what} may contain only letters, digits and '-'")
    return str(value)


def check_text(field: str, value: Any, max_len: int, *, allow_empty: bool) -> None:
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


def check_list(field: str, value: Any, max_items: int, *, what: str = "items") -> list[Any]:
    if not isinstance(value, list):
        raise ValidationError(field, "must be a list")
    if len(value) > max_items:
        raise ValidationError(field, f"at most {max_items} {what}, got {len(value)}")
    return value


def check_object(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(field, "must be an object")
    return value


def parse_users(field: str, users: Any, max_users: int) -> tuple[str, ...]:
    """User ids: 1-256 characters each; duplicates collapse, first occurrence kept."""
    if not isinstance(users, list):
        raise ValidationError(field, "must be a list of strings")
    unique: dict[str, None] = {}
    for index, user in enumerate(users):
        check_text(f"{field}[{index}]", user, USER_ID_MAX, allow_empty=False)
        unique[user] = None
    if len(unique) > max_users:
        raise ValidationError(field, f"at most {max_users} distinct users, got {len(unique)}")
    return tuple(unique)
