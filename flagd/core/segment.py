"""Segments (SPEC section 12): reusable audiences that flag rules name with `in_segment`.

A context is in a segment when its key is `included`; otherwise not when it is
`excluded`; otherwise when any of the segment's rules matches (a rule with no clauses
matches every context). Segments follow the flags' conventions: server-set id, version
and timestamps, refs by id or key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .targeting import Clause


@dataclass(frozen=True, slots=True)
class SegmentRule:
    clauses: tuple[Clause, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"clauses": [clause.to_dict() for clause in self.clauses]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentRule:
        return cls(tuple(Clause.from_dict(clause) for clause in data.get("clauses") or ()))


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    key: str
    description: str
    included: tuple[str, ...]
    excluded: tuple[str, ...]
    rules: tuple[SegmentRule, ...]
    version: int
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "description": self.description,
            "included": list(self.included),
            "excluded": list(self.excluded),
            "rules": [rule.to_dict() for rule in self.rules],
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(
            id=str(data.get("id") or ""),
            key=str(data["key"]),
            description=str(data.get("description") or ""),
            included=tuple(data.get("included") or ()),
            excluded=tuple(data.get("excluded") or ()),
            rules=tuple(SegmentRule.from_dict(rule) for rule in data.get("rules") or ()),
            version=int(data.get("version", 1)),
            created_at=str(data.get("created_at", "")),
            updated_at=str(data.get("updated_at", "")),
        )
