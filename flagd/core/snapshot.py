"""The flag set at a revision, and its JSON form.

The same document is the body of GET /api/client/flags, the data of the stream's
`snapshot` event, flagctl's offline cache and the SDK's disk cache, so any one of them can
bootstrap any other. `segments` appears beside `flags` when there are any (a Part I
snapshot is unchanged).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .flag import Flag
from .flagset import FlagSet
from .segment import Segment


@dataclass(frozen=True, slots=True)
class Snapshot:
    revision: int
    flags: tuple[Flag, ...]  # newest first, as the API lists them
    segments: tuple[Segment, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"flags": [flag.to_dict() for flag in self.flags]}
        if self.segments:
            data["segments"] = [segment.to_dict() for segment in self.segments]
        data["revision"] = self.revision
        return data

    def to_json(self) -> bytes:
        return encode_json(self.to_dict())

    def flag_set(self) -> FlagSet:
        return FlagSet.from_flags(self.flags, self.revision, self.segments)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            revision=int(data.get("revision", 0)),
            flags=tuple(Flag.from_dict(item) for item in data.get("flags", ())),
            segments=tuple(Segment.from_dict(item) for item in data.get("segments") or ()),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Snapshot:
        return cls.from_dict(json.loads(raw))


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, the one encoding used on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
