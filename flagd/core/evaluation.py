"""Flag evaluation (SPEC section 4): one implementation for daemon, CLI and SDK.

Pure and stdlib-only. Work that depends only on the flag (the targeted-user set, the bytes
and FNV-1a state of "<key>:") is done once in `compile_flag`, so evaluating a flag for a
user only hashes the user id. When the optional C package `fnv-hash-fast` is installed it
computes the same hash about ten times faster; the pure loop below is the reference and
the fallback, and the test vectors run against both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .flag import Flag

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


@dataclass(frozen=True, slots=True)
class Evaluation:
    enabled: bool
    reason: Reason
    bucket: int | None = None  # set when the rollout rule decided

    def to_dict(self) -> dict[str, object]:
        return {"enabled": self.enabled, "reason": self.reason, "bucket": self.bucket}


NOT_FOUND = Evaluation(False, "not_found")
_DISABLED = Evaluation(False, "disabled")
_TARGETED = Evaluation(True, "targeted")


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    """A flag prepared for evaluation many times. The rule fields are copied flat so the
    hot path reads them with one attribute lookup each."""

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

    def is_enabled(self, user_id: str) -> bool:
        if not self.enabled:
            return False
        if user_id in self.targets:
            return True
        rollout = self.rollout
        if rollout <= 0:
            return False
        if rollout >= 100:
            return True
        fast = _fast_fnv1a32
        if fast is not None:
            return fast(self.prefix + user_id.encode()) % 100 < rollout
        return fnv1a32(user_id.encode(), self.prefix_state) % 100 < rollout

    def explain(self, user_id: str) -> Evaluation:
        if not self.enabled:
            return _DISABLED
        if user_id in self.targets:
            return _TARGETED
        user_bucket = self.user_bucket(user_id)
        return Evaluation(user_bucket < self.rollout, "rollout", user_bucket)


def compile_flag(flag: Flag) -> CompiledFlag:
    prefix = f"{flag.key}:".encode()
    return CompiledFlag(
        flag=flag,
        enabled=flag.enabled,
        rollout=flag.rollout_percentage,
        targets=frozenset(flag.targeted_users),
        prefix=prefix,
        prefix_state=fnv1a32(prefix),
    )


def evaluate(flag: Flag | CompiledFlag | None, user_id: str, default: bool = False) -> bool:
    """Is `flag` on for `user_id`? A missing flag gives the caller's default."""
    if flag is None:
        return default
    compiled = flag if isinstance(flag, CompiledFlag) else compile_flag(flag)
    return compiled.is_enabled(user_id)


def explain(flag: Flag | CompiledFlag | None, user_id: str) -> Evaluation:
    """The decision with its reason; the bucket when the rollout rule decided."""
    if flag is None:
        return NOT_FOUND
    compiled = flag if isinstance(flag, CompiledFlag) else compile_flag(flag)
    return compiled.explain(user_id)
