"""Clauses compiled to matchers: `match(key, attributes, flags) -> bool` (SPEC section 12).

Everything that depends only on the clause is done here, once: value sets split by JSON
type, the one bound an ordering operator needs (`x < any of [10, 20]` is `x < 20`),
parsed instants and versions. At evaluation a matcher reads one attribute and does the
comparison, with no parsing of its own values.

Semantics, in one place: the attribute `key` is the context key; any other name is looked
up in the attributes, and a missing (or null) attribute never matches, even negated. A
list attribute holds when any element holds. A clause holds when any (element x value)
pair holds; `negate` inverts that for a present attribute, so a value of the wrong type,
which holds for no pair, matches under `negate`. No coercion between types: `in` compares
strings code point for code point, numbers by value (1 == 1.0) and booleans only with
booleans.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .evaluation import Resolver
from .instants import Instant, cached_parse_rfc3339, instant_of
from .semver import PrecedenceKey, cached_precedence_key, precedence_key
from .targeting import Clause

Matcher = Callable[[str, Mapping[str, Any], Resolver], bool]
ScalarTest = Callable[[Any], bool]
# The two commonest clauses as table entries that a caller tests inline, without a Python
# frame per clause (about a fifth less time for a 5 x 3 rule list). `general` decides
# whenever the attribute is not of the entry's type (missing, a list, another type).
# (attribute, string values, negate, general): holds iff (value in strings) is not negate.
StringIn = tuple[str, frozenset[str], bool, Matcher]
# (attribute, compare, bound, negate, general): holds iff compare(bound, value) is not negate.
NumberCompare = tuple[str, Callable[[Any, Any], bool], Any, bool, Matcher]


class Unevaluable(ValueError):
    """A definition this core cannot evaluate (e.g. an operator from a newer server)."""


@dataclass(frozen=True, slots=True)
class CompiledClauses:
    """One rule's clauses, all of which must hold: `in` on an attribute, the number
    operators on an attribute, then the rest as matchers. Clauses are pure, so testing
    them in this order rather than as written does not change the answer."""

    strings_in: tuple[StringIn, ...]
    numbers: tuple[NumberCompare, ...]
    others: tuple[Matcher, ...]

    def hold(self, key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
        # TargetingFlag.decide inlines these loops on its hot path: keep the two alike.
        get = attributes.get
        for attribute, strings, negate, general in self.strings_in:
            value = get(attribute)
            if value.__class__ is str:
                if (value in strings) is negate:
                    return False
            elif not general(key, attributes, flags):
                return False
        for attribute, compare, bound, negate, general in self.numbers:
            value = get(attribute)
            cls = value.__class__
            if cls is int or cls is float:
                if compare(bound, value) is negate:
                    return False
            elif not general(key, attributes, flags):
                return False
        for match in self.others:  # noqa: SIM110 (a loop is cheaper than all() + a generator)
            if not match(key, attributes, flags):
                return False
        return True


def compile_clauses(
    clauses: tuple[Clause, ...], *, in_segment_allowed: bool = True
) -> CompiledClauses:
    strings_in: list[StringIn] = []
    numbers: list[NumberCompare] = []
    others: list[Matcher] = []
    for clause in clauses:
        general = compile_clause(clause, in_segment_allowed=in_segment_allowed)
        attribute, op, values, negate = clause.attribute, clause.op, clause.values, clause.negate
        bounds = [value for value in values if _is_number(value)]
        if attribute == "key":
            others.append(general)
        elif op == "in":
            strings = frozenset(value for value in values if isinstance(value, str))
            strings_in.append((attribute, strings, negate, general))
        elif op in _BOUND_FIRST and bounds:
            numbers.append((attribute, _BOUND_FIRST[op], _bound(op, bounds), negate, general))
        else:
            others.append(general)
    return CompiledClauses(tuple(strings_in), tuple(numbers), tuple(others))


# `value OP bound` written bound first: operator.le(bound, value) is value >= bound.
_BOUND_FIRST = {"lt": operator.gt, "lte": operator.ge, "gt": operator.lt, "gte": operator.le}


def compile_clause(clause: Clause, *, in_segment_allowed: bool = True) -> Matcher:
    op, values, negate = clause.op, clause.values, clause.negate
    if op == "in_segment":
        if not in_segment_allowed:
            raise Unevaluable("in_segment inside a segment rule")
        return _in_segment([value for value in values if isinstance(value, str)], negate)
    if op == "in":
        return _in(clause.attribute, values, negate)
    return _ordered_operator(clause.attribute, op, values, negate)


def _attribute_matcher(attribute: str, test: ScalarTest, negate: bool) -> Matcher:
    if attribute == "key":

        def match_key(key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
            return test(key) != negate

        return match_key

    def match(key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
        value = attributes.get(attribute)
        if value is None:
            return False
        if value.__class__ is list or value.__class__ is tuple:
            for element in value:
                if test(element):
                    return not negate
            return negate
        return test(value) != negate

    return match


# --- in ------------------------------------------------------------------------------------


def _in(attribute: str, values: tuple[Any, ...], negate: bool) -> Matcher:
    strings = frozenset(value for value in values if isinstance(value, str))
    booleans = frozenset(value for value in values if isinstance(value, bool))
    numbers = frozenset(value for value in values if _is_number(value))

    def test(value: Any) -> bool:
        cls = value.__class__
        if cls is str:
            return value in strings
        if cls is bool:
            return value in booleans
        if cls is int or cls is float:
            return value in numbers
        if isinstance(value, bool):
            return value in booleans
        if isinstance(value, str):
            return value in strings
        return _is_number(value) and value in numbers

    if attribute == "key":

        def match_key(key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
            return (key in strings) != negate

        return match_key

    general = _attribute_matcher(attribute, test, negate)

    def match(key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
        value = attributes.get(attribute)
        if value.__class__ is str:  # the common case, without a second call
            return (value in strings) != negate
        return general(key, attributes, flags)

    return match


# --- the other attribute operators ---------------------------------------------------------
#
# Each matcher tests the attribute's most likely type inline (one Python frame per clause:
# a 5 rules x 3 clauses flag evaluates in about a microsecond) and hands any other shape
# (lists, other types, subclasses) to the general matcher built from the same test.

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "before": operator.lt,
    "after": operator.gt,
    "semver_lt": operator.lt,
    "semver_gt": operator.gt,
}


def _bound(op: str, values: list[Any]) -> Any:
    """`x < any of values` is `x < max(values)`; `x > any of values` is `x > min(values)`."""
    return max(values) if _COMPARE[op] in (operator.lt, operator.le) else min(values)


def _ordered_operator(attribute: str, op: str, values: tuple[Any, ...], negate: bool) -> Matcher:
    if op in ("starts_with", "ends_with", "contains"):
        strings = tuple(value for value in values if isinstance(value, str))
        return _string_matcher(attribute, op, strings, negate)
    if op in ("lt", "lte", "gt", "gte"):
        return _number_matcher(attribute, op, [v for v in values if _is_number(v)], negate)
    if op in ("before", "after"):
        instants = [instant_of(value) for value in values]
        return _instant_matcher(attribute, op, [i for i in instants if i is not None], negate)
    if op in ("semver_eq", "semver_lt", "semver_gt"):
        keys = [precedence_key(value) for value in values if isinstance(value, str)]
        return _semver_matcher(attribute, op, [key for key in keys if key is not None], negate)
    raise Unevaluable(f"unknown operator {op!r}")


def _string_matcher(attribute: str, op: str, strings: tuple[str, ...], negate: bool) -> Matcher:
    if op == "contains":

        def contains(value: Any) -> bool:
            return isinstance(value, str) and any(part in value for part in strings)

        return _attribute_matcher(attribute, contains, negate)
    method = str.startswith if op == "starts_with" else str.endswith

    def test(value: Any) -> bool:
        return isinstance(value, str) and method(value, strings)

    general = _attribute_matcher(attribute, test, negate)
    if attribute == "key":
        return general

    def match(key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
        value = attributes.get(attribute)
        if value.__class__ is str:
            return method(value, strings) != negate
        return general(key, attributes, flags)

    return match


def _number_matcher(attribute: str, op: str, numbers: list[int | float], negate: bool) -> Matcher:
    if not numbers:
        return _attribute_matcher(attribute, _never, negate)
    compare, bound = _COMPARE[op], _bound(op, numbers)

    def test(value: Any) -> bool:
        return _is_number(value) and compare(value, bound)

    general = _attribute_matcher(attribute, test, negate)
    if attribute == "key":
        return general

    def match(key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
        value = attributes.get(attribute)
        cls = value.__class__
        if cls is int or cls is float:
            return compare(value, bound) != negate
        return general(key, attributes, flags)

    return match


def _instant_matcher(attribute: str, op: str, instants: list[Instant], negate: bool) -> Matcher:
    if not instants:
        return _attribute_matcher(attribute, _never, negate)
    compare, bound = _COMPARE[op], _bound(op, instants)

    def test(value: Any) -> bool:
        instant = instant_of(value)
        return instant is not None and compare(instant, bound)

    general = _attribute_matcher(attribute, test, negate)
    if attribute == "key":
        return general

    def match(key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
        value = attributes.get(attribute)
        if value.__class__ is str:
            instant = cached_parse_rfc3339(value)
            return (instant is not None and compare(instant, bound)) != negate
        return general(key, attributes, flags)

    return match


def _semver_matcher(attribute: str, op: str, keys: list[PrecedenceKey], negate: bool) -> Matcher:
    if not keys:
        return _attribute_matcher(attribute, _never, negate)
    if op == "semver_eq":
        wanted = frozenset(keys)

        def holds(key: PrecedenceKey | None) -> bool:
            return key in wanted

    else:
        compare, bound = _COMPARE[op], _bound(op, keys)

        def holds(key: PrecedenceKey | None) -> bool:
            return key is not None and compare(key, bound)

    def test(value: Any) -> bool:
        return isinstance(value, str) and holds(cached_precedence_key(value))

    return _attribute_matcher(attribute, test, negate)


# --- in_segment ----------------------------------------------------------------------------


def _in_segment(segment_keys: list[str], negate: bool) -> Matcher:
    """Ignores `attribute`; a segment the flag set does not hold contains nobody."""
    names = tuple(dict.fromkeys(segment_keys))

    def match(key: str, attributes: Mapping[str, Any], flags: Resolver) -> bool:
        segments = flags.segments
        for name in names:
            segment = segments.get(name)
            if segment is not None and segment.contains(key, attributes, flags):
                return not negate
        return negate

    return match


def _is_number(value: Any) -> bool:
    cls = value.__class__
    if cls is int or cls is float:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def _never(value: Any) -> bool:
    return False
