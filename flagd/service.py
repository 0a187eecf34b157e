"""Use cases of the admin API: validate, write with a change record, update the state.

Every rule about a write lives here, in `decide` functions the store runs inside its
transaction, so checks see the locked current flag. The order of checks is the contract's:
404 (unknown ref) before 400 (bad body or If-Match) before 412 (stale version).
"""

from __future__ import annotations

import uuid
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
from .state import StateSync
from .store import Decision, Keep, Put, Remove, Store, WriteResult

# A body that could not be parsed is passed along as its error, raised in check order.
Body = Any | FlagdError


class FlagService:
    def __init__(self, store: Store, sync: StateSync, bus: Bus) -> None:
        self.store = store
        self.sync = sync
        self.bus = bus

    async def list_flags(self) -> list[Flag]:
        return await self.store.list_flags()

    async def get_flag(self, ref: str) -> Flag:
        flag = await self.store.get_flag(ref)
        if flag is None:
            raise _not_found(ref)
        return flag

    async def create(self, body: Body, actor: str) -> Flag:
        if isinstance(body, FlagdError):
            raise body
        patch = parse_create(body)
        now = utc_now()
        flag = new_flag(patch, str(uuid.uuid4()), now)
        result = await self._write(None, lambda _current: Put(flag, "created"), actor, now)
        assert result.flag is not None
        return result.flag

    async def update(self, ref: str, body: Body, if_match: str | None, actor: str) -> Flag:
        now = utc_now()

        def decide(current: Flag | None) -> Decision:
            current = _existing(current, ref)
            if isinstance(body, FlagdError):
                raise body
            patch = parse_update(body, current.key)
            _check_version(current, if_match)
            changed = patched_flag(current, patch, now)
            return Keep() if changed is None else Put(changed, "updated")

        result = await self._write(ref, decide, actor, now)
        assert result.flag is not None
        return result.flag

    async def toggle(self, ref: str, if_match: str | None, actor: str) -> Flag:
        now = utc_now()

        def decide(current: Flag | None) -> Decision:
            current = _existing(current, ref)
            _check_version(current, if_match)
            return Put(toggled_flag(current, now), "toggled")

        result = await self._write(ref, decide, actor, now)
        assert result.flag is not None
        return result.flag

    async def delete(self, ref: str, if_match: str | None, actor: str) -> None:
        def decide(current: Flag | None) -> Decision:
            _check_version(_existing(current, ref), if_match)
            return Remove()

        await self._write(ref, decide, actor, utc_now())

    async def _write(self, ref: str | None, decide: Any, actor: str, at: str) -> WriteResult:
        try:
            result = await self.store.write(ref, decide, actor, at)
        except StoreUnavailable:
            self.sync.store_up = False
            raise
        self.sync.store_up = True
        if result.change is not None:
            # Announce first: the publisher sends it to the other instances while this one
            # answers and fans out to its own streams (both deferred past this call).
            await self.bus.publish(result.change)
            # Read-your-writes: the state includes this change before the response goes out.
            await self.sync.observe(result.change)
        return result


def _not_found(ref: str) -> NotFound:
    shown = ref if len(ref) <= 80 else ref[:77] + "..."
    return NotFound(f"no flag with id or key {shown!r}")


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
