"""flagctl's pure parts, in process: SSE parsing, the watch state, import plans, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flagctl.changes import describe
from flagctl.config import mask, resolve
from flagctl.errors import CliError
from flagctl.importplan import export_document, make_plan, parse_document
from flagctl.sse import Event, Retry, parse
from flagctl.watcher import HIGHLIGHT_SECONDS, WatchState, backoff


def flag(key: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": f"id-{key}",
        "key": key,
        "description": "",
        "enabled": False,
        "rollout_percentage": 0,
        "targeted_users": [],
        "version": 1,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }
    return {**base, **fields}


def test_sse_parse_fields_comments_and_multiline_data() -> None:
    lines = [
        "retry: 3000",
        "",
        ": ping",
        "",
        "id: 4",
        "event: snapshot",
        'data: {"a":',
        "data: 1}",
        "",
        "event: flag_deleted",
        "data:x",
        "",
        "id: 5",
        "data: plain",
        "",
    ]
    assert list(parse(iter(lines))) == [
        Retry(3000),
        Event("snapshot", '{"a":\n1}', "4"),
        Event("flag_deleted", "x", "4"),  # the last id carries over, as the spec says
        Event("message", "plain", "5"),
    ]


def event(name: str, data: Any, revision: int) -> Event:
    return Event(name, json.dumps(data), str(revision))


def test_watch_state_applies_events_and_marks_changes() -> None:
    state = WatchState("http://x")
    record = state.apply(
        event("snapshot", {"flags": [flag("a"), flag("b")], "revision": 2}, 2), now=0
    )
    assert record == {"event": "snapshot", "revision": 2, "flags": [flag("a"), flag("b")]}
    assert state.changes == {}  # the first snapshot is not a change
    state.apply(event("flag_updated", flag("a", enabled=True), 3), now=1)
    state.apply(event("flag_updated", flag("c"), 4), now=2)
    state.apply(event("flag_deleted", {"key": "b"}, 5), now=3)
    assert list(state.flags) == ["c", "a"]  # newest first
    assert state.revision == 5
    assert {k: c.summary for k, c in state.changes.items()} == {
        "a": "off → on",
        "c": "created",
        "b": "deleted",
    }
    assert "b" in state.gone
    state.expire(now=3 + HIGHLIGHT_SECONDS + 0.1)
    assert state.gone == {}
    assert state.snapshot_document()["revision"] == 5


def test_a_snapshot_after_a_reconnect_marks_what_changed_meanwhile() -> None:
    state = WatchState("http://x")
    state.apply(event("snapshot", {"flags": [flag("a"), flag("b")]}, 1), now=0)
    state.apply(
        event("snapshot", {"flags": [flag("a", rollout_percentage=5), flag("n")]}, 7), now=1
    )
    assert {k: c.summary for k, c in state.changes.items()} == {
        "a": "rollout 0% → 5%",
        "n": "created",
        "b": "deleted",
    }


def test_describe() -> None:
    before = flag("k", targeted_users=["a", "b"])
    after = flag(
        "k", enabled=True, rollout_percentage=5, targeted_users=["b", "c", "d"], description="x"
    )
    assert describe(before, after) == "off → on, rollout 0% → 5%, +2 -1 targets, description"
    assert describe(before, before) == "no change"


def test_backoff_grows_and_is_capped() -> None:
    assert 0.4 <= backoff(1) <= 0.6
    assert 0.8 <= backoff(2) <= 1.2
    assert backoff(50) <= 36


def test_export_is_oldest_first_with_only_writable_fields() -> None:
    document = export_document([flag("new"), flag("old", targeted_users=["u"])])
    assert [f["key"] for f in document["flags"]] == ["old", "new"]
    assert set(document["flags"][0]) == {
        "key",
        "description",
        "enabled",
        "rollout_percentage",
        "targeted_users",
    }


def test_parse_accepts_export_admin_list_and_snapshot_documents() -> None:
    exported = json.dumps(export_document([flag("b"), flag("a")]))
    admin_list = json.dumps([flag("b"), flag("a")])
    snapshot = json.dumps({"flags": [flag("b"), flag("a")], "revision": 3})
    for raw in (exported, admin_list, snapshot):
        assert [f["key"] for f in parse_document(raw, "f")] == ["a", "b"]


@pytest.mark.parametrize(
    "raw",
    [
        "[1]",
        '{"flags": [{"key": ""}]}',
        '{"flags": 3}',
        '{"format": "other", "flags": []}',
        '{"flags": [{"key": "k", "enabled": "yes"}]}',
    ],
)
def test_parse_rejects_invalid_documents(raw: str) -> None:
    with pytest.raises(CliError):
        parse_document(raw, "f")


def test_plan() -> None:
    desired = [flag("same"), flag("changed", enabled=True), flag("new")]
    current = [flag("extra", version=4), flag("changed", version=2), flag("same")]
    writable = [
        {
            k: v
            for k, v in f.items()
            if k in {"key", "description", "enabled", "rollout_percentage", "targeted_users"}
        }
        for f in desired
    ]
    plan = make_plan(writable, current, prune=False)
    assert plan.to_dict() == {
        "create": ["new"],
        "update": ["changed"],
        "delete": [],
        "kept": ["extra"],
        "unchanged": 1,
    }
    assert plan.versions["changed"] == 2
    pruned = make_plan(writable, current, prune=True)
    assert pruned.delete == ["extra"] and pruned.kept == []


def test_mask() -> None:
    assert mask(None) == "(not set)"
    assert mask("short") == "****"
    assert mask("a-long-secret-key-1234") == "****1234"


def test_resolve_precedence_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLAGCTL_SERVER", "FLAGCTL_ADMIN_KEY", "FLAGCTL_SDK_KEY", "FLAGCTL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    state = tmp_path / "state"
    state.mkdir()
    (state / "flagd.json").write_text(json.dumps({"url": "http://127.0.0.1:9999"}))
    (state / "keys.json").write_text(
        json.dumps({"admin_api_key": "local-admin", "sdk_api_key": "local-sdk"})
    )
    monkeypatch.setenv("FLAGD_DATA_DIR", str(state))
    local = resolve()
    assert (local.server, local.admin_key, local.sdk_key) == (
        "http://127.0.0.1:9999",
        "local-admin",
        "local-sdk",
    )
    monkeypatch.setenv("FLAGCTL_SERVER", "http://127.0.0.1:9999/")
    assert resolve().admin_key == "local-admin"  # the same server, written differently
    monkeypatch.setenv("FLAGCTL_SERVER", "elsewhere:1")
    elsewhere = resolve()
    assert (elsewhere.server, elsewhere.admin_key) == ("http://elsewhere:1", None)
    assert resolve(admin_key="given").source("admin_key") == "--admin-key"
    assert "local-admin" not in repr(local)


def test_the_completion_scripts_call_back_the_variable_main_answers() -> None:
    from flagctl import app
    from flagctl.commands import completion

    assert completion.COMPLETE_VAR == app.COMPLETE_VAR
    assert app.COMPLETE_VAR in completion.script("bash")


def test_every_command_is_registered_by_the_module_the_table_names() -> None:
    from typer.main import get_command

    from flagctl import app

    full = get_command(app.build())
    assert list(full.commands) == list(app.COMMANDS)  # type: ignore[attr-defined]
    for name in app.COMMANDS:
        assert name in get_command(app.build(name)).commands  # type: ignore[attr-defined]
    assert app.command_name(["--version"]) is None
    assert app.command_name(["-h", "eval", "u"]) == "eval"
