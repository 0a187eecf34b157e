"""FlagSet: the compiled flags and segments an evaluator holds, at a revision.

A FlagSet is a value: consumers (the SDK, the daemon's state, flagctl) replace theirs with
`with_flag` / `without_flag` / `with_segment` / `without_segment`, which compile only the
changed object and copy two dicts, so readers never lock and never see a half-applied
change. Prerequisites and `in_segment` are looked up here at evaluation time.

Every evaluation method here never raises: a bad argument gives the caller's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .context import split_context
from .engine import CompiledSegment, compile_flag, compile_segment
from .evaluation import NOT_FOUND, CompiledFlag, Evaluation
from .flag import Flag
from .result import FLAG_NOT_FOUND, GENERAL, TARGETING_KEY_MISSING, EvaluationResult, error_result
from .segment import Segment


@dataclass(frozen=True, slots=True)
class FlagSet:
    revision: int = 0
    by_key: Mapping[str, CompiledFlag] = field(default_factory=dict)
    segments: Mapping[str, CompiledSegment] = field(default_factory=dict)

    @classmethod
    def from_flags(
        cls, flags: Iterable[Flag], revision: int, segments: Iterable[Segment] = ()
    ) -> FlagSet:
        return cls(
            revision,
            {flag.key: compile_flag(flag) for flag in flags},
            {segment.key: compile_segment(segment) for segment in segments},
        )

    # --- copy-on-write updates -------------------------------------------------------------

    def with_flag(self, flag: Flag, revision: int | None = None) -> FlagSet:
        by_key = dict(self.by_key)
        by_key[flag.key] = compile_flag(flag)
        return replace(self, by_key=by_key, revision=self._next(revision))

    def without_flag(self, key: str, revision: int | None = None) -> FlagSet:
        by_key = dict(self.by_key)
        by_key.pop(key, None)
        return replace(self, by_key=by_key, revision=self._next(revision))

    def with_segment(self, segment: Segment, revision: int | None = None) -> FlagSet:
        segments = dict(self.segments)
        segments[segment.key] = compile_segment(segment)
        return replace(self, segments=segments, revision=self._next(revision))

    def without_segment(self, key: str, revision: int | None = None) -> FlagSet:
        segments = dict(self.segments)
        segments.pop(key, None)
        return replace(self, segments=segments, revision=self._next(revision))

    def _next(self, revision: int | None) -> int:
        return self.revision if revision is None else revision

    # --- evaluation ------------------------------------------------------------------------

    def is_enabled(self, key: str, context: object, default: bool = False) -> bool:
        """A boolean flag's answer; the default for an unknown or non-boolean flag, a
        context without a key, or a definition that cannot be evaluated."""
        compiled = self.by_key.get(key)
        if compiled is None:
            return default
        try:
            return compiled.is_enabled(context, self, default)
        except Exception:  # a bad argument must never break the application
            return default

    def evaluate(self, key: str, context: object, default: Any = None) -> EvaluationResult:
        """Section 12's full answer: value, variant, reason, and where they apply the
        error code, rule index and id, and bucket."""
        compiled = self.by_key.get(key)
        if compiled is None:  # step 1 of the order, before the context is looked at
            return error_result(default, FLAG_NOT_FOUND)
        return compiled.evaluate(context, self, default)

    def evaluate_all(
        self,
        context: object,
        keys: Iterable[str] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> dict[str, EvaluationResult]:
        """Every flag (or the requested `keys`, unknown ones included) for one context, as
        POST /api/client/evaluate answers it."""
        defaults = defaults or {}
        key, attributes = split_context(context)
        results: dict[str, EvaluationResult] = {}
        by_key = self.by_key
        for flag_key in by_key if keys is None else keys:
            compiled = by_key.get(flag_key)
            default = defaults.get(flag_key)
            if compiled is None:
                results[flag_key] = error_result(default, FLAG_NOT_FOUND)
                continue
            if key is None:
                results[flag_key] = error_result(default, TARGETING_KEY_MISSING)
                continue
            try:
                results[flag_key] = compiled.decide(key, attributes, self, 0)
            except Exception:
                results[flag_key] = error_result(default, GENERAL)
            if results[flag_key].reason == "ERROR":  # a broken flag: the caller's default
                results[flag_key] = error_result(default, GENERAL)
        return results

    def explain(self, key: str, user_id: str) -> Evaluation:
        """Part I's explanation (flagctl eval)."""
        compiled = self.by_key.get(key)
        return NOT_FOUND if compiled is None else compiled.explain(user_id, self)
