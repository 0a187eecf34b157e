"""Use cases of the admin API: validate, write with a change record, update the state.

Every rule about a write lives here, in `decide` functions the store runs inside its
transaction, so checks see the locked current flag. The order of checks is the contract's:
404 (unknown ref) before 400 (bad body or If-Match) before 412 (stale version).

A write sent with an Idempotency-Key is remembered by the store, in its transaction, with
the status it answered: a retry gets that answer back (`Written.replayed`) and applies
nothing. Only successes are remembered, a write that changed nothing included; a failure
applied nothing, so its retry simply runs again.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .bus import Bus
from .core import (
    Flag,
    FlagdError,
    NotFound,
    StoreUnavailable,
    VersionConflict,
    parse_create,
    parse_if_match,
    parse_update,
    utc_now,
)
from .core.mutations import new_flag, patched_flag, toggled_flag
from .idempotency import IdempotencyKey
from .state import StateSync
from .store import Decide, Decision, Keep, Put, Remember, Remove, Store

# A body or an Idempotency-Key that could not be parsed is passed along as its error,
# raised in check order.
Body = Any | FlagdError
Idempotency = IdempotencyKey | FlagdError | None

DEFAULT_IDEMPOTENCY_TTL = 24 * 3600.0

log = logging.getLogger("flagd")


@dataclass(frozen=True, slots=True)
class Written:
    """What a write answers: the flag (None after a delete) with its status."""

    flag: Flag | None
    status: int
    replayed: bool = False  # the remembered answer of an earlier attempt with the same key


class FlagService:
    def __init__(
        self,
        store: Store,
        sync: StateSync,
        bus: Bus,
        idempotency_ttl: float = DEFAULT_IDEMPOTENCY_TTL,
    ) -> None:
        self.store = store
        self.sync = sync
        self.bus = bus
        self.idempotency_ttl = idempotency_ttl

    async def list_flags(self) -> list[Flag]:
        return await self.store.list_flags()

    async def get_flag(self, ref: str) -> Flag:
        flag = await self.store.get_flag(ref)
        if flag is None:
            raise _not_found(ref)
        return flag

    async def create(self, body: Body, actor: str, idempotency: Idempotency = None) -> Written:
        if isinstance(body, FlagdError):
            raise body
        patch = parse_create(body)
        now = utc_now()
        flag = new_flag(patch, str(uuid.uuid4()), now)
        return await self._write(
            None, lambda _current: Put(flag, "created"), actor, now, HTTPStatus.CREATED, idempotency
        )

    async def update(
        self,
        ref: str,
        body: Body,
        if_match: str | None,
        actor: str,
        idempotency: Idempotency = None,
    ) -> Written:
        now = utc_now()

        def decide(current: Flag | None) -> Decision:
            current = _existing(current, ref)
            if isinstance(body, FlagdError):
                raise body
            patch = parse_update(body, current.key)
            _check_version(current, if_match)
            changed = patched_flag(current, patch, now)
            return Keep() if changed is None else Put(changed, "updated")

        return await self._write(ref, decide, actor, now, HTTPStatus.OK, idempotency)

    async def toggle(
        self, ref: str, if_match: str | None, actor: str, idempotency: Idempotency = None
    ) -> Written:
        now = utc_now()

        def decide(current: Flag | None) -> Decision:
            current = _existing(current, ref)
            _check_version(current, if_match)
            return Put(toggled_flag(current, now), "toggled")

        return await self._write(ref, decide, actor, now, HTTPStatus.OK, idempotency)

    async def delete(
        self, ref: str, if_match: str | None, actor: str, idempotency: Idempotency = None
    ) -> Written:
        def decide(current: Flag | None) -> Decision:
            _check_version(_existing(current, ref), if_match)
            return Remove()

        return await self._write(ref, decide, actor, utc_now(), HTTPStatus.NO_CONTENT, idempotency)

    async def purge_idempotency_keys(self) -> int:
        """Forget the keys past their time; a retry after that is a new request."""
        return await self.store.purge_idempotency_keys(time.time())

    async def _write(
        self,
        ref: str | None,
        decide: Decide,
        actor: str,
        at: str,
        status: int,
        idempotency: Idempotency,
    ) -> Written:
        remember = None
        if isinstance(idempotency, FlagdError):
            if ref is None:
                raise idempotency
            decide = _rejecting(ref, idempotency)
        elif idempotency is not None:
            now = time.time()
            remember = Remember(
                idempotency.key, idempotency.request_hash, status, now, now + self.idempotency_ttl
            )
        try:
            result = await self.store.write(ref, decide, actor, at, remember)
        except StoreUnavailable:
            self.sync.store_up = False
            raise
        self.sync.store_up = True
        if result.replayed_status is not None:
            await self._catch_up_after_replay()
            return Written(result.flag, result.replayed_status, replayed=True)
        if result.change is not None:
            # Announce first: the publisher sends it to the other instances while this one
            # answers and fans out to its own streams (both deferred past this call).
            await self.bus.publish(result.change)
            # Read-your-writes: the state includes this change before the response goes out.
            await self.sync.observe(result.change)
        return Written(result.flag, status)

    async def _catch_up_after_replay(self) -> None:
        """The first attempt may have committed without this daemon hearing of it (a 503
        while its COMMIT was acknowledged): read-your-writes holds for the retry too."""
        try:
            await self.sync.reconcile()
        except StoreUnavailable as exc:
            log.warning("state not caught up after a replayed write: %s", exc)


def _not_found(ref: str) -> NotFound:
    shown = ref if len(ref) <= 80 else ref[:77] + "..."
    return NotFound(f"no flag with id or key {shown!r}")


def _rejecting(ref: str, error: FlagdError) -> Decide:
    """A malformed Idempotency-Key is a 400, reported after the 404 of an unknown ref."""

    def decide(current: Flag | None) -> Decision:
        _existing(current, ref)
        raise error

    return decide


def _existing(current: Flag | None, ref: str) -> Flag:
    if current is None:
        raise _not_found(ref)
    return current


def _check_version(current: Flag, if_match: str | None) -> None:
    expected = parse_if_match(if_match)
    if expected is not None and expected != current.version:
        raise VersionConflict(
            f"flag {current.key!r} is at version {current.version}, not {expected}"
        )
