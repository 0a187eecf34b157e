"""The SDK, the daemon's core and `flagctl eval` agree on 10,000 random (flag, user) pairs.

Random flags are written to a real flagd; a FlagClient syncs them and, on close, leaves its
disk cache where `flagctl eval` looks for the server's snapshot, so flagctl evaluates the
very document the SDK wrote. The core evaluates the flags as the admin API returns them.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flagd.core import Flag, Snapshot, explain
from flagd.core import evaluation as evaluation_module
from flagd.sdk import FlagClient
from flagd.sdk.cache import default_cache_path, write_snapshot
from tests.conftest import DEADLINE, FLAGCTL
from tests.daemon import Flagd

from .helpers import SDK_KEY, Admin, eventually_sync

PAIRS = 10_000
SEED = 20240605

_ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "-_.:@+/#%&=?!~*'()[]{}<>,;\"\\ ",
    "áéíóúàèìòùâêîôûäëïöüñçßøåæœÁÉÍÓÚÑÇ",
    "用户测试数据标志功能开关中文日本語한국어",
    "😀🚀🎉👍🏽🇫🇷❤️‍🔥",
    "Ωπσλβγδ∑∆√∞≈ДЖИКЛМНабвгд",
    "\u0301\u0308\u200d\u00a0\ufeff",  # combining marks, joiners, odd spaces
]


def random_user(rng: random.Random) -> str:
    while True:
        chars = [rng.choice(rng.choice(_ALPHABETS)) for _ in range(rng.randint(1, 24))]
        user = "".join(chars)
        if user.strip():  # flagctl's --users file skips blank lines
            return user


def random_key(rng: random.Random, index: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
    tail = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50)))
    return f"a{index}-{tail}"[:64]


def random_flag(rng: random.Random, index: int, users: list[str]) -> dict[str, Any]:
    rollout = rng.choice([0, 100, rng.randint(1, 99), rng.randint(1, 99), rng.randint(1, 99)])
    return {
        "key": random_key(rng, index),
        "enabled": rng.random() < 0.8,
        "rollout_percentage": rollout,
        "targeted_users": rng.sample(users, rng.randint(0, 20)),
    }


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flagd]:
    flagd = Flagd(data_dir=tmp_path_factory.mktemp("agreement")).start()
    yield flagd
    flagd.stop()


def run_flagctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLAGCTL), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_sdk_core_and_flagctl_agree(
    daemon: Flagd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED)
    users = sorted({random_user(rng) for _ in range(1_500)})
    users += ["usér-1", "用户-7", "emoji-😀", "user:with:colons", " spaced user "]
    async with Admin(daemon) as admin:
        for index in range(60):
            await admin.create(**random_flag(rng, index, users))
        store = await admin.flags()
    keys = sorted(store)
    missing = ["not-a-flag", "Missing-Too", "zz-0"]
    pairs: list[tuple[str, str]] = []
    for _ in range(PAIRS):
        key = rng.choice(keys + missing) if rng.random() < 0.97 else rng.choice(missing)
        flag = store.get(key)
        targets = flag.targeted_users if flag else ()
        user = rng.choice(targets) if targets and rng.random() < 0.2 else rng.choice(users)
        pairs.append((key, user))
    assert sum(any(ord(c) > 127 for c in user) for _, user in pairs) > PAIRS // 2

    # The SDK, from its synced memory; its disk cache lands where flagctl reads.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLAGCTL_", "FLAGD_"))}
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        FLAGD_DATA_DIR=str(tmp_path / "no-local-flagd"),
    )
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    cache_path = default_cache_path(daemon.url)
    with FlagClient(daemon.url, SDK_KEY, cache_path=cache_path) as client:
        assert client.wait_until_ready(DEADLINE)
        eventually_sync(lambda: len(client.flags()) == len(store), "all flags synced")
        sdk = [client.evaluate(key, user) for key, user in pairs]
        sdk_enabled = [client.is_enabled(key, user) for key, user in pairs]
        sdk_default_true = [client.is_enabled(key, user, default=True) for key, user in pairs]
        with monkeypatch.context() as patched:  # and on the pure-Python hash path
            patched.setattr(evaluation_module, "_fast_fnv1a32", None)
            sdk_pure = [client.evaluate(key, user) for key, user in pairs]
    assert cache_path.exists()
    assert sdk_pure == sdk

    # The daemon's core, on the flags as the admin API returns them.
    core = [explain(store.get(key), user) for key, user in pairs]

    # flagctl eval, offline, from the SDK's cache: every distinct user in one run.
    distinct = sorted({user for _, user in pairs})
    users_file = tmp_path / "users.txt"
    users_file.write_text("".join(f"{user}\n" for user in distinct), encoding="utf-8")
    done = run_flagctl(
        env, "eval", "--server", daemon.url, "--users", str(users_file), *keys, *missing
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    by_user = {line["user_id"]: line["flags"] for line in lines}
    assert set(by_user) == set(distinct), "flagctl read every user id back unchanged"
    assert {line["revision"] for line in lines} == {client.revision}

    disagreements = []
    for index, (key, user) in enumerate(pairs):
        from_sdk, from_core, from_cli = sdk[index], core[index], by_user[user][key]
        if not (
            from_sdk == from_core
            and from_sdk.to_dict() == from_cli
            and sdk_enabled[index] is from_core.enabled
            and sdk_default_true[index] is (from_core.enabled or from_core.reason == "not_found")
        ):
            disagreements.append((key, user, from_sdk, from_core, from_cli))
    assert not disagreements, disagreements[:5]
    reasons = {result.reason for result in core}
    assert reasons == {"disabled", "targeted", "rollout", "not_found"}


def test_flagctl_eval_one_user_matches_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The single-user form (`flagctl eval USER FLAG… --json`) on a non-ASCII id."""
    flags = [
        Flag.from_dict(
            {
                "id": "1",
                "key": "one",
                "enabled": True,
                "rollout_percentage": 50,
                "targeted_users": ["josé"],
            }
        )
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLAGCTL_", "FLAGD_"))}
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        FLAGD_DATA_DIR=str(tmp_path / "none"),
    )
    server = "http://127.0.0.1:9"  # never contacted: eval is offline
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    write_snapshot(default_cache_path(server), Snapshot(7, tuple(flags)), server)
    for user in ("josé", "用户-7", "emoji-😀"):
        done = run_flagctl(env, "eval", user, "one", "absent", "--json", "--server", server)
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        assert document["user_id"] == user and document["revision"] == 7
        assert document["flags"]["one"] == explain(flags[0], user).to_dict()
        assert document["flags"]["absent"] == explain(None, user).to_dict()
