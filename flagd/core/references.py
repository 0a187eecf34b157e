"""Checks across objects (SPEC section 12): what a flag may name among the other flags and
segments, and which flags hold a segment.

Pure functions over the current flags and segments by key; the store calls them inside its
write transaction, with the flag about to be written. An unknown prerequisite flag is legal
(it fails at evaluation); an unknown segment, a prerequisite variant its flag does not
have, a cycle or a chain deeper than 10 are not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import SegmentInUse, ValidationError
from .flag import Flag
from .segment import Segment

MAX_PREREQUISITE_DEPTH = 10  # prerequisite links in the longest chain through one flag


def check_flag_references(
    flag: Flag, flags_by_key: Mapping[str, Flag], segments_by_key: Mapping[str, Segment]
) -> None:
    """Raise ValidationError (400) when `flag`, as it would be stored among `flags_by_key`
    (which may hold its previous version), names what it may not."""
    for rule_index, rule in enumerate(flag.rules):
        for clause_index, clause in enumerate(rule.clauses):
            if clause.op != "in_segment":
                continue
            for value_index, value in enumerate(clause.values):
                if value not in segments_by_key:
                    raise ValidationError(
                        f"rules[{rule_index}].clauses[{clause_index}].values[{value_index}]",
                        f"no segment {value!r}",
                    )
    for index, prerequisite in enumerate(flag.prerequisites):
        other = flags_by_key.get(prerequisite.flag)
        if other is None or other.key == flag.key:
            continue
        other_variants = {variant.key for variant in other.variants}
        for variant_index, variant in enumerate(prerequisite.variants):
            if variant not in other_variants:
                raise ValidationError(
                    f"prerequisites[{index}].variants[{variant_index}]",
                    f"flag {other.key!r} has no variant {variant!r}",
                )
    _check_dependents_keep_their_variants(flag, flags_by_key)
    _check_prerequisite_graph(flag, flags_by_key)


def flags_using_segment(flags: Iterable[Flag], segment_key: str) -> list[str]:
    """Keys of the flags whose rules name `segment_key` in an in_segment clause."""
    return [
        flag.key
        for flag in flags
        if any(
            clause.op == "in_segment" and segment_key in clause.values
            for rule in flag.rules
            for clause in rule.clauses
        )
    ]


def check_segment_unused(segment_key: str, flags: Iterable[Flag]) -> None:
    """Raise SegmentInUse (409 segment_in_use) when a flag still names the segment."""
    users = flags_using_segment(flags, segment_key)
    if users:
        raise SegmentInUse(segment_key, users)


def _check_dependents_keep_their_variants(flag: Flag, flags_by_key: Mapping[str, Flag]) -> None:
    variants = {variant.key for variant in flag.variants}
    for other in flags_by_key.values():
        if other.key == flag.key:
            continue
        for prerequisite in other.prerequisites:
            if prerequisite.flag != flag.key:
                continue
            missing = [variant for variant in prerequisite.variants if variant not in variants]
            if missing:
                raise ValidationError(
                    "variants",
                    f"flag {other.key!r} requires variant {missing[0]!r} of this flag "
                    "as a prerequisite; change that flag first",
                )


def _check_prerequisite_graph(flag: Flag, flags_by_key: Mapping[str, Flag]) -> None:
    graph = {key: [p.flag for p in other.prerequisites] for key, other in flags_by_key.items()}
    graph[flag.key] = [p.flag for p in flag.prerequisites]
    for index, required in enumerate(flag.prerequisites):
        path = _path_to(required.flag, flag.key, graph)
        if path is not None:
            chain = " → ".join([flag.key, *path])
            raise ValidationError(
                f"prerequisites[{index}].flag", f"prerequisites may not form a cycle ({chain})"
            )
    below = _longest_chain(flag.key, graph, {})
    dependents: dict[str, list[str]] = {}
    for key, required_keys in graph.items():
        for required_key in required_keys:
            dependents.setdefault(required_key, []).append(key)
    above = _longest_chain(flag.key, dependents, {})
    if above + below > MAX_PREREQUISITE_DEPTH:
        raise ValidationError(
            "prerequisites",
            f"a prerequisite chain through this flag would have {above + below} links; "
            f"at most {MAX_PREREQUISITE_DEPTH}",
        )


def _path_to(start: str, target: str, graph: Mapping[str, list[str]]) -> list[str] | None:
    """A path of prerequisite links from `start` to `target`, or None (the graph outside
    the flag being written is acyclic, as every write keeps it)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        key, path = stack.pop()
        if key == target:
            return path
        if key in seen:
            continue
        seen.add(key)
        stack.extend((nxt, [*path, nxt]) for nxt in graph.get(key, ()))
    return None


def _longest_chain(key: str, graph: Mapping[str, list[str]], memo: dict[str, int]) -> int:
    """Links in the longest path from `key` along `graph` (acyclic once checked)."""
    if key not in memo:
        memo[key] = 0  # guards against a cycle elsewhere in stored data
        memo[key] = max(
            (1 + _longest_chain(nxt, graph, memo) for nxt in graph.get(key, ())), default=0
        )
    return memo[key]
