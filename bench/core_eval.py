"""flagd.core evaluation: ns per call for section 12's engine, against Part I's path.

    .venv/bin/python -m bench.core_eval                   # about a minute
    .venv/bin/python -m bench.core_eval --users 50000 --repeats 9 --pure

Measured in one process, the contenders taking turns in each repeat so that load elsewhere
on the machine hits all alike; every figure is the median of the repeats, as wall time
(perf_counter) and as this process's CPU time (process_time, steadier on a shared machine).
The loop's own cost is included. No network, no daemon: the core alone, as the SDK
embeds it (the SDK adds one frame of its own, FlagReader's, to each call).

Cases:
- seed-model `is_enabled`: Part I's CompiledFlag (a verbatim copy of the code this engine
  replaced) against the new CompiledFlag called the SDK's way (dict lookup + method) and
  through FlagSet.is_enabled, with a string and with a dict context;
- 5 rules x 3 clauses, the last rule matching: the earlier rules failing at their first
  clause (typical) and at their last (worst case), through FlagSet.evaluate;
- `evaluate` (full result) of a seed-model flag and of a split;
- `evaluate_all` over 1,000 mixed flags (seed-model, rules, splits, prerequisites, segments).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import string
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import flag_body, machine_notes_markdown, markdown_table, wait_for_quiet
from flagd.core import Flag, FlagSet, Segment, evaluation, parse_create, parse_segment_create
from flagd.core.mutations import new_flag, new_segment

KEY = "new-checkout-flow"
NOW = "2024-01-01T00:00:00.000Z"


# --- Part I's compiled flag, verbatim (git show 093aa95:flagd/core/evaluation.py) --------


@dataclass(frozen=True, slots=True)
class PartOneCompiledFlag:
    enabled: bool
    rollout: int
    targets: frozenset[str]
    prefix: bytes
    prefix_state: int

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
        fast = evaluation._fast_fnv1a32
        if fast is not None:
            return fast(self.prefix + user_id.encode()) % 100 < rollout
        return evaluation.fnv1a32(user_id.encode(), self.prefix_state) % 100 < rollout


def part_one(flag: Flag) -> PartOneCompiledFlag:
    prefix = f"{flag.key}:".encode()
    return PartOneCompiledFlag(
        flag.enabled,
        flag.rollout_percentage,
        frozenset(flag.targeted_users),
        prefix,
        evaluation.fnv1a32(prefix),
    )


# --- flags ---------------------------------------------------------------------------------


_rule_ids = itertools.count()


def build(body: dict[str, Any]) -> Flag:
    return new_flag(parse_create(body), f"id-{body['key']}", NOW, lambda: f"r{next(_rule_ids)}")


def seed_flag() -> Flag:
    return build({"key": KEY, "enabled": True, "rollout_percentage": 25,
                  "targeted_users": ["user-1", "user-3"]})  # fmt: skip


def five_by_three(fail_at: int) -> Flag:
    """Rules 0-3 fail at clause `fail_at`; rule 4 matches {country DE, plan pro, age 30}."""
    matching = [
        {"attribute": "country", "op": "in", "values": ["DE", "AT", "CH"]},
        {"attribute": "plan", "op": "in", "values": ["pro", "team"]},
        {"attribute": "age", "op": "gte", "values": [18]},
    ]
    failing = [
        {"attribute": "country", "op": "in", "values": ["FR"]},
        {"attribute": "plan", "op": "in", "values": ["free"]},
        {"attribute": "age", "op": "gte", "values": [99]},
    ]
    rules = []
    for index in range(5):
        clauses = list(matching)
        if index < 4:
            clauses[fail_at] = failing[fail_at]
        rules.append({"id": f"rule-{index}", "clauses": clauses, "serve": {"variant": "b"}})
    return build({
        "key": f"five-by-three-{fail_at}", "type": "string", "enabled": True,
        "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
        "off_variant": "a", "fallthrough": {"variant": "a"}, "rules": rules,
    })  # fmt: skip


def split_flag() -> Flag:
    return build({
        "key": "split-thirds", "type": "string", "enabled": True,
        "variants": [{"key": k, "value": k} for k in ("red", "green", "blue")],
        "off_variant": "red",
        "fallthrough": {"split": [{"variant": "red", "weight": 33333},
                                  {"variant": "green", "weight": 33333},
                                  {"variant": "blue", "weight": 33334}]},
    })  # fmt: skip


def mixed_flags(count: int, rng: random.Random) -> tuple[list[Flag], list[Segment]]:
    """60 % seed-model, 15 % boolean with rules, 15 % string with rules and splits,
    5 % with a prerequisite, 5 % with an in_segment rule."""
    segments = [
        new_segment(parse_segment_create({
            "key": f"segment-{n}", "included": [f"user-{i}" for i in range(n, 200, 7)],
            "rules": [{"clauses": [{"attribute": "email", "op": "ends_with",
                                    "values": [f"@org{n}.example"]}]}],
        }), f"segment-{n}", NOW)
        for n in range(5)
    ]  # fmt: skip
    flags: list[Flag] = []
    for index in range(count):
        body = flag_body(index, rng)
        roll = rng.random()
        country = rng.choice(["DE", "FR", "US", "JP"])
        if roll < 0.60:
            flags.append(build(body))
            continue
        if roll < 0.75:
            body["rules"] = [
                {"clauses": [{"attribute": "country", "op": "in", "values": [country]}],
                 "serve": {"variant": "on"}},
                {"clauses": [{"attribute": "age", "op": "lt", "values": [18]}],
                 "serve": {"variant": "off"}},
            ]  # fmt: skip
        else:
            body.pop("rollout_percentage")
            body.pop("targeted_users")
            body.update({
                "type": "string", "off_variant": "a", "fallthrough": {"variant": "a"},
                "variants": [{"key": k, "value": k.upper()} for k in ("a", "b", "c")],
                "rules": [{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
                           "serve": {"split": [{"variant": "b", "weight": 50000},
                                               {"variant": "c", "weight": 50000}]}}],
            })  # fmt: skip
        if 0.90 <= roll < 0.95 and flags:
            body["prerequisites"] = [{"flag": flags[0].key, "variants": ["on"]}]
        if roll >= 0.95:
            body.setdefault("rules", []).insert(0, {
                "clauses": [{"attribute": "key", "op": "in_segment",
                             "values": [f"segment-{index % 5}"]}],
                "serve": {"variant": "on" if "type" not in body else "b"},
            })  # fmt: skip
        flags.append(build(body))
    return flags, segments


# --- measuring -----------------------------------------------------------------------------

Loop = Callable[[], None]


@dataclass
class Case:
    name: str
    loop: Loop
    calls: int  # per loop
    wall_ns: list[float]
    cpu_ns: list[float]


def measure(cases: list[Case], repeats: int) -> None:
    for _ in range(repeats):
        for case in cases:
            wall, cpu = time.perf_counter_ns(), time.process_time_ns()
            case.loop()
            case.cpu_ns.append((time.process_time_ns() - cpu) / case.calls)
            case.wall_ns.append((time.perf_counter_ns() - wall) / case.calls)


def case(name: str, loop: Loop, calls: int) -> Case:
    return Case(name, loop, calls, [], [])


def seed_cases(users: Sequence[str]) -> list[Case]:
    flag = seed_flag()
    old_by_key = {KEY: part_one(flag)}
    flags = FlagSet.from_flags([flag], 1)
    new_by_key = flags.by_key
    contexts = [{"key": user, "attributes": {"country": "DE"}} for user in users]

    def old_path() -> None:
        get = old_by_key.get
        for user in users:
            get(KEY).is_enabled(user)  # type: ignore[union-attr]

    def new_path() -> None:
        get = new_by_key.get
        for user in users:
            get(KEY).is_enabled(user, flags, False)  # type: ignore[union-attr]

    def container() -> None:
        is_enabled = flags.is_enabled
        for user in users:
            is_enabled(KEY, user)

    def container_dict() -> None:
        is_enabled = flags.is_enabled
        for context in contexts:
            is_enabled(KEY, context)

    def full_result() -> None:
        evaluate = flags.evaluate
        for user in users:
            evaluate(KEY, user)

    n = len(users)
    return [
        case("seed is_enabled: Part I CompiledFlag (dict get + method)", old_path, n),
        case("seed is_enabled: new CompiledFlag (dict get + method, SDK style)", new_path, n),
        case("seed is_enabled: FlagSet.is_enabled(key, user)", container, n),
        case("seed is_enabled: FlagSet.is_enabled(key, dict context)", container_dict, n),
        case("seed evaluate: FlagSet.evaluate(key, user) full result", full_result, n),
    ]


def targeting_cases(users: Sequence[str]) -> list[Case]:
    typical, worst, split = five_by_three(0), five_by_three(2), split_flag()
    flags = FlagSet.from_flags([typical, worst, split], 1)
    contexts = [
        {"key": user, "attributes": {"country": "DE", "plan": "pro", "age": 30}} for user in users
    ]
    for flag in (typical, worst):
        assert flags.evaluate(flag.key, contexts[0]).rule_index == 4

    def rules(key: str) -> Loop:
        def loop() -> None:
            evaluate = flags.evaluate
            for context in contexts:
                evaluate(key, context)

        return loop

    n = len(users)
    return [
        case("5 rules x 3 clauses, last matches; others fail at clause 1", rules(typical.key), n),
        case("5 rules x 3 clauses, last matches; others fail at clause 3", rules(worst.key), n),
        case("split of 3 variants: FlagSet.evaluate full result", rules(split.key), n),
    ]


def all_flags_cases(users: Sequence[str], count: int) -> list[Case]:
    flag_list, segments = mixed_flags(count, random.Random(7))
    flags = FlagSet.from_flags(flag_list, 1, segments)
    rng = random.Random(11)
    contexts = [
        {
            "key": user,
            "attributes": {
                "country": rng.choice(["DE", "FR", "US", "JP"]),
                "plan": rng.choice(["free", "pro"]),
                "age": rng.randint(10, 70),
                "email": f"x@org{rng.randint(0, 9)}.example",
            },
        }
        for user in users
    ]
    broken = [k for k, c in flags.by_key.items() if type(c).__name__ == "BrokenFlag"]
    assert not broken, broken

    def evaluate_all() -> None:
        for context in contexts:
            flags.evaluate_all(context)

    return [case(f"evaluate_all over {count} mixed flags (per call)", evaluate_all, len(users))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--all-users", type=int, default=200)
    parser.add_argument("--flags", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--pure", action="store_true", help="force the pure-Python FNV-1a")
    args = parser.parse_args(argv)
    if args.pure:
        evaluation._fast_fnv1a32 = None
    rng = random.Random(3)
    users = [
        "user-" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=8))
        for _ in range(args.users)
    ]
    quiet_load = wait_for_quiet(max_wait=20)
    cases = seed_cases(users) + targeting_cases(users)
    measure(cases, args.repeats)
    all_cases = all_flags_cases(users[: args.all_users], args.flags)
    measure(all_cases, args.repeats)

    rows = []
    for item in cases + all_cases:
        wall, cpu = statistics.median(item.wall_ns), statistics.median(item.cpu_ns)
        rows.append([item.name, f"{wall:,.0f}", f"{cpu:,.0f}"])
    hashing = "pure Python" if evaluation._fast_fnv1a32 is None else "fnv-hash-fast"
    print(f"# flagd.core evaluation (FNV-1a: {hashing})\n")
    print(markdown_table(["case", "ns/call (wall)", "ns/call (CPU)"], rows))
    seed_old = statistics.median(cases[0].cpu_ns)
    seed_new = statistics.median(cases[1].cpu_ns)
    print(
        f"\nSeed-model is_enabled, SDK style: {seed_new / seed_old:.2f}x Part I's CPU time "
        f"({seed_new:.0f} vs {seed_old:.0f} ns); target within 1.10x."
    )
    per_flag = statistics.median(all_cases[0].cpu_ns) / args.flags
    print(f"evaluate_all: {per_flag:,.0f} ns CPU per flag.")
    print(f"\n{args.users} users, {args.repeats} repeats.")
    print(f"Other load before the run: {quiet_load:.2f} cores (shared machine: re-measure).")
    print(machine_notes_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
