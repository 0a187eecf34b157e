"""Use cases of the admin API: check, write with a change record, update the state.

A handler hands the service a `WriteRequest`: the request's parts as they came (body bytes,
If-Match, Idempotency-Key, actor), nothing parsed. The service owns the contract's order
of checks: 404 (unknown ref) before 400 (a malformed Idempotency-Key, body or If-Match, a
field breaking the rules) before 412 (stale version). The checks that need the current
flag run in a `decide` function the store calls inside its transaction with the flag's
row locked, so they see what they change.

A write sent with an Idempotency-Key is remembered by the store, in its transaction, with
the status it answered: a retry gets that answer back (`Written.replayed`) and applies
nothing. Only successes are remembered, a write that changed nothing included; a failure
applied nothing, so its retry simply runs again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .bus import Bus
from .core import (
    Flag,
    InvalidRequest,
    NotFound,
    StoreUnavailable,
    VersionConflict,
    parse_create,
    parse_if_match,
    parse_update,
    utc_now,
)
from .core.mutations import new_flag, patched_flag, toggled_flag
from .idempotency import IdempotencyKey, parse_idempotency_key
from .state import StateSync
from .store import Decide, Decision, Keep, Put, Remember, Remove, Store

DEFAULT_IDEMPOTENCY_TTL = 24 * 3600.0

log = logging.getLogger("flagd")


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """An admin write as it arrived, unparsed: the service checks each part in order."""

    method: str
    route: str  # the route's template, e.g. /api/admin/flags/{ref}
    actor: str
    body: bytes | None = None  # None on routes without one (toggle, delete)
    if_match: str | None = None
    idempotency_key: str | None = None  # the header as sent


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

    async def create(self, request: WriteRequest) -> Written:
        patch = parse_create(_json_body(request))
        key = _idempotency(request, "")
        now = utc_now()
        flag = new_flag(patch, str(uuid.uuid4()), now)
        return await self._write(None, lambda _: Put(flag, "created"), request, now, key)

    async def update(self, ref: str, request: WriteRequest) -> Written:
        now = utc_now()

        def decide(current: Flag | None) -> Decision:
            current = _existing(current, ref)
            _idempotency(request, ref)
            patch = parse_update(_json_body(request), current.key)
            changed = patched_flag(current, patch, now)  # a 400 comes before a 412
            _check_version(current, request.if_match)
            return Keep() if changed is None else Put(changed, "updated")

        return await self._write(ref, decide, request, now, _idempotency_or_none(request, ref))

    async def toggle(self, ref: str, request: WriteRequest) -> Written:
        now = utc_now()

        def decide(current: Flag | None) -> Decision:
            current = _existing(current, ref)
            _idempotency(request, ref)
            _check_version(current, request.if_match)
            return Put(toggled_flag(current, now), "toggled")

        return await self._write(ref, decide, request, now, _idempotency_or_none(request, ref))

    async def delete(self, ref: str, request: WriteRequest) -> Written:
        def decide(current: Flag | None) -> Decision:
            current = _existing(current, ref)
            _idempotency(request, ref)
            _check_version(current, request.if_match)
            return Remove()

        key = _idempotency_or_none(request, ref)
        return await self._write(ref, decide, request, utc_now(), key)

    async def purge_idempotency_keys(self) -> int:
        """Forget the keys past their time; a retry after that is a new request."""
        return await self.store.purge_idempotency_keys(time.time())

    async def _write(
        self,
        ref: str | None,
        decide: Decide,
        request: WriteRequest,
        at: str,
        idempotency: IdempotencyKey | None,
    ) -> Written:
        status = _SUCCESS[request.method]
        remember = None
        if idempotency is not None:
            now = time.time()
            remember = Remember(
                idempotency.key, idempotency.request_hash, status, now, now + self.idempotency_ttl
            )
        result = await self.store.write(ref, decide, request.actor, at, remember)
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


_SUCCESS = {
    "POST": HTTPStatus.CREATED,
    "PUT": HTTPStatus.OK,
    "PATCH": HTTPStatus.OK,
    "DELETE": HTTPStatus.NO_CONTENT,
}


def _json_body(request: WriteRequest) -> Any:
    try:
        return json.loads(request.body or b"")
    except (ValueError, RecursionError):
        raise InvalidRequest("request body is not valid JSON") from None


def _idempotency(request: WriteRequest, ref: str) -> IdempotencyKey | None:
    """The request's Idempotency-Key bound to what the write depends on; a malformed one
    raises its 400 (the callers raise it where the contract's order puts it)."""
    return parse_idempotency_key(
        request.idempotency_key,
        request.method,
        request.route,
        ref,
        request.if_match,
        request.body,
    )


def _idempotency_or_none(request: WriteRequest, ref: str) -> IdempotencyKey | None:
    """The key for the store to claim, or None when it is malformed: then decide() raises
    its 400 after checking the ref (404 first), before the store would claim anything."""
    try:
        return _idempotency(request, ref)
    except InvalidRequest:
        return None


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
