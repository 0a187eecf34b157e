"""pull, export and import against a real flagd."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import httpx

from flagd.sdk.cache import default_cache_path, read_snapshot
from tests.cli.conftest import FLAGCTL, Cli, Tmux, clean_env, one_error_line, unique_key

VISIBLE = ("key", "description", "enabled", "rollout_percentage", "targeted_users")


def visible(flags: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The user-visible fields of a list, in its order."""
    return [tuple(json.dumps(flag[name]) for name in VISIBLE) for flag in flags]


def wipe(admin: httpx.Client) -> None:
    for flag in admin.get("/api/admin/flags").json():
        assert admin.delete(f"/api/admin/flags/{flag['id']}").status_code == 204


def cache_path(cli: Cli) -> Path:
    """Where the SDK would look for this server's snapshot, under the test's XDG dirs."""
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, clean_env(cli.home)):
        assert cli.server
        return default_cache_path(cli.server)


def test_pull_writes_the_sdk_cache(cli: Cli, admin: httpx.Client) -> None:
    key = unique_key()
    cli.ok("create", key, "--enabled", "--rollout", "30", "-t", "u")
    result = cli.ok("pull", "--json").json()
    assert set(result) == {"server", "revision", "flags", "path"}
    path = Path(result["path"])
    assert path == cache_path(cli)
    assert path.stat().st_mode & 0o777 == 0o600
    cached = read_snapshot(path)
    assert cached is not None and cached.server == cli.server
    body = httpx.get(
        cli.server + "/api/client/flags",  # type: ignore[operator]
        headers={"X-SDK-Key": cli.sdk_key or ""},
    ).json()
    assert cached.snapshot.revision == body["revision"] == result["revision"]
    assert [f.to_dict() for f in cached.snapshot.flags] == body["flags"]
    assert "pulled revision" in cli.ok("pull").err


def test_export_to_stdout_and_file(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key, "-d", "exported", "--rollout", "7", "-t", "z", "-t", "a")
    document = cli.ok("export").json()
    assert document["format"] == "flagctl-export/1"
    mine = [flag for flag in document["flags"] if flag["key"] == key]
    assert mine == [
        {
            "key": key,
            "description": "exported",
            "enabled": False,
            "rollout_percentage": 7,
            "targeted_users": ["z", "a"],
        }
    ]
    result = cli.ok("export", "--output", "out.json")
    assert result.out == "" and "out.json" in result.err
    assert json.loads((cli.home / "out.json").read_text()) == document


def test_export_wipe_import_round_trips_exactly(cli: Cli, admin: httpx.Client) -> None:
    for index in range(5):
        cli.ok(
            "create",
            unique_key("rt"),
            "-d",
            f"flag {index} ✓ ünïcode",
            *(["--enabled"] if index % 2 else []),
            "--rollout",
            str(index * 20),
            *[arg for user in range(index) for arg in ("-t", f"user-{user}")],
        )
    before = admin.get("/api/admin/flags").json()
    cli.ok("export", "-o", "backup.json")
    wipe(admin)
    assert admin.get("/api/admin/flags").json() == []
    result = cli.ok("import", "backup.json")
    assert f"plan: {len(before)} to create, 0 to update, 0 to delete" in result.err
    after = admin.get("/api/admin/flags").json()
    assert visible(after) == visible(before)  # same flags, fields and order
    # Importing again finds nothing to do.
    again = cli.ok("import", "backup.json", "--json").json()
    assert again == {
        "create": [],
        "update": [],
        "delete": [],
        "kept": [],
        "unchanged": len(before),
        "applied": True,
    }


def test_import_dry_run_changes_nothing(cli: Cli, admin: httpx.Client) -> None:
    changed, added = unique_key(), unique_key()
    cli.ok("create", changed, "--rollout", "10")
    cli.ok("export", "-o", "flags.json")
    cli.ok("update", changed, "--rollout", "90", "--enabled")
    cli.ok("create", added)
    revision = _revision(cli)
    before = admin.get("/api/admin/flags").json()
    for extra in ([], ["--prune"]):
        result = cli.ok("import", "flags.json", "--dry-run", *extra)
        assert f"~ update {changed}: on → off, rollout 90% → 10%" in result.out
        assert "dry run: nothing changed" in result.err
        assert (f"- delete {added}" in result.out) == bool(extra)
    plan = cli.ok("import", "flags.json", "--dry-run", "--prune", "--json").json()
    assert plan["update"] == [changed] and added in plan["delete"] and plan["applied"] is False
    assert admin.get("/api/admin/flags").json() == before
    assert _revision(cli) == revision


def test_import_updates_keeps_and_prunes(cli: Cli, admin: httpx.Client) -> None:
    kept, gone = unique_key(), unique_key()
    cli.ok("create", kept)
    cli.ok("create", gone)
    document = {
        "flags": [
            {"key": kept, "enabled": True, "rollout_percentage": 50},
            {"key": unique_key("new"), "targeted_users": ["a", "a", "b"]},
        ]
    }
    (cli.home / "want.json").write_text(json.dumps(document))
    plan = cli.ok("import", "want.json", "--json").json()
    assert plan["update"] == [kept] and len(plan["create"]) == 1 and gone in plan["kept"]
    flag = admin.get(f"/api/admin/flags/{kept}").json()
    assert (flag["enabled"], flag["rollout_percentage"]) == (True, 50)
    assert admin.get(f"/api/admin/flags/{gone}").status_code == 200
    created = admin.get(f"/api/admin/flags/{plan['create'][0]}").json()
    assert created["targeted_users"] == ["a", "b"]
    result = cli.ok("import", "want.json", "--prune", "--yes")
    assert f"- delete {gone}" in result.out
    assert admin.get(f"/api/admin/flags/{gone}").status_code == 404
    assert {f["key"] for f in admin.get("/api/admin/flags").json()} == {
        f["key"] for f in document["flags"]
    }


def test_import_that_would_delete_needs_yes_without_a_terminal(
    cli: Cli, admin: httpx.Client
) -> None:
    first, second, added = unique_key(), unique_key(), unique_key()
    cli.ok("create", first)
    cli.ok("create", second)
    (cli.home / "want.json").write_text(json.dumps({"flags": [{"key": added}]}))
    before = admin.get("/api/admin/flags").json()
    extra = len(before) - 2  # earlier tests' flags: also not in the file
    for args in (["want.json"], ["want.json", "--json"], ["-"]):
        line = one_error_line(
            cli.fails(2, "import", *args, "--prune", input=(cli.home / "want.json").read_text())
        )
        assert line == (
            f"flagctl: import would delete {extra + 2} flags: stdin is not a terminal, so nobody "
            "can confirm; pass --yes to import anyway (--dry-run shows the plan)"
        ), args
    assert admin.get("/api/admin/flags").json() == before  # not even the creation happened
    cli.ok("import", "want.json", "--prune", "--dry-run")  # a dry run never asks
    assert admin.get("/api/admin/flags").json() == before
    cli.ok("import", "want.json")  # nothing to delete without --prune: no question
    cli.ok("import", "want.json", "--prune", "-y")
    assert [flag["key"] for flag in admin.get("/api/admin/flags").json()] == [added]


def test_at_a_terminal_an_import_that_would_delete_asks(
    cli: Cli, admin: httpx.Client, tmux: Tmux
) -> None:
    wipe(admin)
    gone, added = unique_key(), unique_key()
    cli.ok("create", gone)
    (cli.home / "want.json").write_text(json.dumps({"flags": [{"key": added}]}))
    command = f"cd {shlex.quote(str(cli.home))}; {shlex.quote(str(FLAGCTL))} import want.json"
    tmux.type(f"{command} --prune; echo EXIT=$?")
    tmux.wait_screen(f"- delete {gone}", "Delete 1 flag and apply the plan? [y/N]")
    tmux.type("n")
    tmux.wait_screen("flagctl: import cancelled, nothing changed", "EXIT=1")
    assert [flag["key"] for flag in admin.get("/api/admin/flags").json()] == [gone]
    tmux.tmux("send-keys", "-t", "t", "clear", "Enter")
    tmux.type(f"{command} --prune; echo EXIT=$?")
    tmux.wait_screen("[y/N]")
    tmux.type("y")
    tmux.wait_screen("done", "EXIT=0")
    assert [flag["key"] for flag in admin.get("/api/admin/flags").json()] == [added]
    tmux.tmux("send-keys", "-t", "t", "clear", "Enter")
    tmux.type(f"{command} --prune --dry-run; echo EXIT=$?")
    tmux.wait_screen("dry run: nothing changed", "EXIT=0")
    assert "[y/N]" not in tmux.screen()


def test_import_from_stdin(cli: Cli, admin: httpx.Client) -> None:
    key = unique_key()
    cli.ok("import", "-", input=json.dumps({"flags": [{"key": key, "description": "stdin"}]}))
    assert admin.get(f"/api/admin/flags/{key}").json()["description"] == "stdin"


def test_an_invalid_file_changes_nothing(cli: Cli, admin: httpx.Client) -> None:
    good = unique_key()
    cases = {
        "not json": "{",
        "wrong shape": '{"nope": 1}',
        "bad rollout": json.dumps(
            {"flags": [{"key": good}, {"key": unique_key(), "rollout_percentage": 101}]}
        ),
        "bad key": json.dumps({"flags": [{"key": good}, {"key": "has space"}]}),
        "duplicate": json.dumps({"flags": [{"key": good}, {"key": good}]}),
    }
    for name, text in cases.items():
        (cli.home / "bad.json").write_text(text)
        line = one_error_line(cli.fails(1, "import", "bad.json"))
        assert "bad.json" in line, name
    assert admin.get(f"/api/admin/flags/{good}").status_code == 404
    assert "cannot read missing.json" in one_error_line(cli.fails(1, "import", "missing.json"))


def _revision(cli: Cli) -> int:
    response = httpx.get(
        cli.server + "/api/client/flags",  # type: ignore[operator]
        headers={"X-SDK-Key": cli.sdk_key or ""},
    )
    return int(response.json()["revision"])
