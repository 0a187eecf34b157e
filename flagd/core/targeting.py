"""The targeting vocabulary of section 12 as frozen values: variants, targets, clauses, rules,
serves, splits and prerequisites, with their JSON forms.

`from_dict` here reads stored or streamed definitions, which were validated when written:
it checks shapes, not rules (validation.py and flag_checks.py do that for writes), and
keeps what it does not know (an operator from a newer server, say) so that evaluation can
answer GENERAL for that flag alone instead of failing to load the whole snapshot.

Equality is strict about JSON types: a clause value `1` and a clause value `true` differ,
as do variant values `1` and `1.0`, although Python's `==` says otherwise. Each value
type compares on its canonical JSON text, so "did this write change anything?" and the
SDK's change detection get it right.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Scalar = str | int | float | bool
FlagType = Literal["boolean", "string", "number", "json"]
FLAG_TYPES: Final = ("boolean", "string", "number", "json")

STRING_OPERATORS: Final = frozenset({"starts_with", "ends_with", "contains"})
NUMBER_OPERATORS: Final = frozenset({"lt", "lte", "gt", "gte"})
INSTANT_OPERATORS: Final = frozenset({"before", "after"})
SEMVER_OPERATORS: Final = frozenset({"semver_eq", "semver_lt", "semver_gt"})
OPERATORS: Final = (
    frozenset({"in", "in_segment"} | STRING_OPERATORS | NUMBER_OPERATORS | INSTANT_OPERATORS)
    | SEMVER_OPERATORS
)

SPLIT_TOTAL: Final = 100_000  # weights are thousandths of a percent


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    value: Any = field(compare=False)
    description: str = ""
    # The value's canonical JSON: what equality and hashing use (a dict value is unhashable).
    value_json: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value_json", canonical_json(self.value))

    def to_dict(self) -> dict[str, Any]:
        data = {"key": self.key, "value": self.value}
        if self.description:
            data["description"] = self.description
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        return cls(str(data["key"]), data.get("value"), str(data.get("description") or ""))


BOOLEAN_VARIANTS: Final = (Variant("on", True), Variant("off", False))


@dataclass(frozen=True, slots=True)
class Target:
    variant: str
    users: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "users": list(self.users)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(str(data["variant"]), tuple(data.get("users") or ()))


@dataclass(frozen=True, slots=True)
class Clause:
    attribute: str
    op: str  # one of OPERATORS when valid; kept as read otherwise (see the module doc)
    values: tuple[Scalar, ...] = field(compare=False)
    negate: bool = False
    values_json: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values_json", canonical_json(self.values))

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "op": self.op,
            "values": list(self.values),
            "negate": self.negate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clause:
        return cls(
            attribute=str(data.get("attribute") or "key"),
            op=str(data["op"]),
            values=tuple(data.get("values") or ()),
            negate=data.get("negate") is True,
        )


@dataclass(frozen=True, slots=True)
class SplitEntry:
    variant: str
    weight: int

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "weight": self.weight}


@dataclass(frozen=True, slots=True)
class Serve:
    """Exactly one of `variant` (a fixed variant) and `split` (weighted variants)."""

    variant: str | None = None
    split: tuple[SplitEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.variant is not None:
            return {"variant": self.variant}
        return {"split": [entry.to_dict() for entry in self.split]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Serve:
        variant = data.get("variant")
        split = tuple(
            SplitEntry(str(entry["variant"]), int(entry["weight"]))
            for entry in data.get("split") or ()
        )
        return cls(None if variant is None else str(variant), split)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str  # "" only between parsing a write and assigning ids (mutations.py)
    clauses: tuple[Clause, ...]
    serve: Serve
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        if self.description:
            data["description"] = self.description
        data["clauses"] = [clause.to_dict() for clause in self.clauses]
        data["serve"] = self.serve.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        return cls(
            id=str(data.get("id") or ""),
            clauses=tuple(Clause.from_dict(clause) for clause in data.get("clauses") or ()),
            serve=Serve.from_dict(data.get("serve") or {}),
            description=str(data.get("description") or ""),
        )


@dataclass(frozen=True, slots=True)
class Prerequisite:
    flag: str
    variants: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"flag": self.flag, "variants": list(self.variants)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prerequisite:
        return cls(str(data["flag"]), tuple(str(v) for v in data.get("variants") or ()))
