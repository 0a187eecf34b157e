"""Whole-flag rules of section 12, checked on the flag a write would store.

A write body is parsed field by field (validation.py); these rules need several fields at
once or the flag's type, so mutations.py runs them on the merged result, before anything
is stored. Each failure is a ValidationError naming the field path.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import ValidationError
from .fields import TARGETED_USERS_MAX
from .flag import Flag
from .targeting import BOOLEAN_VARIANTS, FlagType, Serve
from .validation import FlagPatch

Known = Callable[[str, str], None]  # (field path, variant key): raises when no such variant


def check_patch_for_type(patch: FlagPatch, flag_type: FlagType) -> None:
    """A boolean flag's variants (on/off), off_variant (off) and fallthrough
    (rollout_percentage) are fixed: a write may repeat them, not change them."""
    if flag_type != "boolean":
        return
    if patch.variants is not None and patch.variants != BOOLEAN_VARIANTS:
        raise ValidationError(
            "variants", "a boolean flag's variants are fixed: on (true) and off (false)"
        )
    if patch.off_variant is not None and patch.off_variant != "off":
        raise ValidationError("off_variant", "a boolean flag's off_variant is fixed: off")
    if patch.fallthrough is not None:
        raise ValidationError(
            "fallthrough",
            "is not writable on a boolean flag: rollout_percentage is its fallthrough "
            "(for finer steps, end the rules with one that has no clauses and serves a split)",
        )


def check_flag(flag: Flag) -> None:
    if flag.type != "boolean":
        _check_non_boolean(flag)
    variant_keys = {variant.key for variant in flag.variants}

    def known(path: str, variant: str) -> None:
        if variant not in variant_keys:
            raise ValidationError(path, f"names no variant of this flag: {variant!r}")

    known("off_variant", flag.off_variant)
    _check_targets(flag, known)
    for index, rule in enumerate(flag.rules):
        _check_serve(f"rules[{index}].serve", rule.serve, known)
    if flag.fallthrough is not None:
        _check_serve("fallthrough", flag.fallthrough, known)
    for index, prerequisite in enumerate(flag.prerequisites):
        if prerequisite.flag == flag.key:
            raise ValidationError(
                f"prerequisites[{index}].flag", "a flag cannot be its own prerequisite"
            )


def _check_non_boolean(flag: Flag) -> None:
    kind = f"a {flag.type} flag"
    if flag.rollout_percentage != 0:
        raise ValidationError(
            "rollout_percentage", f"applies to boolean flags only; {kind} serves its fallthrough"
        )
    if flag.targeted_users:
        raise ValidationError(
            "targeted_users", f"applies to boolean flags only; {kind} uses targets"
        )
    if not flag.variants:
        raise ValidationError("variants", f"are required for {kind}")
    if not flag.off_variant:
        raise ValidationError("off_variant", f"is required for {kind}")
    if flag.fallthrough is None:
        raise ValidationError("fallthrough", f"is required for {kind}")
    for index, variant in enumerate(flag.variants):
        value = variant.value
        if flag.type == "string" and not isinstance(value, str):
            raise ValidationError(f"variants[{index}].value", f"must be a string in {kind}")
        if flag.type == "number" and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise ValidationError(f"variants[{index}].value", f"must be a number in {kind}")


def _check_targets(flag: Flag, known: Known) -> None:
    first_target: dict[str, int] = {}
    entry_for_variant: dict[str, int] = {}
    total = 0
    for index, target in enumerate(flag.targets):
        path = f"targets[{index}]"
        known(f"{path}.variant", target.variant)
        if target.variant in entry_for_variant:
            raise ValidationError(
                f"{path}.variant",
                f"{target.variant!r} already has targets[{entry_for_variant[target.variant]}]; "
                "list all its users there",
            )
        entry_for_variant[target.variant] = index
        for user_index, user in enumerate(target.users):
            if user in first_target:
                raise ValidationError(
                    f"{path}.users[{user_index}]",
                    f"{user!r} is already in targets[{first_target[user]}]: a user may be in "
                    "one target only",
                )
            first_target[user] = index
        total += len(target.users)
    if total > TARGETED_USERS_MAX:
        raise ValidationError("targets", f"at most {TARGETED_USERS_MAX} users in all, got {total}")


def _check_serve(path: str, serve: Serve, known: Known) -> None:
    if serve.variant is not None:
        known(f"{path}.variant", serve.variant)
    for index, entry in enumerate(serve.split):
        known(f"{path}.split[{index}].variant", entry.variant)
