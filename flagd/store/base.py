"""The storage seam: a small protocol that both backends implement.

A write is expressed as a pure `decide` function from the current flag (or None) to a
Decision. The store runs it inside its transaction, with the flag row locked, and if the
decision changes something it writes the flag, takes the next global revision and appends
the change record, all in that one transaction. So the rules (validation, If-Match,
immutability) live once in `flagd.service`, and the backends only persist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..core import Change, Flag, Snapshot, is_uuid, is_valid_key
from ..core.flag import Action


@dataclass(frozen=True, slots=True)
class Put:
    """Insert (action "created") or replace the flag."""

    flag: Flag
    action: Action


@dataclass(frozen=True, slots=True)
class Remove:
    """Delete the current flag."""


@dataclass(frozen=True, slots=True)
class Keep:
    """Nothing changes: no write, no revision, no change record."""


Decision = Put | Remove | Keep
Decide = Callable[[Flag | None], Decision]


@dataclass(frozen=True, slots=True)
class WriteResult:
    flag: Flag | None  # the flag after the write (None after a delete)
    change: Change | None  # None when the decision was Keep


class Store(Protocol):
    async def open(self) -> None:
        """Connect and apply the schema (idempotent). Raises StoreUnavailable."""

    async def close(self) -> None: ...

    async def snapshot(self) -> Snapshot:
        """Every flag and the revision they are at, read consistently."""

    async def list_flags(self) -> list[Flag]:
        """Newest first by creation."""

    async def get_flag(self, ref: str) -> Flag | None:
        """By id (when `ref` is UUID-shaped and such an id exists) or else by key."""

    async def write(self, ref: str | None, decide: Decide, actor: str, at: str) -> WriteResult:
        """Run `decide` on the flag `ref` names (None for a create) in one transaction."""

    async def changes_after(self, revision: int, limit: int) -> list[Change]:
        """Change records with revision > `revision`, oldest first, at most `limit`."""

    async def latest_revision(self) -> int: ...


def ref_lookups(ref: str) -> list[tuple[str, str]]:
    """The (column, value) lookups a ref stands for, in the order to try them.

    A malformed ref names nothing, so it never reaches the database.
    """
    lookups: list[tuple[str, str]] = []
    if is_uuid(ref):
        lookups.append(("id", ref.lower()))
    if is_valid_key(ref):
        lookups.append(("key", ref))
    return lookups
