"""How flagctl reads as a command-line tool: help, usage errors, options before the command,
pipes that close early."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from flagctl.app import command_name
from tests.cli.conftest import FLAGCTL, Cli, one_error_line, unique_key
from tests.cli.test_startup import cached_server, complete
from tests.conftest import free_port

COMMANDS = [
    ["create"],
    ["update"],
    ["enable"],
    ["disable"],
    ["toggle"],
    ["delete"],
    ["get"],
    ["list"],
    ["pull"],
    ["export"],
    ["import"],
    ["watch"],
    ["eval"],
    ["version"],
    ["completion"],
    ["config"],
    ["config", "set"],
    ["config", "unset"],
    ["config", "show"],
    ["config", "path"],
]
# Typer's own rendering of a parameter's Python type: `KEY <str>`, `FLAG <list[str]>`,
# `{KEY}` for a required argument in the usage line.
PYTHON_TYPE = re.compile(r"<(str|int|bool|float|list\[[^\]]*\]|[a-z]+\|[a-z|]+)>|\{[A-Z]+\}")


@pytest.mark.parametrize("words", [[], *COMMANDS], ids=lambda words: " ".join(words) or "app")
def test_dash_h_is_help_on_every_command(home: Path, words: list[str]) -> None:
    cli = Cli(home)
    short, long = cli.ok(*words, "-h").out, cli.ok(*words, "--help").out
    assert short == long
    assert long.startswith(f"Usage: {' '.join(['flagctl', *words])} ")
    assert "-h, --help" in long


@pytest.mark.parametrize("words", [[], *COMMANDS], ids=lambda words: " ".join(words) or "app")
def test_help_shows_names_not_python_types(home: Path, words: list[str]) -> None:
    text = Cli(home).ok(*words, "--help").out
    assert not PYTHON_TYPE.search(text), text


def test_arguments_read_as_metavars(home: Path) -> None:
    cli = Cli(home)
    evaluate = cli.ok("eval", "--help").out
    assert "Usage: flagctl eval [OPTIONS] [USER] [FLAG]...\n" in evaluate
    assert re.search(r"^  USER +The user id", evaluate, re.M)
    assert re.search(r"^  FLAG\.\.\. +Flag keys", evaluate, re.M)
    create = cli.ok("create", "--help").out
    assert "Usage: flagctl create [OPTIONS] KEY\n" in create
    assert re.search(r"^  KEY +Letters, digits", create, re.M)
    assert "Usage: flagctl config set [OPTIONS] NAME [VALUE]\n" in cli.ok("config", "set", "-h").out
    assert re.search(r"^  SHELL +bash, zsh or fish", cli.ok("completion", "-h").out, re.M)


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["create"], "missing argument 'KEY'", "flagctl create"),
        (["eval", "--explain", "--users"], "option '--users' requires an argument", "flagctl eval"),
        (["list", "--bogus"], "no such option: --bogus", "flagctl list"),
        (
            ["create", "k", "--rollout", "200"],
            "invalid value for '--rollout' / '-r': 200 is not in the range 0<=x<=100",
            "flagctl create",
        ),
        (
            ["update", "k", "--rollout", "lots"],
            "invalid value for '--rollout' / '-r': 'lots' is not a valid integer",
            "flagctl update",
        ),
        (["frobnicate"], "no such command 'frobnicate'", "flagctl"),
        (["config", "set"], "missing argument 'NAME'", "flagctl config set"),
        (["config", "frob"], "no such command 'frob'", "flagctl config"),
        (["--bogus", "list"], "no such option: --bogus", "flagctl"),
        (["get", "a", "b"], "got unexpected extra argument(s) (b)", "flagctl get"),
    ],
)
def test_usage_errors_are_one_line_with_a_hint(
    home: Path, args: list[str], message: str, hint: str
) -> None:
    line = one_error_line(Cli(home).fails(2, *args))
    assert line == f"flagctl: {message} (see '{hint} --help')"


def test_no_arguments_prints_the_help_as_a_usage_error(home: Path) -> None:
    result = Cli(home).fails(2)
    assert result.out == "" and result.err.startswith("Usage: flagctl [OPTIONS] COMMAND")
    assert "Commands:" in Cli(home).fails(2, "config").err


def test_an_unknown_shell_is_one_clean_line(home: Path) -> None:
    for shell in ("powershell", "BASH", ""):
        line = one_error_line(Cli(home).fails(2, "completion", shell))
        assert line == (
            f"flagctl: no completion for shell {shell!r}: use bash, zsh or fish "
            "(see 'flagctl completion --help')"
        )


def test_the_command_is_found_after_the_connection_options() -> None:
    assert command_name(["--server", "http://x", "-p", "prod", "list"]) == "list"
    assert command_name(["-s", "http://x", "--admin-key", "k", "--sdk-key", "s", "get", "a"]) == (
        "get"
    )
    assert command_name(["--server=http://x", "--profile", "p", "eval", "u"]) == "eval"
    assert command_name(["--version"]) is None


def connection(cli: Cli) -> tuple[str, str, str]:
    assert cli.server and cli.admin_key and cli.sdk_key
    return cli.server, cli.admin_key, cli.sdk_key


def test_connection_options_before_the_command(cli: Cli) -> None:
    server, admin_key, sdk_key = connection(cli)
    key = unique_key()
    given = ["--server", server, "--admin-key", admin_key, "--sdk-key", sdk_key]
    bare = Cli(cli.home)  # nothing in the environment: only the options
    root_help = bare.ok("--help").out
    for option in ("-s, --server URL", "--admin-key KEY", "--sdk-key KEY", "-p, --profile NAME"):
        assert option in root_help, option
    bare.ok(*given, "create", key)
    assert key in {flag["key"] for flag in bare.ok(*given, "list", "--json").json()}
    bare.ok(*given, "pull")
    result = bare.ok("-s", server, "--sdk-key", sdk_key, "eval", "u", key, "--json")
    assert result.json()["flags"][key]["enabled"] is False
    shown = bare.ok(*given, "config", "show", "--json").json()
    assert (shown["server"]["source"], shown["admin_key"]["source"]) == ("--server", "--admin-key")


def test_after_the_command_wins(cli: Cli) -> None:
    server, _admin_key, _sdk_key = connection(cli)
    nowhere = f"http://127.0.0.1:{free_port()}"
    key = unique_key()
    cli.ok("--server", nowhere, "create", key, "--server", server)
    line = one_error_line(cli.fails(1, "--server", server, "get", key, "--server", nowhere))
    assert f"cannot reach flagd at {nowhere}" in line


def test_profile_before_the_command(home: Path) -> None:
    cli = Cli(home)
    cli.ok("--profile", "prod", "config", "set", "server", "https://flags.example.com")
    cli.ok("-p", "prod", "config", "set", "sdk_key", "prod-sdk-key-4321")
    shown = cli.ok("-p", "prod", "config", "show", "--json").json()
    assert shown["profile"] == "prod" and shown["server"]["value"] == "https://flags.example.com"
    assert shown["sdk_key"]["value"] == "****4321"
    cli.ok("--profile", "prod", "config", "unset", "sdk_key")
    assert (
        "sdk_key" not in cli.ok("config", "show", "-p", "prod", "--json").json()["profiles"]["prod"]
    )


def test_flag_keys_complete_for_the_server_named_before_the_command(home: Path) -> None:
    cli = Cli(home, cached_server(home))
    other = f"http://127.0.0.1:{free_port()}"
    assert complete(cli, "bash", f"flagctl --server {other} toggle d") in ([], [""])
    assert complete(cli, "bash", f"flagctl --server {cli.server} toggle d") == [
        "dark-mode",
        "dashboard-beta",
    ]


def run_into_closed_pipe(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    """flagctl with its stdout a pipe whose reading end is already closed: every write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [str(FLAGCTL), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=cli.env(),
            timeout=30,
            cwd=cli.home,
        )
    finally:
        os.close(write_end)


def test_a_closed_pipe_ends_quietly_with_status_0(cli: Cli) -> None:
    cli.ok("create", unique_key())
    for args in (["list"], ["list", "--json"], ["--help"], ["export"], ["get", "--help"]):
        result = run_into_closed_pipe(cli, *args)
        assert (result.returncode, result.stderr) == (0, ""), args


def test_eval_into_head_under_pipefail(home: Path) -> None:
    cli = Cli(home, cached_server(home))
    (home / "users.txt").write_text("".join(f"user-{n}\n" for n in range(50_000)))
    script = f"set -o pipefail; {shlex.quote(str(FLAGCTL))} eval --users users.txt | head -1"
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=cli.env(),
        cwd=home,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('{"user_id":"user-0"')
    assert "Error" not in result.stderr and "Exception" not in result.stderr


def test_list_into_head_under_pipefail(cli: Cli) -> None:
    for _ in range(3):
        cli.ok("create", unique_key())
    script = f"set -o pipefail; {shlex.quote(str(FLAGCTL))} list | head -1"
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=cli.env(), timeout=60
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(result.stdout.splitlines()) == 1
