"""Random rule sets x random contexts (fixed seed): the compiled engine never raises and
answers exactly what a straightforward evaluator, written here from SPEC section 12 and
sharing none of the engine's compiled structures, answers.

The reference works on the Flag and Segment values as stored: it re-reads every clause on
every call, tests every (attribute element x clause value) pair, walks splits entry by
entry. It reuses only the pinned parsers (semver, RFC 3339) and the FNV-1a function, which
the vector files cover on their own. What it checks is everything compiling does: value
sets by type, the single bound of ordered operators, the fast clause table and its order,
list attributes, negation, targets merged into one dict, cumulative split tables, the
prerequisite walk, segments and the bucket value.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from flagd.core import (
    Clause,
    Flag,
    FlagSet,
    Prerequisite,
    Rule,
    Segment,
    SegmentRule,
    Serve,
    SplitEntry,
    Target,
    Variant,
    fnv1a32,
)
from flagd.core.instants import parse_rfc3339
from flagd.core.semver import precedence_key

SEED = 20241201
ROUNDS = 120
CONTEXTS_PER_ROUND = 40

USERS = ["u1", "u2", "u3", "u4", "", "用户-7", "emoji-😀", "u1 "]
ATTRIBUTES = ["country", "age", "version", "seen", "tags", "org", "score", "beta"]
STRINGS = ["DE", "FR", "de", "", "pro", "org-1", "x@example.com", "Zürich", "1", "true", "17"]
VERSIONS = ["1.0.0", "1.2.3", "1.10.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-rc.1", "2.0.0+b",
            "1.2", "v1.0.0", "01.0.0"]  # fmt: skip
INSTANTS = ["2024-01-01T00:00:00Z", "2023-12-31T23:59:59.999+01:00", "2024-06-01T10:00:00.0001Z",
            "2024-02-30T00:00:00Z", "2024-01-01", "garbage"]  # fmt: skip
NUMBERS = [0, 1, 1.0, -1, 17, 17.0, 2.5, 18, 100, 1704067200000, 1704067199999.5, 2**53 + 1]
OPS = ["in", "starts_with", "ends_with", "contains", "lt", "lte", "gt", "gte", "before", "after",
       "semver_eq", "semver_lt", "semver_gt", "in_segment"]  # fmt: skip


# --- random definitions --------------------------------------------------------------------


def scalar(rng: random.Random) -> Any:
    pool = rng.choice([STRINGS, VERSIONS, INSTANTS, NUMBERS, [True, False]])
    return rng.choice(pool)


def attribute_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.3:
        return [scalar(rng) for _ in range(rng.randint(0, 3))]
    if roll < 0.33:
        return {"nested": 1}
    return scalar(rng)


def clause_values(rng: random.Random, op: str, segments: list[str]) -> tuple[Any, ...]:
    count = rng.randint(1, 3)
    if op == "in_segment":
        return tuple(rng.choice([*segments, "missing-segment"]) for _ in range(count))
    if op == "in":
        return tuple(scalar(rng) for _ in range(count))
    if op in ("lt", "lte", "gt", "gte"):
        return tuple(rng.choice(NUMBERS) for _ in range(count))
    if op in ("before", "after"):
        return tuple(rng.choice([*INSTANTS, 1704067200000, 1717236000000.5]) for _ in range(count))
    if op.startswith("semver"):
        return tuple(rng.choice(VERSIONS) for _ in range(count))
    return tuple(rng.choice(STRINGS) for _ in range(count))


def clause(rng: random.Random, segments: list[str], in_segment: bool = True) -> Clause:
    op = rng.choice(OPS if in_segment else OPS[:-1])
    attribute = rng.choice([*ATTRIBUTES, "key"])
    return Clause(attribute, op, clause_values(rng, op, segments), rng.random() < 0.3)


def serve(rng: random.Random, variants: list[str]) -> Serve:
    if rng.random() < 0.6:
        return Serve(variant=rng.choice(variants))
    chosen = rng.sample(variants, rng.randint(1, len(variants)))
    cuts = sorted(rng.randint(0, 100_000) for _ in range(len(chosen) - 1))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 100_000], strict=True)]
    return Serve(split=tuple(SplitEntry(v, w) for v, w in zip(chosen, weights, strict=True)))


def random_flag(rng: random.Random, key: str, earlier: list[str], segments: list[str]) -> Flag:
    flag_type = rng.choice(["boolean", "boolean", "string", "number", "json"])
    if flag_type == "boolean":
        keys = ["on", "off"]
        variants: tuple[Variant, ...] = ()
    else:
        keys = [f"v{n}" for n in range(rng.randint(1, 4))]
        value = {"string": str, "number": float, "json": lambda n: {"n": [n]}}[flag_type]
        variants = tuple(Variant(k, value(n)) for n, k in enumerate(keys))  # type: ignore[operator]
    users = rng.sample(USERS, rng.randint(0, 4))
    targets = []
    for variant in rng.sample(keys, rng.randint(0, len(keys))):
        taken, users = users[:1], users[1:]
        if taken:
            targets.append(Target(variant, tuple(taken)))
    rules = tuple(
        Rule(
            f"rule-{n}",
            tuple(clause(rng, segments) for _ in range(rng.randint(0, 3))),
            serve(rng, keys),
        )
        for n in range(rng.randint(0, 5))
    )
    prerequisites = tuple(
        Prerequisite(other, tuple(rng.sample(["on", "off", "v0", "v1"], rng.randint(1, 2))))
        for other in rng.sample(
            [*earlier, "unknown-flag"], min(len(earlier) + 1, rng.randint(0, 2))
        )
    )
    on_users = next((t.users for t in targets if t.variant == "on"), ())
    return Flag(
        id=key, key=key, description="", enabled=rng.random() < 0.85,
        rollout_percentage=rng.choice([0, 1, 50, 99, 100]) if flag_type == "boolean" else 0,
        targeted_users=on_users, version=1, created_at="", updated_at="",
        type=flag_type, variants=variants, off_variant=rng.choice(keys), targets=tuple(targets),  # type: ignore[arg-type]
        rules=rules, fallthrough=None if flag_type == "boolean" else serve(rng, keys),
        prerequisites=prerequisites, bucket_by=rng.choice([None, None, "org", "age", "key"]),
    )  # fmt: skip


def random_segment(rng: random.Random, key: str) -> Segment:
    rules = tuple(
        SegmentRule(tuple(clause(rng, [], in_segment=False) for _ in range(rng.randint(0, 2))))
        for _ in range(rng.randint(0, 2))
    )
    return Segment(
        key, key, "", tuple(rng.sample(USERS, 2)), tuple(rng.sample(USERS, 2)), rules, 1, "", ""
    )


def random_context(rng: random.Random) -> Any:
    attributes = {name: attribute_value(rng) for name in rng.sample(ATTRIBUTES, rng.randint(0, 6))}
    roll = rng.random()
    if roll < 0.05:
        return {"attributes": attributes}
    if roll < 0.1:
        return rng.choice(USERS)
    return {"key": rng.choice(USERS), "attributes": attributes}


# --- the reference evaluator ---------------------------------------------------------------


class TooDeep(Exception):
    pass


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def instant(value: Any) -> Any:
    if isinstance(value, str):
        return parse_rfc3339(value)
    return value if is_number(value) else None


def pair_holds(op: str, attribute: Any, value: Any) -> bool:
    if op == "in":
        if isinstance(attribute, bool) or isinstance(value, bool):
            return isinstance(attribute, bool) and isinstance(value, bool) and attribute == value
        if isinstance(attribute, str) or isinstance(value, str):
            return isinstance(attribute, str) and isinstance(value, str) and attribute == value
        return is_number(attribute) and is_number(value) and attribute == value
    if op in ("starts_with", "ends_with", "contains"):
        if not (isinstance(attribute, str) and isinstance(value, str)):
            return False
        if op == "starts_with":
            return attribute.startswith(value)
        return attribute.endswith(value) if op == "ends_with" else value in attribute
    if op in ("lt", "lte", "gt", "gte"):
        if not (is_number(attribute) and is_number(value)):
            return False
        return {"lt": attribute < value, "lte": attribute <= value,
                "gt": attribute > value, "gte": attribute >= value}[op]  # fmt: skip
    if op in ("before", "after"):
        a, v = instant(attribute), instant(value)
        if a is None or v is None:
            return False
        return a < v if op == "before" else a > v
    if not (isinstance(attribute, str) and isinstance(value, str)):
        return False
    a, v = precedence_key(attribute), precedence_key(value)
    if a is None or v is None:
        return False
    return {"semver_eq": a == v, "semver_lt": a < v, "semver_gt": a > v}[op]


class Reference:
    def __init__(self, flags: list[Flag], segments: list[Segment]) -> None:
        self.flags = {flag.key: flag for flag in flags}
        self.segments = {segment.key: segment for segment in segments}

    def evaluate(self, key: str, context: Any, default: Any) -> dict[str, Any]:
        def error(code: str) -> dict[str, Any]:
            return {"value": default, "variant": None, "reason": "ERROR", "error_code": code}

        if key not in self.flags:
            return error("FLAG_NOT_FOUND")
        if isinstance(context, str):
            user, attributes = context, {}
        else:
            user, attributes = context.get("key"), context.get("attributes") or {}
        if not isinstance(user, str):
            return error("TARGETING_KEY_MISSING")
        try:
            return self.decide(self.flags[key], user, attributes, 0)
        except TooDeep:
            return error("GENERAL")

    def decide(
        self, flag: Flag, user: str, attributes: dict[str, Any], depth: int
    ) -> dict[str, Any]:
        values = {variant.key: variant.value for variant in flag.variants}

        def answer(variant: str, reason: str, **more: Any) -> dict[str, Any]:
            return {"value": values[variant], "variant": variant, "reason": reason, **more}

        if not flag.enabled:
            return answer(flag.off_variant, "DISABLED")
        for prerequisite in flag.prerequisites:
            if depth >= 10:
                raise TooDeep
            other = self.flags.get(prerequisite.flag)
            if other is None:
                return answer(flag.off_variant, "PREREQUISITE_FAILED")
            result = self.decide(other, user, attributes, depth + 1)
            failed = result["reason"] in ("DISABLED", "PREREQUISITE_FAILED", "ERROR")
            if failed or result["variant"] not in prerequisite.variants:
                return answer(flag.off_variant, "PREREQUISITE_FAILED")
        for target in flag.targets:
            if user in target.users:
                return answer(target.variant, "TARGETING_MATCH")
        for index, rule in enumerate(flag.rules):
            if all(self.clause_holds(c, user, attributes) for c in rule.clauses):
                where = {"rule_index": index, "rule_id": rule.id}
                if rule.serve.variant is not None:
                    return answer(rule.serve.variant, "TARGETING_MATCH", **where)
                variant, bucket = self.split(flag, rule.serve, user, attributes)
                return answer(variant, "SPLIT", **where, bucket=bucket)
        if flag.type == "boolean":
            pct = flag.rollout_percentage
            if pct <= 0 or pct >= 100:
                return answer("on" if pct >= 100 else "off", "DEFAULT")
            bucket = self.hash(flag, user, attributes) % 100
            return answer("on" if bucket < pct else "off", "SPLIT", bucket=bucket)
        assert flag.fallthrough is not None
        if flag.fallthrough.variant is not None:
            return answer(flag.fallthrough.variant, "DEFAULT")
        variant, bucket = self.split(flag, flag.fallthrough, user, attributes)
        return answer(variant, "SPLIT", bucket=bucket)

    def clause_holds(self, clause: Clause, user: str, attributes: dict[str, Any]) -> bool:
        if clause.op == "in_segment":
            held = any(self.in_segment(name, user, attributes) for name in clause.values)
            return held != clause.negate
        value = user if clause.attribute == "key" else attributes.get(clause.attribute)
        if value is None:
            return False
        elements = value if isinstance(value, list) else [value]
        held = any(pair_holds(clause.op, e, v) for e in elements for v in clause.values)
        return held != clause.negate

    def in_segment(self, name: Any, user: str, attributes: dict[str, Any]) -> bool:
        segment = self.segments.get(name)
        if segment is None:
            return False
        if user in segment.included:
            return True
        if user in segment.excluded:
            return False
        return any(
            all(self.clause_holds(c, user, attributes) for c in rule.clauses)
            for rule in segment.rules
        )

    def split(
        self, flag: Flag, serve: Serve, user: str, attributes: dict[str, Any]
    ) -> tuple[str, int]:
        bucket = self.hash(flag, user, attributes) % 100_000
        total = 0
        for entry in serve.split:
            total += entry.weight
            if bucket < total:
                return entry.variant, bucket
        raise AssertionError("weights sum to 100000")

    def hash(self, flag: Flag, user: str, attributes: dict[str, Any]) -> int:
        value = attributes.get(flag.bucket_by) if flag.bucket_by not in (None, "key") else None
        if isinstance(value, str):
            text = value
        elif is_number(value) and float(value).is_integer() and abs(value) <= 2**53 - 1:
            text = str(int(value))
        else:
            text = user
        return fnv1a32(f"{flag.key}:{text}".encode())


# --- the property --------------------------------------------------------------------------


def wire(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def test_compiled_evaluation_equals_the_reference(hash_path: str) -> None:
    rng = random.Random(SEED)
    compared = splits = rules_matched = segments_used = 0
    for round_number in range(ROUNDS):
        segments = [random_segment(rng, f"seg-{round_number}-{n}") for n in range(3)]
        segment_keys = [segment.key for segment in segments]
        flags: list[Flag] = []
        for n in range(10):
            flags.append(random_flag(rng, f"f{n}", [f.key for f in flags], segment_keys))
        compiled = FlagSet.from_flags(flags, 1, segments)
        reference = Reference(flags, segments)
        keys = [flag.key for flag in flags] + ["absent"]
        for _ in range(CONTEXTS_PER_ROUND):
            context = random_context(rng)
            everything = compiled.evaluate_all(context, keys, {"absent": "d"})
            for key in keys:
                expected = reference.evaluate(key, context, "d" if key == "absent" else None)
                got = compiled.evaluate(key, context, "d" if key == "absent" else None).to_dict()
                assert wire(got) == wire(expected), (round_number, key, context, flags)
                assert wire(everything[key].to_dict()) == wire(expected)
                compared += 1
                splits += expected["reason"] == "SPLIT"
                rules_matched += "rule_index" in expected
            segments_used += any(
                c.op == "in_segment" for f in flags for r in f.rules for c in r.clauses
            )
    # The generator reaches the interesting paths, not just fallthroughs.
    assert compared == ROUNDS * CONTEXTS_PER_ROUND * 11
    assert splits > 1000 and rules_matched > 1000 and segments_used > 100


@pytest.mark.parametrize("seed", range(3))
def test_odd_contexts_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    segments = [random_segment(rng, f"seg-{n}") for n in range(3)]
    flags: list[Flag] = []
    for n in range(10):
        flags.append(random_flag(rng, f"f{n}", [f.key for f in flags], [s.key for s in segments]))
    compiled = FlagSet.from_flags(flags, 1, segments)
    odd = [
        None,
        7,
        [],
        {"key": 1},
        {"key": "u", "attributes": "x"},
        "\udc80",
        {"key": "u", "attributes": {"country": object(), "age": float("nan"), "org": 1e308}},
        {"key": "u", "attributes": {"tags": [[1], {"a": 1}, None], "seen": float("inf")}},
    ]
    for context in odd:
        for flag in flags:
            compiled.evaluate(flag.key, context)
            compiled.is_enabled(flag.key, context)
        compiled.evaluate_all(context)
