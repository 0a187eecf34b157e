"""Hashing and the seed-model fast path (SPEC sections 4 and 12): one implementation for
daemon, CLI and SDK.

Pure and stdlib-only. Work that depends only on the flag (the targeted-user set, the bytes
and FNV-1a state of "<key>:") is done once at compile time, so evaluating a flag for a
user only hashes the user id. When the optional C package `fnv-hash-fast` is installed it
computes the same hash about ten times faster; the pure loop below is the reference and
the fallback, and the test vectors run against both (tests patch `_fast_fnv1a32` here,
so every bucket in flagd.core is computed through this module).

`CompiledFlag` is a compiled seed-model flag (boolean; enabled, targeted_users,
rollout_percentage). Flags that use section 12 compile to its subclass `TargetingFlag`
(engine.py); both answer the same calls, so a caller holds `dict[str, CompiledFlag]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .context import NO_ATTRIBUTES, split_context
from .flag import Flag
from .result import (
    DEFAULT,
    DISABLED,
    GENERAL,
    SPLIT,
    TARGETING_KEY_MISSING,
    TARGETING_MATCH,
    EvaluationResult,
    error_result,
)

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF

Reason = Literal["disabled", "targeted", "rollout", "not_found"]


def fnv1a32(data: bytes, state: int = FNV_OFFSET) -> int:
    """FNV-1a 32-bit; `state` continues a hash already started over a prefix."""
    for byte in data:
        state = ((state ^ byte) * FNV_PRIME) & _MASK
    return state


def _load_accelerated() -> Callable[[bytes], int] | None:
    try:
        from fnv_hash_fast import fnv1a_32
    except ImportError:
        return None
    return fnv1a_32 if fnv1a_32(b"foobar") == 3214735720 else None


_fast_fnv1a32 = _load_accelerated()


def bucket(flag_key: str, user_id: str) -> int:
    return fnv1a32(f"{flag_key}:{user_id}".encode()) % 100


def hash_after_prefix(prefix: bytes, prefix_state: int, text: str) -> int:
    """FNV-1a-32 of `prefix + text` (UTF-8), `prefix_state` being the state after `prefix`."""
    fast = _fast_fnv1a32
    if fast is not None:
        return fast(prefix + text.encode())
    return fnv1a32(text.encode(), prefix_state)


class SegmentMatcher(Protocol):
    def contains(self, key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool: ...


class Resolver(Protocol):
    """What an evaluation looks other flags (prerequisites) and segments up in: a FlagSet."""

    @property
    def by_key(self) -> Mapping[str, CompiledFlag]: ...

    @property
    def segments(self) -> Mapping[str, SegmentMatcher]: ...


@dataclass(frozen=True, slots=True)
class _NoFlags:
    by_key: Mapping[str, CompiledFlag]
    segments: Mapping[str, SegmentMatcher]


NO_FLAGS: Resolver = _NoFlags({}, {})  # a flag evaluated on its own: no prerequisite exists


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Part I's explanation (`flagctl eval`, section 11): enabled, reason, rollout bucket."""

    enabled: bool
    reason: Reason
    bucket: int | None = None  # set when the rollout rule decided

    def to_dict(self) -> dict[str, object]:
        return {"enabled": self.enabled, "reason": self.reason, "bucket": self.bucket}


NOT_FOUND = Evaluation(False, "not_found")
_DISABLED = Evaluation(False, "disabled")
_TARGETED = Evaluation(True, "targeted")

_SEED_DISABLED = EvaluationResult(False, "off", DISABLED)
_SEED_TARGETED = EvaluationResult(True, "on", TARGETING_MATCH)
_SEED_ALL_OFF = EvaluationResult(False, "off", DEFAULT)
_SEED_ALL_ON = EvaluationResult(True, "on", DEFAULT)
# A rollout's answer depends only on the bucket (0-99) and which side of the percentage
# it falls: all 200 are built once and shared by every flag.
ROLLOUT_ON = tuple(EvaluationResult(True, "on", SPLIT, bucket=b) for b in range(100))
ROLLOUT_OFF = tuple(EvaluationResult(False, "off", SPLIT, bucket=b) for b in range(100))


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    """A seed-model flag prepared for evaluation many times. The rule fields are copied
    flat so the hot path reads them with one attribute lookup each.

    Every method takes a context in any spelling (see context.py); a bare string is the
    fast path. `flags` resolves prerequisites and segments (a FlagSet); a seed-model flag
    has neither, so it ignores it.
    """

    flag: Flag
    enabled: bool
    rollout: int
    targets: frozenset[str]
    prefix: bytes  # b"<key>:"
    prefix_state: int  # FNV-1a state after the prefix (for the pure-Python path)

    def user_bucket(self, user_id: str) -> int:
        fast = _fast_fnv1a32
        if fast is not None:
            return fast(self.prefix + user_id.encode()) % 100
        return fnv1a32(user_id.encode(), self.prefix_state) % 100

    def is_enabled(
        self, context: object, flags: Resolver | None = None, default: bool = False
    ) -> bool:
        """Section 4. Raises only on an argument no context spelling allows (a str key
        with lone surrogates); FlagSet.is_enabled turns that into the default."""
        if context.__class__ is not str:
            context = split_context(context)[0]
            if context is None:
                return default
        if not self.enabled:
            return False
        if context in self.targets:
            return True
        rollout = self.rollout
        if rollout <= 0:
            return False
        if rollout >= 100:
            return True
        fast = _fast_fnv1a32
        if fast is not None:
            return fast(self.prefix + context.encode()) % 100 < rollout
        return fnv1a32(context.encode(), self.prefix_state) % 100 < rollout

    def evaluate(
        self, context: object, flags: Resolver | None = None, default: Any = None
    ) -> EvaluationResult:
        """The full answer of section 12; never raises."""
        key = context if context.__class__ is str else split_context(context)[0]
        if key is None:
            return error_result(default, TARGETING_KEY_MISSING)
        try:
            return self.decide(key, NO_ATTRIBUTES, NO_FLAGS if flags is None else flags, 0)
        except Exception:
            return error_result(default, GENERAL)

    def decide(
        self,
        key: str,
        attributes: Mapping[str, Any],
        flags: Resolver,
        depth: int,
        answers: dict[str, EvaluationResult] | None = None,
    ) -> EvaluationResult:
        """Steps 2-6 of section 12 for a context with a key. `depth` and `answers` (the
        prerequisites already evaluated in this call) serve the prerequisite walk. May
        raise on a broken definition; `evaluate` is the guarded entry point."""
        if not self.enabled:
            return _SEED_DISABLED
        if key in self.targets:
            return _SEED_TARGETED
        rollout = self.rollout
        if rollout <= 0:
            return _SEED_ALL_OFF
        if rollout >= 100:
            return _SEED_ALL_ON
        fast = _fast_fnv1a32
        if fast is not None:
            user_bucket = fast(self.prefix + key.encode()) % 100
        else:
            user_bucket = fnv1a32(key.encode(), self.prefix_state) % 100
        return ROLLOUT_ON[user_bucket] if user_bucket < rollout else ROLLOUT_OFF[user_bucket]

    def explain(self, user_id: str, flags: Resolver | None = None) -> Evaluation:
        if not self.enabled:
            return _DISABLED
        if user_id in self.targets:
            return _TARGETED
        user_bucket = self.user_bucket(user_id)
        return Evaluation(user_bucket < self.rollout, "rollout", user_bucket)


def compile_seed_flag(flag: Flag) -> CompiledFlag:
    prefix = f"{flag.key}:".encode()
    return CompiledFlag(
        flag=flag,
        enabled=flag.enabled,
        rollout=flag.rollout_percentage,
        targets=frozenset(flag.targeted_users),
        prefix=prefix,
        prefix_state=fnv1a32(prefix),
    )
