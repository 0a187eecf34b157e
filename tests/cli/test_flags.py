"""Managing flags with flagctl against a real flagd: output shapes and exit codes."""

from __future__ import annotations

import shlex

import httpx

from tests.cli.conftest import FLAGCTL, Cli, Tmux, one_error_line, unique_key
from tests.conftest import free_port

FLAG_FIELDS = {
    "id",
    "key",
    "description",
    "enabled",
    "rollout_percentage",
    "targeted_users",
    "version",
    "created_at",
    "updated_at",
}


def test_create_with_every_field_and_json_shape(cli: Cli, admin: httpx.Client) -> None:
    key = unique_key()
    flag = cli.ok(
        "create",
        key,
        "-d",
        "New checkout",
        "--enabled",
        "--rollout",
        "25",
        "--target",
        "alice",
        "-t",
        "bob",
        "--json",
    ).json()
    assert set(flag) == FLAG_FIELDS
    assert (
        flag["key"],
        flag["description"],
        flag["enabled"],
        flag["rollout_percentage"],
        flag["targeted_users"],
        flag["version"],
    ) == (key, "New checkout", True, 25, ["alice", "bob"], 1)
    assert admin.get(f"/api/admin/flags/{key}").json() == flag


def test_create_defaults_and_message_on_stderr(cli: Cli) -> None:
    key = unique_key()
    result = cli.ok("create", key)
    assert result.out == ""  # data only with --json; the confirmation is a message
    assert key in result.err and "off, rollout 0%, 0 targets" in result.err
    flag = cli.ok("get", key, "--json").json()
    assert (flag["enabled"], flag["rollout_percentage"], flag["targeted_users"]) == (False, 0, [])


def test_get_plain_when_piped(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key, "-d", "shown", "--rollout", "5", "-t", "u1")
    lines = dict(line.split(": ", 1) for line in cli.ok("get", key).out.splitlines())
    assert lines["key"] == key
    assert lines["description"] == "shown"
    assert (lines["state"], lines["rollout"], lines["targets"]) == ("off", "5%", "u1")
    assert lines["version"] == "1"


def test_list_json_and_plain(cli: Cli) -> None:
    first, second = unique_key(), unique_key()
    cli.ok("create", first, "--rollout", "10", "-t", "a")
    cli.ok("create", second, "--enabled")
    flags = cli.ok("list", "--json").json()
    assert all(set(flag) == FLAG_FIELDS for flag in flags)
    keys = [flag["key"] for flag in flags]
    assert keys.index(second) < keys.index(first)  # newest first
    rows = {line.split("\t")[0]: line.split("\t") for line in cli.ok("list").out.splitlines()}
    assert rows[first][1:4] == ["off", "10", "1"]
    assert rows[second][1:4] == ["on", "0", "0"]
    assert rows[first][4].endswith("Z")


def test_list_refreshes_the_offline_snapshot(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key, "--enabled", "--rollout", "100")
    cli.ok("list")
    result = cli.ok("eval", "someone", key, "--json")
    assert result.json()["flags"][key]["enabled"] is True


def test_list_with_only_the_sdk_key(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key)
    cli.admin_key = None
    assert key in {flag["key"] for flag in cli.ok("list", "--json").json()}


def test_update_fields_and_targets(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key, "-t", "alice", "-t", "bob")
    flag = cli.ok(
        "update",
        key,
        "--description",
        "d2",
        "--enabled",
        "--rollout",
        "40",
        "--add-target",
        "carol",
        "--remove-target",
        "alice",
        "--json",
    ).json()
    assert (flag["description"], flag["enabled"], flag["rollout_percentage"]) == ("d2", True, 40)
    assert flag["targeted_users"] == ["bob", "carol"]
    assert flag["version"] == 2
    flag = cli.ok("update", key, "--target", "x", "--target", "y", "--json").json()
    assert flag["targeted_users"] == ["x", "y"]  # --target replaces
    result = cli.ok("update", key, "--disabled", "--clear-targets")
    assert "on → off" in result.err and "-2 targets" in result.err
    flag = cli.ok("get", key, "--json").json()
    assert (flag["enabled"], flag["targeted_users"], flag["description"]) == (False, [], "d2")


def test_update_with_nothing_to_change_is_a_usage_error(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key)
    assert "nothing to update" in one_error_line(cli.fails(2, "update", key))


def test_enable_and_disable_are_idempotent(cli: Cli, admin: httpx.Client) -> None:
    key = unique_key()
    cli.ok("create", key)
    first = cli.ok("enable", key, "--json").json()
    assert (first["enabled"], first["changed"], first["version"]) == (True, True, 2)
    again = cli.ok("enable", key, "--json").json()
    assert (again["enabled"], again["changed"], again["version"]) == (True, False, 2)
    assert set(again) == FLAG_FIELDS | {"changed"}
    assert cli.ok("disable", key, "--json").json()["changed"] is True
    assert cli.ok("disable", key, "--json").json()["version"] == 3  # nothing recorded
    assert admin.get(f"/api/admin/flags/{key}").json()["version"] == 3


def test_enable_and_disable_say_whether_anything_changed(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key)
    assert cli.ok("enable", key).err == f"{key}: enabled (was disabled)\n"
    assert cli.ok("enable", key).err == f"{key}: already enabled, nothing changed\n"
    assert cli.ok("disable", key).err == f"{key}: disabled (was enabled)\n"
    assert cli.ok("disable", key).err == f"{key}: already disabled, nothing changed\n"


def test_toggle(cli: Cli) -> None:
    key = unique_key()
    cli.ok("create", key)
    result = cli.ok("toggle", key)
    assert f"{key}: off → on" in result.err
    assert cli.ok("toggle", key, "--json").json()["enabled"] is False


def test_delete_with_yes(cli: Cli, admin: httpx.Client) -> None:
    key = unique_key()
    cli.ok("create", key)
    assert cli.ok("delete", key, "--yes", "--json").json() == {"key": key, "deleted": True}
    assert admin.get(f"/api/admin/flags/{key}").status_code == 404


def test_delete_refuses_to_ask_without_a_terminal(cli: Cli, admin: httpx.Client) -> None:
    key = unique_key()
    cli.ok("create", key)
    line = one_error_line(cli.fails(2, "delete", key, input="y\n"))
    assert "stdin is not a terminal" in line and "--yes" in line
    assert admin.get(f"/api/admin/flags/{key}").status_code == 200


def test_not_found_names_the_flag(cli: Cli) -> None:
    commands = (["get"], ["toggle"], ["enable"], ["delete", "--yes"], ["update", "--rollout", "1"])
    for command in commands:
        line = one_error_line(cli.fails(1, *command, "no-such-flag"))
        assert "'no-such-flag'" in line, command


def test_validation_errors_show_the_server_message(cli: Cli) -> None:
    line = one_error_line(cli.fails(1, "create", "bad key!"))
    assert line == "flagctl: key: may contain only letters, digits and '-'"
    line = one_error_line(cli.fails(1, "create", unique_key(), "-d", "x" * 300))
    assert "description" in line and "256" in line
    key = unique_key()
    cli.ok("create", key)
    assert "already exists" in one_error_line(cli.fails(1, "create", key))


def test_wrong_admin_key_says_which_key_and_where_from(cli: Cli) -> None:
    cli.admin_key = "wrong-admin-key-0000"
    line = one_error_line(cli.fails(1, "list"))
    assert "rejected the admin key" in line and "FLAGCTL_ADMIN_KEY" in line
    assert "wrong-admin-key-0000" not in line  # masked
    line = one_error_line(cli.fails(1, "get", "x", "--admin-key", "other-wrong-key"))
    assert "admin key" in line and "from --admin-key" in line


def test_wrong_sdk_key_says_which_key(cli: Cli) -> None:
    line = one_error_line(cli.fails(1, "pull", "--sdk-key", "wrong-sdk-key-000"))
    assert "rejected the SDK key" in line and "--sdk-key" in line


def test_missing_key_explains_how_to_give_one(cli: Cli) -> None:
    cli.admin_key = None
    line = one_error_line(cli.fails(1, "create", unique_key()))
    assert "no admin key" in line and "FLAGCTL_ADMIN_KEY" in line


def test_unreachable_server_names_the_url(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for command in (["list"], ["create", "x"], ["pull"], ["get", "x"], ["export"]):
        line = one_error_line(cli.fails(1, *command, "--server", url))
        assert f"cannot reach flagd at {url}" in line, command
    line = one_error_line(cli.fails(1, "list", "--server", "ftp://example"))
    assert "http:// or https://" in line


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert "missing argument 'KEY'" in one_error_line(cli.fails(2, "create"))
    assert "200 is not in the range" in one_error_line(cli.fails(2, "create", "k", "-r", "200"))
    assert "not a valid integer" in one_error_line(cli.fails(2, "update", "k", "-r", "lots"))
    assert "no such option" in one_error_line(cli.fails(2, "list", "--bogus"))
    assert "no such command" in one_error_line(cli.fails(2, "frobnicate"))
    assert "Usage: flagctl" in cli.fails(2).err  # no arguments: the help, as a usage error


def test_help_and_version(cli: Cli) -> None:
    help_text = cli.ok("--help").out
    for command in (
        "create",
        "update",
        "enable",
        "disable",
        "toggle",
        "delete",
        "get",
        "list",
        "pull",
        "export",
        "import",
        "watch",
        "eval",
        "version",
        "config",
    ):
        assert f"  {command} " in help_text, command
    assert "FLAGCTL_SERVER" in help_text
    assert cli.ok("version").out.startswith("flagctl ")
    assert cli.ok("--version").out == cli.ok("version").out
    assert set(cli.ok("version", "--json").json()) == {"version"}
    for command in ("create", "update", "delete", "eval", "watch", "import", "config"):
        assert cli.ok(command, "--help").out.startswith("Usage: flagctl ")


def test_at_a_terminal_delete_asks_and_list_is_a_table(
    cli: Cli, tmux: Tmux, admin: httpx.Client
) -> None:
    key = unique_key()
    cli.ok("create", key, "--rollout", "30", "-t", "a")
    flagctl = shlex.quote(str(FLAGCTL))
    tmux.type(f"{flagctl} list")
    screen = tmux.wait_screen("KEY", "UPDATED", key)
    assert row_words(screen, key)[:4] == [key, "off", "30%", "1"]

    tmux.type(f"{flagctl} delete {key}; echo EXIT=$?")
    tmux.wait_screen(f"Delete flag {key} (off, rollout 30%, 1 target)? [y/N]")
    tmux.type("n")
    tmux.wait_screen(f"flagctl: {key} not deleted", "EXIT=1")
    assert admin.get(f"/api/admin/flags/{key}").status_code == 200
    tmux.tmux("send-keys", "-t", "t", "clear", "Enter")
    tmux.type(f"{flagctl} delete {key}; echo EXIT=$?")
    tmux.wait_screen("[y/N]")
    tmux.type("y")
    tmux.wait_screen(f"deleted {key}", "EXIT=0")
    assert admin.get(f"/api/admin/flags/{key}").status_code == 404


def row_words(screen: str, key: str) -> list[str]:
    for line in screen.splitlines():
        words = line.split()
        if words and words[0] == key:
            return words
    raise AssertionError(f"no row for {key}:\n{screen}")
