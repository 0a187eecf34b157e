"""SDK evaluation: ns per is_enabled, ours against a plain reference and the peer SDKs.

    .venv/bin/python -m bench.sdk_eval                      # everything, about 5 minutes
    .venv/bin/python -m bench.sdk_eval --users 50000 --repeats 3 --peer-all-users 200

Side by side in one process and one run: our FlagClient (bootstrapped: no thread, no
network), a plain pure-Python reference of the same rule (dict lookup, set membership,
FNV-1a loop over "<key>:<user>"), the same reference with fnv-hash-fast, and every peer SDK
that can evaluate locally here, each given the nearest equivalent flag: a 25 % rollout plus
two targeted users. Peers are optional: one that is not installed or cannot run offline is
reported with the reason. Nothing here leaves 127.0.0.1.

Measured: one flag x N distinct users (ns per call: one perf_counter_ns around the whole
loop, the loop's own cost included, median of the repeats; the repeats take turns across
contenders so that a burst of load elsewhere on the machine hits everyone alike), and
1,000 flags x 1,000 users through each all-flags call (ns per flag). Per-user objects a
peer's API needs (LaunchDarkly's Context, OpenFeature's EvaluationContext, Unleash's dict)
are built before the clock starts, which flatters the peers slightly.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import flag_body, machine_notes_markdown, markdown_table, wait_for_quiet

KEY = "new-checkout-flow"
TARGETS = ["user-1", "user-3"]
ROLLOUT = 25
TARGET_NS = 400.0

FlagSpec = tuple[str, bool, int, list[str]]  # key, enabled, rollout %, targeted users
Loop = Callable[[Sequence[Any]], int]  # evaluates every item, returns how many were on


@dataclass
class Contender:
    name: str
    package: str  # what to report the version of ("" for none)
    config: str
    one: Loop | None = None
    one_inputs: Callable[[list[str]], Sequence[Any]] = list
    all_flags: Loop | None = None  # one all-flags call per item
    all_inputs: Callable[[list[str]], Sequence[Any]] = list
    close: Callable[[], None] = lambda: None
    problem: str = ""  # why it could not run
    one_ns: list[float] = field(default_factory=list)
    all_ns: list[float] = field(default_factory=list)
    share_on: float = 0.0


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def single_flag() -> list[FlagSpec]:
    return [(KEY, True, ROLLOUT, list(TARGETS))]


def many_flags(count: int = 1000) -> list[FlagSpec]:
    rng = random.Random(7)
    return [
        (body["key"], body["enabled"], body["rollout_percentage"], body["targeted_users"])
        for body in (flag_body(index, rng) for index in range(count))
    ]


def flagd_snapshot(flags: list[FlagSpec]) -> dict[str, Any]:
    return {
        "revision": 1,
        "flags": [
            {
                "id": str(uuid.UUID(int=index)),
                "key": key,
                "description": "",
                "enabled": enabled,
                "rollout_percentage": rollout,
                "targeted_users": targets,
                "version": 1,
                "created_at": "2024-01-01T00:00:00.000Z",
                "updated_at": "2024-01-01T00:00:00.000Z",
            }
            for index, (key, enabled, rollout, targets) in enumerate(flags)
        ],
    }


# --- ours and the references -------------------------------------------------------------


def ours(flags: list[FlagSpec], key: str) -> Contender:
    from flagd.sdk import FlagClient

    client = FlagClient(
        "http://127.0.0.1:9", "bench", start=False, cache_path=None, bootstrap=flagd_snapshot(flags)
    )

    def one(users: Sequence[str]) -> int:
        is_enabled = client.is_enabled
        on = 0
        for user in users:
            if is_enabled(key, user):
                on += 1
        return on

    def all_flags(users: Sequence[str]) -> int:
        get_all = client.all_flags
        for user in users:
            get_all(user)
        return 0

    return Contender(
        "flagd SDK FlagClient",
        "flagd",
        "bootstrapped from a snapshot dict "
        "(start=False: no thread, no network); `is_enabled(key, user)`",
        one,
        all_flags=all_flags,
        close=client.close,
    )


def reference(flags: list[FlagSpec], key: str, fast: bool) -> Contender:
    """The rule as a plain function: nothing precomputed but the dict of flags and sets."""
    table = {k: (enabled, rollout, frozenset(targets)) for k, enabled, rollout, targets in flags}
    if fast:
        from fnv_hash_fast import fnv1a_32
    else:

        def fnv1a_32(data: bytes) -> int:
            state = 0x811C9DC5
            for byte in data:
                state = ((state ^ byte) * 0x01000193) & 0xFFFFFFFF
            return state

    def is_enabled(flag_key: str, user: str, default: bool = False) -> bool:
        flag = table.get(flag_key)
        if flag is None:
            return default
        enabled, rollout, targets = flag
        if not enabled:
            return False
        if user in targets:
            return True
        if rollout <= 0:
            return False
        if rollout >= 100:
            return True
        return fnv1a_32(f"{flag_key}:{user}".encode()) % 100 < rollout

    def one(users: Sequence[str]) -> int:
        on = 0
        for user in users:
            if is_enabled(key, user):
                on += 1
        return on

    def all_flags(users: Sequence[str]) -> int:
        for user in users:
            {flag_key: is_enabled(flag_key, user) for flag_key in table}
        return 0

    name = "reference, fnv-hash-fast" if fast else "reference, pure Python"
    return Contender(
        name,
        "fnv-hash-fast" if fast else "",
        'dict lookup + frozenset membership + FNV-1a of `f"{key}:{user}"`',
        one,
        all_flags=all_flags,
    )


# --- peers -------------------------------------------------------------------------------


def launchdarkly(flags: list[FlagSpec], key: str) -> Contender:
    from ldclient import Context, LDClient
    from ldclient.config import Config
    from ldclient.integrations.test_data import TestData

    data = TestData.data_source()
    for flag_key, enabled, rollout, targets in flags:
        builder = data.flag(flag_key).boolean_flag().on(enabled)
        for user in targets:
            builder = builder.variation_for_user(user, True)
        # TestData's builder has no percentage rollout: add LaunchDarkly's own rollout
        # fallthrough (weights in 1/1000 %) to the flag it builds.
        built = builder._build

        def with_rollout(version: int, built: Any = built, rollout: int = rollout) -> Any:
            flag = built(version)
            flag["fallthrough"] = {
                "rollout": {
                    "bucketBy": "key",
                    "variations": [
                        {"variation": 0, "weight": rollout * 1000},
                        {"variation": 1, "weight": (100 - rollout) * 1000},
                    ],
                }
            }
            return flag

        builder._build = with_rollout  # type: ignore[method-assign]
        data.update(builder)
    client = LDClient(
        Config(
            "bench-sdk-key", update_processor_class=data, send_events=False, diagnostic_opt_out=True
        )
    )

    def one(contexts: Sequence[Any]) -> int:
        variation = client.variation
        on = 0
        for context in contexts:
            if variation(key, context, False):
                on += 1
        return on

    def all_flags(contexts: Sequence[Any]) -> int:
        state = client.all_flags_state
        for context in contexts:
            state(context)
        return 0

    def contexts(users: list[str]) -> list[Any]:
        return [Context.create(user) for user in users]

    return Contender(
        "LaunchDarkly server SDK",
        "launchdarkly-server-sdk",
        "TestData data source, events off; boolean flag with user targets + fallthrough "
        "percentage rollout; `variation(key, Context, False)`; all flags: `all_flags_state`",
        one,
        contexts,
        all_flags,
        contexts,
        client.close,
    )


def unleash(flags: list[FlagSpec], key: str) -> Contender:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    features = []
    for flag_key, enabled, rollout, targets in flags:
        features.append(
            {
                "name": flag_key,
                "enabled": enabled,
                "type": "release",
                "strategies": [
                    {"name": "userWithId", "parameters": {"userIds": ",".join(targets)}},
                    {
                        "name": "gradualRolloutUserId",
                        "parameters": {"percentage": str(rollout), "groupId": flag_key},
                    },
                ],
            }
        )
    cache = FileCache("flagd-bench", directory=tempfile.mkdtemp(prefix="unleash-bench-"))
    cache.bootstrap_from_dict({"version": 1, "features": features})
    client = UnleashClient(
        url="http://127.0.0.1:9",
        app_name="flagd-bench",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
        refresh_interval=3600,
    )
    client.initialize_client(fetch_toggles=False)

    def one(contexts: Sequence[Any]) -> int:
        is_enabled = client.is_enabled
        on = 0
        for context in contexts:
            if is_enabled(key, context):
                on += 1
        return on

    return Contender(
        "UnleashClient",
        "UnleashClient",
        "bootstrapped FileCache, `initialize_client(fetch_toggles=False)`, metrics and "
        "registration off; strategies userWithId + gradualRolloutUserId; "
        '`is_enabled(key, {"userId": u})`; no all-flags evaluation call',
        one,
        lambda users: [{"userId": user} for user in users],
        close=client.destroy,
    )


def flagsmith(flags: list[FlagSpec], key: str) -> Contender:
    from flagsmith import Flagsmith
    from flagsmith.offline_handlers import LocalFileHandler

    states, segments, overrides = [], [], []
    for index, (flag_key, enabled, rollout, targets) in enumerate(flags, 1):
        feature = {"id": index, "name": flag_key, "type": "STANDARD"}
        states.append(
            {
                "django_id": index,
                "feature": feature,
                "enabled": False,
                "feature_state_value": None,
                "featurestate_uuid": str(uuid.uuid4()),
                "multivariate_feature_state_values": [],
            }
        )
        if not enabled:
            continue
        split = {"operator": "PERCENTAGE_SPLIT", "property_": None, "value": str(rollout)}
        segments.append(
            {
                "id": index,
                "name": f"rollout-{flag_key}",
                "rules": [
                    {
                        "type": "ALL",
                        "conditions": [],
                        "rules": [{"type": "ANY", "rules": [], "conditions": [split]}],
                    }
                ],
                "feature_states": [
                    {
                        "django_id": 100_000 + index,
                        "feature": feature,
                        "enabled": True,
                        "feature_state_value": None,
                        "featurestate_uuid": str(uuid.uuid4()),
                        "feature_segment": {"priority": 1},
                        "multivariate_feature_state_values": [],
                    }
                ],
            }
        )
        for user in targets:
            overrides.append(
                {
                    "identifier": user,
                    "identity_uuid": str(uuid.uuid4()),
                    "environment_api_key": "ser.bench",
                    "identity_features": [
                        {
                            "feature": feature,
                            "enabled": True,
                            "feature_state_value": None,
                            "django_id": None,
                            "featurestate_uuid": str(uuid.uuid4()),
                            "multivariate_feature_state_values": [],
                        }
                    ],
                }
            )
    document = {
        "api_key": "ser.bench",
        "name": "bench",
        "id": 1,
        "feature_states": states,
        "project": {
            "id": 1,
            "name": "bench",
            "segments": segments,
            "organisation": {"id": 1, "name": "bench"},
            "hide_disabled_flags": False,
        },
        "identity_overrides": overrides,
        "updated_at": "2024-01-01T00:00:00+00:00",
    }
    path = Path(tempfile.mkdtemp(prefix="flagsmith-bench-")) / "environment.json"
    path.write_text(json.dumps(document))
    client = Flagsmith(
        environment_key="ser.bench",
        offline_mode=True,
        offline_handler=LocalFileHandler(str(path)),
        enable_local_evaluation=True,
    )

    def one(users: Sequence[str]) -> int:
        identity_flags = client.get_identity_flags
        on = 0
        for user in users:
            if identity_flags(user).is_feature_enabled(key):
                on += 1
        return on

    def all_flags(users: Sequence[str]) -> int:
        identity_flags = client.get_identity_flags
        for user in users:
            identity_flags(user).all_flags()
        return 0

    return Contender(
        "Flagsmith (local evaluation)",
        "flagsmith",
        "offline_mode with LocalFileHandler (an environment document): a segment with a "
        "PERCENTAGE_SPLIT condition overriding the feature on, identity overrides for the "
        "targets; `get_identity_flags(u).is_feature_enabled(key)`; all flags: "
        "`get_identity_flags(u).all_flags()`",
        one,
        all_flags=all_flags,
    )


class _SnapshotStub:
    """A loopback HTTP server that answers every GET with one JSON document (for Flipt)."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def flipt(flags: list[FlagSpec], key: str) -> Contender:
    from flipt_client import FliptClient
    from flipt_client.models import ClientOptions, EvaluationRequest

    out = []
    for flag_key, enabled, rollout, targets in flags:
        # Flipt's boolean flag answers its `enabled` value when no rollout matches, so it
        # is the default (off); an "off" flag of ours simply has no rollouts.
        rollouts = (
            []
            if not enabled
            else [
                {
                    "type": "SEGMENT_ROLLOUT_TYPE",
                    "rank": 1,
                    "segment": {
                        "value": True,
                        "segmentOperator": "OR_SEGMENT_OPERATOR",
                        "segments": [
                            {
                                "key": f"{flag_key}-targets",
                                "name": "",
                                "description": "",
                                "matchType": "ANY_SEGMENT_MATCH_TYPE",
                                "createdAt": None,
                                "updatedAt": None,
                                "constraints": [
                                    {
                                        "id": "targets",
                                        "type": "ENTITY_ID_CONSTRAINT_COMPARISON_TYPE",
                                        "property": "entityId",
                                        "operator": "isoneof",
                                        "value": json.dumps(targets),
                                    }
                                ],
                            }
                        ],
                    },
                },
                {
                    "type": "THRESHOLD_ROLLOUT_TYPE",
                    "rank": 2,
                    "threshold": {"percentage": rollout, "value": True},
                },
            ]
        )
        out.append(
            {
                "key": flag_key,
                "name": flag_key,
                "description": "",
                "enabled": False,
                "type": "BOOLEAN_FLAG_TYPE",
                "createdAt": "2024-01-01T00:00:00Z",
                "updatedAt": "2024-01-01T00:00:00Z",
                "rules": [],
                "rollouts": rollouts,
            }
        )
    stub = _SnapshotStub({"namespace": {"key": "default"}, "flags": out})
    client = FliptClient(
        opts=ClientOptions(url=stub.url, update_interval=datetime.timedelta(hours=1))
    )
    keys = [flag[0] for flag in flags]

    def one(users: Sequence[str]) -> int:
        evaluate = client.evaluate_boolean
        on = 0
        for user in users:
            if evaluate(key, user, {}).enabled:
                on += 1
        return on

    def all_flags(users: Sequence[str]) -> int:
        batch = client.evaluate_batch
        for user in users:
            batch([EvaluationRequest(flag_key=k, entity_id=user, context={}) for k in keys])
        return 0

    def close() -> None:
        client.close()
        stub.close()

    return Contender(
        "flipt-client",
        "flipt-client",
        "Rust engine over ctypes, loaded from a loopback stub serving the snapshot once "
        "(see notes: the `snapshot` option alone does not start offline); boolean flag: "
        "segment rollout (entityId isoneof targets) then threshold rollout; "
        "`evaluate_boolean(key, u, {})`; all flags: `evaluate_batch` with one request per flag",
        one,
        all_flags=all_flags,
        close=close,
    )


def openfeature(flags: list[FlagSpec], key: str) -> Contender:
    from openfeature import api
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType
    from openfeature.evaluation_context import EvaluationContext

    document = {
        "flags": {
            flag_key: {
                "state": "ENABLED" if enabled else "DISABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "targeting": {
                    "if": [
                        {"in": [{"var": "targetingKey"}, targets]},
                        "on",
                        {"fractional": [["on", rollout], ["off", 100 - rollout]]},
                    ]
                },
            }
            for flag_key, enabled, rollout, targets in flags
        }
    }
    path = Path(tempfile.mkdtemp(prefix="openfeature-bench-")) / "flags.json"
    path.write_text(json.dumps(document))
    api.set_provider(
        FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path))
    )
    client = api.get_client()

    def one(contexts: Sequence[Any]) -> int:
        get = client.get_boolean_value
        on = 0
        for context in contexts:
            if get(key, False, context):
                on += 1
        return on

    return Contender(
        "OpenFeature + flagd in-process provider",
        "openfeature-provider-flagd",
        "FlagdProvider(resolver_type=FILE, offline_flag_source_path=…): JSON Logic "
        "`if in(targetingKey, targets) then on else fractional [on 25, off 75]`; "
        "`client.get_boolean_value(key, False, EvaluationContext(targeting_key=u))`; "
        "no all-flags evaluation call",
        one,
        lambda users: [EvaluationContext(targeting_key=user) for user in users],
        close=api.shutdown,
    )


def growthbook(flags: list[FlagSpec], key: str) -> Contender:
    from growthbook import GrowthBook

    features = {
        flag_key: {
            "defaultValue": False,
            "rules": []
            if not enabled
            else [
                {"condition": {"id": {"$in": targets}}, "force": True},
                {"force": True, "coverage": rollout / 100, "hashAttribute": "id"},
            ],
        }
        for flag_key, enabled, rollout, targets in flags
    }
    client = GrowthBook(features=features)

    def one(attributes: Sequence[dict[str, str]]) -> int:
        set_attributes, is_on = client.set_attributes, client.is_on
        on = 0
        for attrs in attributes:
            set_attributes(attrs)
            if is_on(key):
                on += 1
        return on

    return Contender(
        "GrowthBook",
        "growthbook",
        'one GrowthBook(features=…) instance, `set_attributes({"id": u})` then '
        "`is_on(key)` per user; rules: condition id $in targets → force on, then force on "
        "with coverage 0.25; no all-flags evaluation call",
        one,
        lambda users: [{"id": user} for user in users],
        close=client.destroy,
    )


PEERS: list[tuple[str, str, Callable[[list[FlagSpec], str], Contender]]] = [
    ("LaunchDarkly server SDK", "launchdarkly-server-sdk", launchdarkly),
    ("UnleashClient", "UnleashClient", unleash),
    ("Flagsmith (local evaluation)", "flagsmith", flagsmith),
    ("flipt-client", "flipt-client", flipt),
    ("OpenFeature + flagd in-process provider", "openfeature-provider-flagd", openfeature),
    ("GrowthBook", "growthbook", growthbook),
]


# --- measuring ---------------------------------------------------------------------------


def timed(loop: Loop, inputs: Sequence[Any]) -> tuple[float, int]:
    gc.collect()
    started = time.perf_counter_ns()
    on = loop(inputs)
    return (time.perf_counter_ns() - started) / len(inputs), on


def measure_one(contenders: list[Contender], users: list[str], repeats: int) -> None:
    inputs = {c.name: c.one_inputs(users) for c in contenders if c.one}
    for c in contenders:  # warm-up, and a check that each gives a ~25 % rollout
        if c.one:
            c.share_on = c.one(inputs[c.name][:20_000]) / min(len(users), 20_000)
    for repeat in range(repeats):
        for c in contenders:
            if c.one:
                ns, _ = timed(c.one, inputs[c.name])
                c.one_ns.append(ns)
        print(f"  one flag: repeat {repeat + 1}/{repeats} done", file=sys.stderr)


def measure_all(
    contenders: list[Contender], users: list[str], flags: int, repeats: int, peer_users: int
) -> None:
    for c in contenders:
        if c.all_flags is None:
            continue
        peer = c.package not in ("", "flagd", "fnv-hash-fast")
        sample = users[:peer_users] if peer else users
        inputs = c.all_inputs(sample)
        c.all_flags(inputs[:5])  # warm-up
        for _ in range(1 if peer else repeats):
            ns, _ = timed(c.all_flags, inputs)
            c.all_ns.append(ns / flags)
        print(f"  all flags: {c.name} done", file=sys.stderr)


def empty_loop_ns(users: list[str], repeats: int) -> float:
    def loop(items: Sequence[str]) -> int:
        for _ in items:
            pass
        return 0

    return statistics.median(timed(loop, users)[0] for _ in range(repeats))


def report(
    contenders: list[Contender],
    args: argparse.Namespace,
    loop_ns: float,
    quiet_load: float,
    started: float,
) -> str:
    ours_c = contenders[0]
    ours_one = statistics.median(ours_c.one_ns)
    ours_all = statistics.median(ours_c.all_ns) if ours_c.all_ns else float("nan")
    rows = []
    for c in contenders:
        if c.problem:
            rows.append(
                [
                    c.name,
                    version(c.package) if c.package else "—",
                    "could not run",
                    "—",
                    "—",
                    "—",
                    "—",
                ]
            )
            continue
        one = statistics.median(c.one_ns)
        all_ = statistics.median(c.all_ns) if c.all_ns else None
        rows.append(
            [
                c.name,
                version(c.package) if c.package else "—",
                f"{one:,.0f}",
                "1.00" if c is ours_c else f"{one / ours_one:.2f}",
                f"{c.share_on:.1%}",
                "n/a" if all_ is None else f"{all_:,.0f}",
                "n/a" if all_ is None else ("1.00" if c is ours_c else f"{all_ / ours_all:.2f}"),
            ]
        )
    lines = [
        "Command: `.venv/bin/python -m bench.sdk_eval"
        + "".join(f" {arg}" for arg in args.argv)
        + "`",
        "",
        markdown_table(
            [
                "contender",
                "version",
                "one flag: ns/call (median)",
                "x ours",
                "share on (25 % rollout)",
                "1,000 flags: ns/flag",
                "x ours",
            ],
            rows,
        ),
        "",
        f"- one flag: {args.users:,} distinct users, median of {args.repeats} repeats, taken "
        "in turns; every figure includes the Python `for` loop around the call "
        f"(an empty loop over the same list: {loop_ns:.0f} ns per item).",
        f"- all flags: 1,000 flags, {args.all_users:,} users for flagd and the references "
        f"(median of {args.repeats}), {args.peer_all_users:,} users for the peers (one pass; "
        "their per-flag cost is flat). n/a: no call that evaluates every flag for a user.",
        f"- flagd is_enabled: {ours_one:.0f} ns (target ≤ {TARGET_NS:.0f} ns: "
        f"{'met' if ours_one <= TARGET_NS else 'MISSED'}); every repeat: "
        + ", ".join(f"{ns:.0f}" for ns in ours_c.one_ns)
        + ".",
        "- flagd's hash path: "
        + (f"fnv-hash-fast {version('fnv-hash-fast')}." if _accelerated() else "pure Python."),
        f"- other load on the machine before the run: {quiet_load:.2f} cores; "
        f"run took {time.monotonic() - started:.0f} s.",
        "",
        "Configurations:",
        "",
    ]
    lines += [f"- **{c.name}**: {c.config}" for c in contenders if not c.problem]
    problems = [c for c in contenders if c.problem]
    if problems:
        lines += ["", "Could not run:", ""]
        lines += [
            f"- **{c.name}** ({c.package} {version(c.package)}): {c.problem}" for c in problems
        ]
    lines += ["", "Machine:", "", machine_notes_markdown()]
    return "\n".join(lines)


ALL_FLAGS_PEERS = {"launchdarkly-server-sdk", "flagsmith", "flipt-client"}


def build(flags: list[FlagSpec], key: str, peers: str, all_flags_only: bool) -> list[Contender]:
    group = [ours(flags, key), reference(flags, key, fast=False), reference(flags, key, fast=True)]
    for name, package, make in PEERS:
        if peers == "none" or (peers != "all" and name not in peers.split(",")):
            continue
        if all_flags_only and package not in ALL_FLAGS_PEERS:
            continue
        try:
            group.append(make(flags, key))
        except Exception as exc:  # a peer that cannot run is reported, not fatal
            group.append(Contender(name, package, "", problem=f"{type(exc).__name__}: {exc}"))
    return group


def close_all(contenders: list[Contender]) -> None:
    for c in contenders:
        with contextlib.suppress(Exception):
            c.close()


def _accelerated() -> bool:
    from flagd.core import evaluation

    return evaluation._fast_fnv1a32 is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--all-users", type=int, default=1_000)
    parser.add_argument("--peer-all-users", type=int, default=1_000)
    parser.add_argument("--peers", default="all", help="comma-separated names, or none")
    parser.add_argument("--pure", action="store_true", help="force flagd's pure-Python hash")
    parser.add_argument("--output", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.ERROR)
    if args.pure:
        from flagd.core import evaluation

        evaluation._fast_fnv1a32 = None

    started = time.monotonic()
    users = [f"user-{n}" for n in range(args.users)]
    quiet_load = wait_for_quiet(max_wait=120)
    loop_ns = empty_loop_ns(users, args.repeats)

    # One flag: every contender alive at once, so that the repeats can take turns.
    contenders = build(single_flag(), KEY, args.peers, all_flags_only=False)
    measure_one([c for c in contenders if not c.problem], users, args.repeats)
    close_all(contenders)

    # 1,000 flags, for the contenders with an all-flags call, built afresh.
    many = many_flags()
    second = {c.name: c for c in build(many, many[0][0], args.peers, all_flags_only=True)}
    runnable = [c for c in second.values() if not c.problem]
    measure_all(runnable, users[: args.all_users], len(many), args.repeats, args.peer_all_users)
    close_all(list(second.values()))
    for c in contenders:
        if c.name in second:
            c.all_ns = second[c.name].all_ns
            c.problem = c.problem or second[c.name].problem
    text = report(contenders, args, loop_ns, quiet_load, started)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
