"""The storage seam: a small protocol that both backends implement.

A write is expressed as a pure `decide` function from the current flag (or None) to a
Decision. The store runs it inside its transaction, with the flag row locked, and if the
decision changes something it writes the flag, takes the next global revision and appends
the change record, all in that one transaction. So the rules (validation, If-Match,
immutability) live once in `flagd.service`, and the backends only persist.

A write may carry a client's Idempotency-Key (`Remember`). The store claims the key first
in the same transaction, so a retry of a write that committed unheard finds its response,
and a retry racing the first attempt waits on the key, then replays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..core import Change, Flag, IdempotencyKeyReused, Snapshot, is_uuid, is_valid_key
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
    change: Change | None  # None when the decision was Keep (or on a replay)
    # On a replay of a remembered write: the status it answered; `flag` is what it answered.
    replayed_status: int | None = None


@dataclass(frozen=True, slots=True)
class Remember:
    """Remember a write's response under the client's Idempotency-Key, in its transaction.

    While the key is held (not expired), the store does not run `decide` again: it answers
    with the remembered response when `request_hash` matches, else raises
    IdempotencyKeyReused. A failed write rolls back with its claim, so it is not remembered.
    """

    key: str
    request_hash: str
    status: int  # what the write answers when it succeeds
    now: float  # epoch seconds: a key that expired before `now` is free again
    expires_at: float

    def replay(
        self, request_hash: str, status: int, response: dict[str, Any] | None
    ) -> WriteResult:
        """The remembered response, when this request is the one first made with the key."""
        if request_hash != self.request_hash:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was first used for another request (method, flag or "
                "body); use a new key for a new request"
            )
        flag = Flag.from_dict(response) if response is not None else None
        return WriteResult(flag, None, replayed_status=status)


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

    async def write(
        self,
        ref: str | None,
        decide: Decide,
        actor: str,
        at: str,
        remember: Remember | None = None,
    ) -> WriteResult:
        """Run `decide` on the flag `ref` names (None for a create) in one transaction."""

    async def purge_idempotency_keys(self, now: float) -> int:
        """Delete the keys that expired before `now`; how many went."""

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
