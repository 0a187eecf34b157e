"""The flag model and the change record, with their JSON forms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Action = Literal["created", "updated", "toggled", "deleted"]


def utc_now() -> str:
    """RFC 3339 in UTC with millisecond precision, the form JavaScript's toISOString() gives."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Flag:
    id: str
    key: str
    description: str
    enabled: bool
    rollout_percentage: int
    targeted_users: tuple[str, ...]
    version: int
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "description": self.description,
            "enabled": self.enabled,
            "rollout_percentage": self.rollout_percentage,
            "targeted_users": list(self.targeted_users),
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flag:
        return cls(
            id=str(data["id"]),
            key=str(data["key"]),
            description=str(data.get("description") or ""),
            enabled=bool(data.get("enabled", False)),
            rollout_percentage=int(data.get("rollout_percentage") or 0),
            targeted_users=tuple(data.get("targeted_users") or ()),
            version=int(data.get("version", 1)),
            created_at=str(data.get("created_at", "")),
            updated_at=str(data.get("updated_at", "")),
        )


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
