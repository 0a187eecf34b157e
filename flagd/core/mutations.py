"""Pure state transitions of flags and segments: what a write turns the current one into.

`new_flag` and `patched_flag` merge a parsed patch, assign rule ids and run the whole-flag
checks of flag_checks.py, so they raise ValidationError (a 400) for a flag that must not
be stored. They are pure: a caller runs them before its If-Match check to keep the
contract's order (400 before 412). `patched_flag` answers None when the write changes
nothing (no revision, no event).

Rule ids: a rule that comes with an id keeps it. One without takes the id of an unclaimed
current rule with the same content (so resending rules without their ids is not a
change), else a new id from `new_rule_id` (injected so tests are deterministic).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from .errors import ValidationError
from .flag import Flag
from .flag_checks import check_flag, check_patch_for_type
from .segment import Segment
from .segment_validation import SegmentPatch
from .targeting import Rule
from .validation import FlagPatch

IdFactory = Callable[[], str]
T = TypeVar("T")


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_flag(patch: FlagPatch, flag_id: str, now: str, new_rule_id: IdFactory = new_uuid) -> Flag:
    assert patch.key is not None, "parse_create guarantees a key"
    flag_type = patch.type or "boolean"
    check_patch_for_type(patch, flag_type)
    blank = Flag(
        id=flag_id,
        key=patch.key,
        description="",
        enabled=False,
        rollout_percentage=0,
        targeted_users=(),
        version=1,
        created_at=now,
        updated_at=now,
        type=flag_type,
        variants=(),
        off_variant="",
    )
    flag = _merged(blank, patch, new_rule_id)
    check_flag(flag)
    return flag


def patched_flag(
    current: Flag, patch: FlagPatch, now: str, new_rule_id: IdFactory = new_uuid
) -> Flag | None:
    """The flag after a partial update, or None when the patch changes nothing."""
    if patch.type is not None and patch.type != current.type:
        raise ValidationError(
            "type", f"is fixed at create; this flag is {current.type} (create a new flag)"
        )
    check_patch_for_type(patch, current.type)
    candidate = _merged(current, patch, new_rule_id)
    if candidate == current:  # strict: Variant and Clause compare their JSON
        return None
    check_flag(candidate)
    return replace(candidate, version=current.version + 1, updated_at=now)


def toggled_flag(current: Flag, now: str) -> Flag:
    return replace(
        current, enabled=not current.enabled, version=current.version + 1, updated_at=now
    )


def _merged(current: Flag, patch: FlagPatch, new_rule_id: IdFactory) -> Flag:
    flag = replace(
        current,
        description=_pick(patch.description, current.description),
        enabled=_pick(patch.enabled, current.enabled),
        rollout_percentage=_pick(patch.rollout_percentage, current.rollout_percentage),
        variants=_pick(patch.variants, current.variants),
        off_variant=_pick(patch.off_variant, current.off_variant),
        fallthrough=_pick(patch.fallthrough, current.fallthrough),
        prerequisites=_pick(patch.prerequisites, current.prerequisites),
        bucket_by=current.bucket_by if patch.bucket_by is None else (patch.bucket_by or None),
    )
    if patch.rules is not None:
        flag = replace(flag, rules=_with_rule_ids(patch.rules, current.rules, new_rule_id))
    return _with_targeting(flag, patch)


def _with_targeting(flag: Flag, patch: FlagPatch) -> Flag:
    """On a boolean flag `targeted_users` and the `on` target are one list: writing either
    sets both; writing both requires them to agree."""
    users, targets = patch.targeted_users, patch.targets
    if flag.type != "boolean" or targets is None:
        flag = flag if targets is None else replace(flag, targets=targets)
        return flag if users is None else replace(flag, targeted_users=users)
    on_users = next((target.users for target in targets if target.variant == "on"), ())
    if users is not None and set(users) != set(on_users):
        raise ValidationError(
            "targeted_users",
            "must list the same users as the 'on' target (on a boolean flag they are one list)",
        )
    return replace(flag, targets=targets, targeted_users=on_users if users is None else users)


def _with_rule_ids(
    rules: tuple[Rule, ...], current: tuple[Rule, ...], new_rule_id: IdFactory
) -> tuple[Rule, ...]:
    taken = {rule.id for rule in rules if rule.id}
    reusable = [rule for rule in current if rule.id not in taken]
    assigned: list[Rule] = []
    for rule in rules:
        if not rule.id:
            same = next((old for old in reusable if _same_content(old, rule)), None)
            if same is not None:
                reusable.remove(same)
                rule_id = same.id
            else:
                rule_id = _fresh_id(new_rule_id, taken)
            taken.add(rule_id)
            rule = replace(rule, id=rule_id)
        assigned.append(rule)
    return tuple(assigned)


def _fresh_id(new_rule_id: IdFactory, taken: set[str]) -> str:
    for _ in range(100):
        rule_id = new_rule_id()
        if rule_id not in taken:
            return rule_id
    raise RuntimeError("new_rule_id keeps returning ids already taken")


def _same_content(a: Rule, b: Rule) -> bool:
    return (a.clauses, a.serve, a.description) == (b.clauses, b.serve, b.description)


def _pick(given: T | None, current: T) -> T:
    return current if given is None else given


# --- segments ------------------------------------------------------------------------------


def new_segment(patch: SegmentPatch, segment_id: str, now: str) -> Segment:
    assert patch.key is not None, "parse_segment_create guarantees a key"
    return Segment(
        id=segment_id,
        key=patch.key,
        description=_pick(patch.description, ""),
        included=_pick(patch.included, ()),
        excluded=_pick(patch.excluded, ()),
        rules=_pick(patch.rules, ()),
        version=1,
        created_at=now,
        updated_at=now,
    )


def patched_segment(current: Segment, patch: SegmentPatch, now: str) -> Segment | None:
    """The segment after a partial update, or None when the patch changes nothing."""
    candidate = replace(
        current,
        description=_pick(patch.description, current.description),
        included=_pick(patch.included, current.included),
        excluded=_pick(patch.excluded, current.excluded),
        rules=_pick(patch.rules, current.rules),
    )
    if candidate == current:
        return None
    return replace(candidate, version=current.version + 1, updated_at=now)
