"""`flagctl eval`: offline, from the pulled snapshot, with flagd's own evaluation core."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from flagd.core import bucket
from tests.cli.conftest import Cli, one_error_line, unique_key
from tests.conftest import VECTORS, free_port

DATA: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
BUCKETS = {(v["flag_key"], v["user_id"]): v["bucket"] for v in DATA["buckets"]}
EVAL_FIELDS = {"user_id", "revision", "snapshot_age_seconds", "flags"}


def expected_result(vector: dict[str, Any]) -> dict[str, Any]:
    flag, user = vector["flag"], vector["user_id"]
    if not flag["enabled"]:
        reason, user_bucket = "disabled", None
    elif user in flag["targeted_users"]:
        reason, user_bucket = "targeted", None
    else:
        reason = "rollout"
        user_bucket = BUCKETS.get((flag["key"], user), bucket(flag["key"], user))
    return {"enabled": vector["expected"], "reason": reason, "bucket": user_bucket}


def rounds() -> list[list[dict[str, Any]]]:
    """The vectors reuse keys with different settings: split them into rounds in which each
    key has one setting, so that each round is one flag set on the server."""
    settings: dict[str, list[str]] = defaultdict(list)
    split: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for vector in DATA["evaluations"]:
        setting = json.dumps(vector["flag"], sort_keys=True)
        if setting not in settings[vector["flag"]["key"]]:
            settings[vector["flag"]["key"]].append(setting)
        split[settings[vector["flag"]["key"]].index(setting)].append(vector)
    return [split[index] for index in sorted(split)]


def test_every_vector_offline_with_flagd_stopped(flagd, cli: Cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    homes: list[tuple[Path, list[dict[str, Any]]]] = []
    for number, vectors in enumerate(rounds()):
        for setting in {json.dumps(v["flag"], sort_keys=True): v["flag"] for v in vectors}.values():
            targets = [arg for user in setting["targeted_users"] for arg in ("--target", user)]
            exists = cli.run("get", setting["key"]).code == 0
            command = ["update", "--clear-targets"] if exists else ["create"]
            cli.ok(
                *command,
                setting["key"],
                "--enabled" if setting["enabled"] else "--disabled",
                "--rollout",
                str(setting["rollout_percentage"]),
                *targets,
            )
        home = tmp_path / f"round-{number}"
        home.mkdir()
        Cli(home, cli.server, None, cli.sdk_key).ok("pull")
        homes.append((home, vectors))
    flagd.stop()
    try:
        for home, vectors in homes:
            offline = Cli(home, cli.server)  # no keys at all: nothing can be fetched
            by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for vector in vectors:
                by_user[vector["user_id"]].append(vector)
            users = [user for user in by_user if user]
            (home / "users.txt").write_text("".join(f"{u}\n" for u in users), encoding="utf-8")
            keys = sorted({v["flag"]["key"] for v in vectors})
            result = offline.ok("eval", "--users", "users.txt", *keys)
            assert "snapshot of" in result.err
            lines = [json.loads(line) for line in result.out.splitlines()]
            assert [line["user_id"] for line in lines] == users
            got = {line["user_id"]: line for line in lines}
            for user in by_user:
                if not user:  # blank lines are skipped in --users: ask for "" directly
                    got[user] = offline.ok("eval", "", *keys, "--json").json()
                assert set(got[user]) == EVAL_FIELDS
                for vector in by_user[user]:
                    assert got[user]["flags"][vector["flag"]["key"]] == expected_result(vector), (
                        vector
                    )
            # The single-user form agrees with the batch form.
            user = users[0]
            single = offline.ok("eval", user, *keys, "--json").json()
            assert single["flags"] == got[user]["flags"]
            assert single["revision"] == got[user]["revision"]
    finally:
        flagd.start()


def test_json_shape_and_reasons(cli: Cli) -> None:
    off, targeted, rolled = unique_key("off"), unique_key("tgt"), unique_key("roll")
    cli.ok("create", off, "-t", "user-42")
    cli.ok("create", targeted, "--enabled", "-t", "user-42")
    cli.ok("create", rolled, "--enabled", "--rollout", "100")
    pulled = cli.ok("pull", "--json").json()
    document = cli.ok("eval", "user-42", off, targeted, rolled, "missing-flag", "--json").json()
    assert set(document) == EVAL_FIELDS
    assert document["user_id"] == "user-42"
    assert document["revision"] == pulled["revision"]
    assert isinstance(document["snapshot_age_seconds"], float | int)
    assert 0 <= document["snapshot_age_seconds"] < 60
    assert document["flags"] == {
        off: {"enabled": False, "reason": "disabled", "bucket": None},
        targeted: {"enabled": True, "reason": "targeted", "bucket": None},
        rolled: {"enabled": True, "reason": "rollout", "bucket": bucket(rolled, "user-42")},
        "missing-flag": {"enabled": False, "reason": "not_found", "bucket": None},
    }


def test_all_flags_by_default_and_explain_columns(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key, "--enabled", "--rollout", "100")
    cli.ok("pull")
    everything = cli.ok("eval", "u1", "--json").json()["flags"]
    assert key in everything
    lines = cli.ok("eval", "u1").out.splitlines()
    plain = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert plain[key] == [key, "on"]
    explained = cli.ok("eval", "u1", key, "--explain").out.strip().split("\t")
    assert explained == [key, "on", "rollout", str(bucket(key, "u1"))]


def test_says_which_snapshot_and_how_old(cli: Cli) -> None:
    cli.ok("pull")
    err = cli.ok("eval", "u1").err
    assert err.startswith(f"snapshot of {cli.server} at revision ")
    assert re.search(r"pulled \d+ seconds? ago", err), err


def test_no_snapshot_says_to_pull(cli: Cli) -> None:
    line = one_error_line(cli.fails(1, "eval", "u1"))
    assert "no snapshot" in line and "flagctl pull" in line and cli.server in line  # type: ignore[operator]


def test_refresh_pulls_first(cli: Cli) -> None:
    cli.ok("pull")
    key = unique_key()
    cli.ok("create", key, "--enabled", "--rollout", "100")
    assert cli.ok("eval", "u", key, "--json").json()["flags"][key]["reason"] == "not_found"
    refreshed = cli.ok("eval", "u", key, "--json", "--refresh").json()
    assert refreshed["flags"][key] == {
        "enabled": True,
        "reason": "rollout",
        "bucket": bucket(key, "u"),
    }


def test_refresh_with_flagd_unreachable_fails_clearly(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_error_line(cli.fails(1, "eval", "u", "--refresh", "--server", url))
    assert f"cannot reach flagd at {url}" in line


def test_users_from_stdin_as_json_lines(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key, "--enabled", "--rollout", "50", "-t", "vip")
    cli.ok("pull")
    users = ["vip", "user-1", "user-2", "emoji-😀", " spaced "]
    result = cli.ok("eval", "--users", "-", key, input="\n".join(users) + "\n")
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["user_id"] for line in lines] == users
    assert all(set(line) == EVAL_FIELDS for line in lines)
    assert lines[0]["flags"][key] == {"enabled": True, "reason": "targeted", "bucket": None}
    for line in lines[1:]:
        user_bucket = bucket(key, line["user_id"])
        assert line["flags"][key] == {
            "enabled": user_bucket < 50,
            "reason": "rollout",
            "bucket": user_bucket,
        }


def test_eval_needs_a_user(cli: Cli) -> None:
    assert "USER" in one_error_line(cli.fails(2, "eval"))


def test_eval_is_offline_even_with_a_wrong_key(cli: Cli) -> None:
    cli.ok("pull")
    cli.sdk_key = "not-the-key"
    cli.admin_key = "not-the-key-either"
    assert cli.ok("eval", "u1", "--json").json()["user_id"] == "u1"


@pytest.mark.parametrize("command", [["list"], ["pull"]])
def test_the_cache_is_the_client_snapshot(cli: Cli, command: list[str]) -> None:
    cli.ok(*command)
    revision = httpx.get(
        cli.server + "/api/client/flags",  # type: ignore[operator]
        headers={"X-SDK-Key": cli.sdk_key or ""},
    ).json()["revision"]
    assert cli.ok("eval", "u", "--json").json()["revision"] == revision
