"""The SDK's flags in memory and the read API every client shares.

Reads never lock: the compiled flags live in a dict that is replaced, never mutated, when
a change arrives, and replacing a reference is atomic. Nothing here imports aiohttp, so
the evaluation path stays as light as `flagd.core`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..core import CompiledFlag, Evaluation, Flag, Snapshot, compile_flag
from ..core.evaluation import NOT_FOUND

log = logging.getLogger("flagd.sdk")

ChangeListener = Callable[[frozenset[str]], None]
_ERROR = Evaluation(False, "not_found")


class FlagStore:
    """Compiled flags at a revision; applies snapshots and changes in revision order."""

    def __init__(self) -> None:
        self.by_key: dict[str, CompiledFlag] = {}
        self.revision: int | None = None  # None until a first snapshot

    def load(self, snapshot: Snapshot) -> frozenset[str]:
        before = self.by_key
        after = {flag.key: compile_flag(flag) for flag in snapshot.flags}
        self.by_key, self.revision = after, snapshot.revision
        return frozenset(
            key
            for key in before.keys() | after.keys()
            if key not in before or key not in after or before[key].flag != after[key].flag
        )

    def upsert(self, revision: int, flag: Flag) -> frozenset[str]:
        updated = dict(self.by_key)
        updated[flag.key] = compile_flag(flag)
        self.by_key, self.revision = updated, revision
        return frozenset((flag.key,))

    def remove(self, revision: int, key: str) -> frozenset[str]:
        updated = dict(self.by_key)
        updated.pop(key, None)
        self.by_key, self.revision = updated, revision
        return frozenset((key,))

    def snapshot(self) -> Snapshot:
        flags = tuple(compiled.flag for compiled in self.by_key.values())
        return Snapshot(self.revision or 0, flags)


class FlagReader:
    """is_enabled / evaluate / all_flags over a FlagStore: never raise, never block."""

    _flags: FlagStore
    _listeners: list[ChangeListener]

    def is_enabled(self, key: str, user_id: str, default: bool = False) -> bool:
        try:
            compiled = self._flags.by_key.get(key)
            if compiled is None:
                return default
            return compiled.is_enabled(user_id)
        except Exception:  # a bad argument must never break the application
            return default

    def evaluate(self, key: str, user_id: str) -> Evaluation:
        try:
            compiled = self._flags.by_key.get(key)
            return NOT_FOUND if compiled is None else compiled.explain(user_id)
        except Exception:
            return _ERROR

    def all_flags(self, user_id: str) -> dict[str, bool]:
        try:
            return {key: c.is_enabled(user_id) for key, c in self._flags.by_key.items()}
        except Exception:
            return {}

    @property
    def revision(self) -> int | None:
        return self._flags.revision

    def flags(self) -> list[Flag]:
        return [compiled.flag for compiled in self._flags.by_key.values()]

    def on_change(self, listener: ChangeListener) -> ChangeListener:
        """Call `listener(changed_keys)` after each change (not on the caller's thread)."""
        self._listeners.append(listener)
        return listener

    def _notify(self, keys: frozenset[str]) -> None:
        if not keys:
            return
        for listener in list(self._listeners):
            try:
                listener(keys)
            except Exception:
                log.exception("a flag change listener raised")


class InMemoryFlagClient(FlagReader):
    """Fixed flags for tests of code that uses flags: the same read API, no network.

    client = InMemoryFlagClient([{"key": "new-checkout", "enabled": True,
                                  "rollout_percentage": 100}])
    """

    status = "ready"

    def __init__(self, flags: Iterable[dict[str, Any] | Flag] = ()) -> None:
        self._flags = FlagStore()
        self._listeners = []
        self._flags.load(Snapshot(0, tuple(_as_flag(item) for item in flags)))

    def set_flag(self, flag: dict[str, Any] | Flag) -> None:
        flag = _as_flag(flag)
        self._notify(self._flags.upsert((self._flags.revision or 0) + 1, flag))

    def remove_flag(self, key: str) -> None:
        self._notify(self._flags.remove((self._flags.revision or 0) + 1, key))

    def close(self) -> None:
        return None

    def __enter__(self) -> InMemoryFlagClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_flag(item: dict[str, Any] | Flag) -> Flag:
    if isinstance(item, Flag):
        return item
    data = {"id": item.get("key", ""), "enabled": True, **item}
    return Flag.from_dict(data)
