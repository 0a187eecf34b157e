"""The flag model and the change record, with their JSON forms.

A flag serialises in one of two shapes (see Flag.to_dict): a seed-model flag (boolean,
using nothing of section 12 beyond the `on` target, which is `targeted_users`) exactly as
in Part I, nine fields; any other flag with the nine seed fields plus every section-12
field that applies to its type. `from_dict` reads both, and the vectors' shorter form.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from .targeting import (
    BOOLEAN_VARIANTS,
    FlagType,
    Prerequisite,
    Rule,
    Serve,
    Target,
    Variant,
)

Action = Literal["created", "updated", "toggled", "deleted"]


def utc_now() -> str:
    """RFC 3339 in UTC with millisecond precision, the form JavaScript's toISOString() gives."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Flag:
    """A flag. The first nine fields are the seed model (SPEC section 3); the rest are
    section 12's and default to the seed behaviour.

    On a boolean flag `targeted_users` *is* the users of the `on` target: it is the one
    source of truth, and `__post_init__` derives the `on` entry of `targets` from it (adding,
    replacing or dropping that entry), so `replace(flag, targeted_users=...)` keeps both in
    step. To change the `on` entry, set `targeted_users` (`with_targets` does it for you).
    A boolean flag's `variants` are always `on` (true) / `off` (false), its `off_variant`
    is `off` and it has no `fallthrough`: `rollout_percentage` is its fallthrough.
    """

    id: str
    key: str
    description: str
    enabled: bool
    rollout_percentage: int
    targeted_users: tuple[str, ...]
    version: int
    created_at: str
    updated_at: str
    type: FlagType = "boolean"
    variants: tuple[Variant, ...] = BOOLEAN_VARIANTS
    off_variant: str = "off"
    targets: tuple[Target, ...] = ()
    rules: tuple[Rule, ...] = ()
    fallthrough: Serve | None = None
    prerequisites: tuple[Prerequisite, ...] = ()
    bucket_by: str | None = None  # None: the context key

    def __post_init__(self) -> None:
        if self.type != "boolean":
            return
        object.__setattr__(self, "variants", BOOLEAN_VARIANTS)
        object.__setattr__(self, "off_variant", "off")
        object.__setattr__(self, "fallthrough", None)
        targets = _with_on_target(self.targets, self.targeted_users)
        if targets != self.targets:
            object.__setattr__(self, "targets", targets)

    @property
    def is_seed_model(self) -> bool:
        """Evaluates by section 4 alone: boolean, and no Part II feature beyond the `on`
        target (which is `targeted_users`). Such a flag serialises exactly as in Part I."""
        return (
            self.type == "boolean"
            and not self.rules
            and not self.prerequisites
            and self.bucket_by is None
            and all(target.variant == "on" for target in self.targets)
        )

    def with_targets(self, targets: tuple[Target, ...]) -> Flag:
        """This flag with `targets`; on a boolean flag `targeted_users` follows the `on` entry."""
        if self.type != "boolean":
            return replace(self, targets=targets)
        on_users = next((t.users for t in targets if t.variant == "on"), ())
        return replace(self, targets=targets, targeted_users=on_users)

    def to_dict(self) -> dict[str, Any]:
        """Two shapes. A seed-model flag: exactly the nine seed fields, as in Part I (the
        seed's dashboard and TypeScript SDK read them). Any other flag: the seed fields plus
        `type`, `targets`, `rules`, `prerequisites` and `bucket_by` (null when unset), and on
        a non-boolean flag `variants`, `off_variant` and `fallthrough`: every section-12
        field that applies to its type, so a reader never has to guess a default."""
        data: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "description": self.description,
            "enabled": self.enabled,
            "rollout_percentage": self.rollout_percentage,
            "targeted_users": list(self.targeted_users),
        }
        if not self.is_seed_model:
            data["type"] = self.type
            if self.type != "boolean":
                data["variants"] = [variant.to_dict() for variant in self.variants]
                data["off_variant"] = self.off_variant
            data["targets"] = [target.to_dict() for target in self.targets]
            data["rules"] = [rule.to_dict() for rule in self.rules]
            if self.fallthrough is not None:
                data["fallthrough"] = self.fallthrough.to_dict()
            data["prerequisites"] = [item.to_dict() for item in self.prerequisites]
            data["bucket_by"] = self.bucket_by
        data["version"] = self.version
        data["created_at"] = self.created_at
        data["updated_at"] = self.updated_at
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flag:
        """Reads either shape, and the vectors' shorter form. On a boolean flag without
        `targeted_users`, the `on` target supplies it."""
        flag_type = str(data.get("type") or "boolean")
        targets = tuple(Target.from_dict(item) for item in data.get("targets") or ())
        targeted_users = data.get("targeted_users")
        if targeted_users is None and flag_type == "boolean":
            targeted_users = next((t.users for t in targets if t.variant == "on"), ())
        fallthrough = data.get("fallthrough")
        variants = data.get("variants")
        return cls(
            id=str(data.get("id", "")),
            key=str(data["key"]),
            description=str(data.get("description") or ""),
            enabled=bool(data.get("enabled", False)),
            rollout_percentage=int(data.get("rollout_percentage") or 0),
            targeted_users=tuple(targeted_users or ()),
            version=int(data.get("version", 1)),
            created_at=str(data.get("created_at", "")),
            updated_at=str(data.get("updated_at", "")),
            type=flag_type,  # type: ignore[arg-type]  # an unknown type compiles to GENERAL
            variants=tuple(Variant.from_dict(v) for v in variants) if variants else (),
            off_variant=str(data.get("off_variant") or ""),
            targets=targets,
            rules=tuple(Rule.from_dict(rule) for rule in data.get("rules") or ()),
            fallthrough=None if fallthrough is None else Serve.from_dict(fallthrough),
            prerequisites=tuple(
                Prerequisite.from_dict(item) for item in data.get("prerequisites") or ()
            ),
            bucket_by=_bucket_by(data.get("bucket_by")),
        )


def _bucket_by(value: Any) -> str | None:
    """ "key" (the context key, as in clauses) and "" both mean the default."""
    return None if value in (None, "", "key") else str(value)


def _with_on_target(targets: tuple[Target, ...], on_users: tuple[str, ...]) -> tuple[Target, ...]:
    rest = tuple(target for target in targets if target.variant != "on")
    if not on_users:
        return rest
    on_target = Target("on", on_users)
    for index, target in enumerate(targets):
        if target.variant == "on":  # keep the entry where it was
            return (*rest[:index], on_target, *rest[index:])
    return (on_target, *rest)


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change log: the audit record, the stream's replay source."""

    revision: int
    action: Action
    key: str
    flag: Flag | None  # the flag after the change; None for a delete
    actor: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "action": self.action,
            "key": self.key,
            "flag": self.flag.to_dict() if self.flag else None,
            "actor": self.actor,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        flag = data.get("flag")
        return cls(
            revision=int(data["revision"]),
            action=data["action"],
            key=str(data["key"]),
            flag=Flag.from_dict(flag) if flag else None,
            actor=str(data.get("actor", "")),
            at=str(data.get("at", "")),
        )
