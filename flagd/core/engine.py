"""Compiling flags and segments, and evaluating section 12 (targets, rules, splits,
prerequisites, segments).

`compile_flag` runs once per flag version: a seed-model flag becomes the lean
`CompiledFlag` of evaluation.py; any other becomes a `TargetingFlag`, with every answer
that carries no bucket built in advance, clauses turned into matchers (clauses.py),
targets merged into one dict and splits into cumulative tables. A definition this core
cannot evaluate (an unknown operator or type, a missing variant, weights that do not sum
to 100000: nothing validation lets through, but an SDK may meet one from a newer server)
compiles to a `BrokenFlag`, which answers the caller's default with ERROR / GENERAL.

Prerequisites and `in_segment` are resolved at evaluation time through the FlagSet the
caller passes, so replacing one flag or segment recompiles only that one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .clauses import (
    CompiledClauses,
    Matcher,
    NumberCompare,
    StringIn,
    Unevaluable,
    compile_clauses,
)
from .context import NO_ATTRIBUTES, split_context
from .evaluation import (
    NO_FLAGS,
    NOT_FOUND,
    ROLLOUT_OFF,
    ROLLOUT_ON,
    CompiledFlag,
    Evaluation,
    Resolver,
    compile_seed_flag,
    fnv1a32,
    hash_after_prefix,
)
from .flag import Flag
from .references import MAX_PREREQUISITE_DEPTH
from .result import (
    DEFAULT,
    DISABLED,
    ERROR,
    GENERAL,
    PREREQUISITE_FAILED,
    SPLIT,
    TARGETING_KEY_MISSING,
    TARGETING_MATCH,
    EvaluationResult,
    error_result,
)
from .segment import Segment
from .targeting import FLAG_TYPES, SPLIT_TOTAL, Serve

MAX_SAFE_INTEGER = 2**53 - 1

# (cumulative weights, variant keys, values): entry i serves buckets below cumulative[i].
SplitTable = tuple[tuple[int, ...], tuple[str, ...], tuple[Any, ...]]
# A rule: its clauses (the three groups of clauses.CompiledClauses), the answer when it
# serves a variant, else its split table, its index and id.
CompiledRule = tuple[
    tuple[StringIn, ...],
    tuple[NumberCompare, ...],
    tuple[Matcher, ...],
    EvaluationResult | None,
    SplitTable | None,
    int,
    str,
]

_new_result = tuple.__new__
_FAILED_PREREQUISITE_REASONS = frozenset({DISABLED, PREREQUISITE_FAILED, ERROR})
_BOOLEAN_ALL_OFF = EvaluationResult(False, "off", DEFAULT)
_BOOLEAN_ALL_ON = EvaluationResult(True, "on", DEFAULT)


@dataclass(frozen=True, slots=True)
class TargetingFlag(CompiledFlag):
    """A flag using section 12. `rollout` (inherited) is the boolean fallthrough."""

    boolean: bool
    bucket_by: str | None
    off_result: EvaluationResult
    prerequisite_failed: EvaluationResult
    prerequisites: tuple[tuple[str, frozenset[str]], ...]
    target_results: Mapping[str, EvaluationResult]
    rules: tuple[CompiledRule, ...]
    fallthrough_result: EvaluationResult | None  # None: a split, or a boolean's rollout
    fallthrough_split: SplitTable | None

    def is_enabled(
        self, context: object, flags: Resolver | None = None, default: bool = False
    ) -> bool:
        if not self.boolean:
            return default
        result = self.evaluate(context, flags, default)
        return default if result.reason == ERROR else bool(result.value)

    def evaluate(
        self, context: object, flags: Resolver | None = None, default: Any = None
    ) -> EvaluationResult:
        key: object
        attributes: object
        if context.__class__ is str:
            key, attributes = context, NO_ATTRIBUTES
        elif context.__class__ is dict:  # the wire form, without split_context's frame
            key, attributes = context.get("key"), context.get("attributes")
            if key.__class__ is not str or attributes.__class__ is not dict:
                key, attributes = split_context(context)
        else:
            key, attributes = split_context(context)
        if key is None:
            return error_result(default, TARGETING_KEY_MISSING)
        try:
            return self.decide(key, attributes, NO_FLAGS if flags is None else flags, 0)
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
        if not self.enabled:
            return self.off_result
        if self.prerequisites:
            if depth >= MAX_PREREQUISITE_DEPTH:
                raise Unevaluable("prerequisites nest deeper than 10 (or form a cycle)")
            # One answer per flag and call: flags that share prerequisites must not make
            # the work grow with the number of paths (up to 100**10 of them) in the graph.
            if answers is None:
                answers = {}
            by_key = flags.by_key
            for flag_key, allowed in self.prerequisites:
                answer = answers.get(flag_key)
                if answer is None:
                    prerequisite = by_key.get(flag_key)
                    if prerequisite is None:
                        return self.prerequisite_failed
                    answer = prerequisite.decide(key, attributes, flags, depth + 1, answers)
                    answers[flag_key] = answer
                if answer.reason in _FAILED_PREREQUISITE_REASONS or answer.variant not in allowed:
                    return self.prerequisite_failed
        targeted = self.target_results.get(key)
        if targeted is not None:
            return targeted
        get = attributes.get
        for strings_in, numbers, others, result, split, index, rule_id in self.rules:
            # CompiledClauses.hold, inlined: a frame per rule would cost what it saves.
            for attribute, strings, negate, general in strings_in:
                value = get(attribute)
                if value.__class__ is str:
                    if (value in strings) is negate:
                        break
                elif not general(key, attributes, flags):
                    break
            else:
                for attribute, compare, bound, negate, general in numbers:
                    value = get(attribute)
                    cls = value.__class__
                    if cls is int or cls is float:
                        if compare(bound, value) is negate:
                            break
                    elif not general(key, attributes, flags):
                        break
                else:
                    for match in others:
                        if not match(key, attributes, flags):
                            break
                    else:
                        if result is not None:
                            return result
                        return self._split(split, key, attributes, index, rule_id)  # type: ignore[arg-type]
        if self.fallthrough_result is not None:
            return self.fallthrough_result
        if self.fallthrough_split is not None:
            return self._split(self.fallthrough_split, key, attributes, None, None)
        return self._rollout(key, attributes)

    def explain(self, user_id: str, flags: Resolver | None = None) -> Evaluation:
        """Part I's explanation (flagctl eval), section 12's reasons folded into Part I's."""
        result = self.evaluate(user_id, flags)
        enabled = result.value is True
        if result.reason in (DISABLED, PREREQUISITE_FAILED):
            return Evaluation(False, "disabled")
        if result.reason == TARGETING_MATCH:
            return Evaluation(enabled, "targeted")
        if result.reason == ERROR:
            return NOT_FOUND
        return Evaluation(enabled, "rollout", result.bucket)

    def bucket_value(self, key: str, attributes: Mapping[str, Any]) -> str:
        """The `bucket_by` attribute when it is a string or an integer-valued number within
        +-(2^53-1) (as decimal digits: 17, 17.0 and "17" hash alike), else the key."""
        name = self.bucket_by
        if name is None:
            return key
        value: Any = attributes.get(name)
        cls = value.__class__
        if cls is str:
            return value  # type: ignore[no-any-return]
        if cls is int:
            return str(value) if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else key
        if cls is float:
            if value.is_integer() and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return str(int(value))
            return key
        if isinstance(value, str):
            return str.__str__(value)
        return key

    def _split(
        self,
        split: SplitTable,
        key: str,
        attributes: Mapping[str, Any],
        index: int | None,
        rule_id: str | None,
    ) -> EvaluationResult:
        text = self.bucket_value(key, attributes)
        split_bucket = hash_after_prefix(self.prefix, self.prefix_state, text) % SPLIT_TOTAL
        cumulative, variants, values = split
        entry = bisect_right(cumulative, split_bucket)
        return _new_result(
            EvaluationResult,
            (values[entry], variants[entry], SPLIT, None, index, rule_id, split_bucket),
        )

    def _rollout(self, key: str, attributes: Mapping[str, Any]) -> EvaluationResult:
        rollout = self.rollout
        if rollout <= 0:
            return _BOOLEAN_ALL_OFF
        if rollout >= 100:
            return _BOOLEAN_ALL_ON
        text = self.bucket_value(key, attributes)
        rollout_bucket = hash_after_prefix(self.prefix, self.prefix_state, text) % 100
        return (
            ROLLOUT_ON[rollout_bucket] if rollout_bucket < rollout else ROLLOUT_OFF[rollout_bucket]
        )


@dataclass(frozen=True, slots=True)
class BrokenFlag(CompiledFlag):
    """A definition this core cannot evaluate: the caller's default, ERROR / GENERAL."""

    problem: str

    def is_enabled(
        self, context: object, flags: Resolver | None = None, default: bool = False
    ) -> bool:
        return default

    def evaluate(
        self, context: object, flags: Resolver | None = None, default: Any = None
    ) -> EvaluationResult:
        if split_context(context)[0] is None:
            return error_result(default, TARGETING_KEY_MISSING)
        return error_result(default, GENERAL)

    def decide(
        self,
        key: str,
        attributes: Mapping[str, Any],
        flags: Resolver,
        depth: int,
        answers: dict[str, EvaluationResult] | None = None,
    ) -> EvaluationResult:
        return error_result(None, GENERAL)

    def explain(self, user_id: str, flags: Resolver | None = None) -> Evaluation:
        return NOT_FOUND


@dataclass(frozen=True, slots=True)
class CompiledSegment:
    segment: Segment
    included: frozenset[str]
    excluded: frozenset[str]
    rules: tuple[CompiledClauses, ...]
    problem: str = ""  # set when a rule cannot be evaluated

    def contains(self, key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
        if key in self.included:
            return True
        if key in self.excluded:
            return False
        if self.problem:
            raise Unevaluable(self.problem)  # the flag asking answers GENERAL
        return any(rule.hold(key, attributes, flags) for rule in self.rules)


def compile_segment(segment: Segment) -> CompiledSegment:
    try:
        rules = tuple(
            compile_clauses(rule.clauses, in_segment_allowed=False) for rule in segment.rules
        )
        problem = ""
    except Exception as error:
        rules, problem = (), f"segment {segment.key!r}: {error}"
    return CompiledSegment(
        segment, frozenset(segment.included), frozenset(segment.excluded), rules, problem
    )


def compile_flag(flag: Flag) -> CompiledFlag:
    """Never raises: a flag it cannot evaluate becomes a BrokenFlag."""
    if flag.is_seed_model:
        return compile_seed_flag(flag)
    prefix = f"{flag.key}:".encode()
    try:
        return _compile_targeting(flag, prefix)
    except Exception as error:
        return BrokenFlag(flag, False, 0, frozenset(), prefix, fnv1a32(prefix), str(error))


def _compile_targeting(flag: Flag, prefix: bytes) -> TargetingFlag:
    if flag.type not in FLAG_TYPES:
        raise Unevaluable(f"unknown flag type {flag.type!r}")
    values = {variant.key: variant.value for variant in flag.variants}
    if flag.off_variant not in values:
        raise Unevaluable(f"off_variant {flag.off_variant!r} is not a variant")

    def answer(
        variant: str, reason: str, index: int | None = None, rule_id: str | None = None
    ) -> EvaluationResult:
        if variant not in values:
            raise Unevaluable(f"no variant {variant!r}")
        return EvaluationResult(values[variant], variant, reason, None, index, rule_id)  # type: ignore[arg-type]

    target_results: dict[str, EvaluationResult] = {}
    for target in flag.targets:
        result = answer(target.variant, TARGETING_MATCH)
        for user in target.users:
            target_results.setdefault(user, result)  # the first target naming a user wins

    rules: list[CompiledRule] = []
    for index, rule in enumerate(flag.rules):
        clauses = compile_clauses(rule.clauses)
        groups = (clauses.strings_in, clauses.numbers, clauses.others)
        if rule.serve.variant is not None:
            served = answer(rule.serve.variant, TARGETING_MATCH, index, rule.id)
            rules.append((*groups, served, None, index, rule.id))
        else:
            rules.append((*groups, None, _split_table(rule.serve, values), index, rule.id))

    boolean = flag.type == "boolean"
    fallthrough_result: EvaluationResult | None = None
    fallthrough_split: SplitTable | None = None
    if not boolean:
        if flag.fallthrough is None:
            raise Unevaluable("a non-boolean flag needs a fallthrough")
        if flag.fallthrough.variant is not None:
            fallthrough_result = answer(flag.fallthrough.variant, DEFAULT)
        else:
            fallthrough_split = _split_table(flag.fallthrough, values)

    return TargetingFlag(
        flag=flag,
        enabled=flag.enabled,
        rollout=flag.rollout_percentage,
        targets=frozenset(),
        prefix=prefix,
        prefix_state=fnv1a32(prefix),
        boolean=boolean,
        bucket_by=flag.bucket_by,
        off_result=answer(flag.off_variant, DISABLED),
        prerequisite_failed=answer(flag.off_variant, PREREQUISITE_FAILED),
        prerequisites=tuple((p.flag, frozenset(p.variants)) for p in flag.prerequisites),
        target_results=target_results,
        rules=tuple(rules),
        fallthrough_result=fallthrough_result,
        fallthrough_split=fallthrough_split,
    )


def _split_table(serve: Serve, values: Mapping[str, Any]) -> SplitTable:
    cumulative: list[int] = []
    total = 0
    for entry in serve.split:
        if entry.variant not in values:
            raise Unevaluable(f"no variant {entry.variant!r}")
        if entry.weight < 0:
            raise Unevaluable("a negative split weight")
        total += entry.weight
        cumulative.append(total)
    if total != SPLIT_TOTAL:
        raise Unevaluable(f"split weights sum to {total}, not {SPLIT_TOTAL}")
    variants = tuple(entry.variant for entry in serve.split)
    return tuple(cumulative), variants, tuple(values[variant] for variant in variants)


# --- Part I's functions over a single flag -------------------------------------------------


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
