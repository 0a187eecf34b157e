"""Pure state transitions of one flag: what a write turns the current flag into."""

from __future__ import annotations

from dataclasses import replace

from .flag import Flag
from .validation import FlagPatch


def new_flag(patch: FlagPatch, flag_id: str, now: str) -> Flag:
    assert patch.key is not None, "parse_create guarantees a key"
    return Flag(
        id=flag_id,
        key=patch.key,
        description=patch.description if patch.description is not None else "",
        enabled=patch.enabled if patch.enabled is not None else False,
        rollout_percentage=patch.rollout_percentage if patch.rollout_percentage is not None else 0,
        targeted_users=patch.targeted_users if patch.targeted_users is not None else (),
        version=1,
        created_at=now,
        updated_at=now,
    )


def patched_flag(current: Flag, patch: FlagPatch, now: str) -> Flag | None:
    """The flag after a partial update, or None when the patch changes nothing."""
    changes = {
        name: value
        for name in ("description", "enabled", "rollout_percentage", "targeted_users")
        if (value := getattr(patch, name)) is not None and value != getattr(current, name)
    }
    if not changes:
        return None
    return replace(current, **changes, version=current.version + 1, updated_at=now)


def toggled_flag(current: Flag, now: str) -> Flag:
    return replace(
        current, enabled=not current.enabled, version=current.version + 1, updated_at=now
    )
