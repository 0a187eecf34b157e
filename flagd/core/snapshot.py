"""The flag set at a revision, and its JSON form.

The same document is the body of GET /api/client/flags, the data of the stream's
`snapshot` event, flagctl's offline cache and the SDK's disk cache, so any one of them can
bootstrap any other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .evaluation import CompiledFlag, Evaluation, compile_flag, explain
from .flag import Flag


@dataclass(frozen=True, slots=True)
class Snapshot:
    revision: int
    flags: tuple[Flag, ...]  # newest first, as the API lists them

    def to_dict(self) -> dict[str, Any]:
        return {"flags": [flag.to_dict() for flag in self.flags], "revision": self.revision}

    def to_json(self) -> bytes:
        return encode_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            revision=int(data.get("revision", 0)),
            flags=tuple(Flag.from_dict(item) for item in data.get("flags", ())),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Snapshot:
        return cls.from_dict(json.loads(raw))


@dataclass(slots=True)
class FlagSet:
    """Compiled flags by key: what an evaluator holds."""

    revision: int = 0
    by_key: dict[str, CompiledFlag] = field(default_factory=dict)

    @classmethod
    def from_flags(cls, flags: Iterable[Flag], revision: int) -> FlagSet:
        return cls(revision, {flag.key: compile_flag(flag) for flag in flags})

    def is_enabled(self, key: str, user_id: str, default: bool = False) -> bool:
        compiled = self.by_key.get(key)
        return default if compiled is None else compiled.is_enabled(user_id)

    def explain(self, key: str, user_id: str) -> Evaluation:
        return explain(self.by_key.get(key), user_id)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, the one encoding used on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
