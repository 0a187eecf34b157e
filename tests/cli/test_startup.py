"""What makes flagctl quick to start and pleasant in a shell: light imports, completions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from flagd.core import Flag, Snapshot
from flagd.sdk.cache import default_cache_path, write_snapshot
from tests.cli.conftest import FLAGCTL, Cli, clean_env
from tests.conftest import REPO, free_port

SHELLS = ["bash", "zsh", "fish"]
HEAVY = ("pydantic", "rich", "aiohttp", "asyncpg", "redis", "prometheus_client")


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_scripts_are_current(shell: str, home: Path) -> None:
    committed = REPO / "completions" / f"flagctl.{shell}"
    generated = Cli(home).ok("completion", shell).out
    assert committed.exists(), f"{committed} is missing: run `make completions`"
    assert committed.read_text() == generated, f"{committed} is stale: run `make completions`"


def cached_server(home: Path) -> str:
    """A snapshot cached for a server where nothing listens."""
    server = f"http://127.0.0.1:{free_port()}"
    flags = [
        Flag(
            f"00000000-0000-4000-8000-00000000000{n}",
            key,
            "",
            n % 2 == 0,
            10 * n,
            (),
            1,
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T00:00:00.000Z",
        )
        for n, key in enumerate(["dark-mode", "new-checkout", "dashboard-beta"])
    ]
    with mock.patch.dict(os.environ, clean_env(home)):
        write_snapshot(default_cache_path(server), Snapshot(3, tuple(flags)), server)
    return server


def complete(cli: Cli, shell: str, words: str) -> list[str]:
    env = cli.env(_FLAGCTL_COMPLETE=f"complete_{shell}")
    if shell == "bash":
        parts = words.split(" ")
        env.update(COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1))
    else:
        env.update(_TYPER_COMPLETE_ARGS=words)
        if shell == "fish":
            env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    result = cli.run(env=env, timeout=10)
    assert result.code == 0 and "Traceback" not in result.err, str(result)
    return result.out.splitlines()


def test_flag_keys_complete_from_the_cache_with_no_network(home: Path) -> None:
    cli = Cli(home, cached_server(home))
    assert complete(cli, "bash", "flagctl toggle d") == ["dark-mode", "dashboard-beta"]
    assert complete(cli, "bash", "flagctl eval user-1 ") == [
        "dark-mode",
        "new-checkout",
        "dashboard-beta",
    ]
    assert "new-checkout\toff, 10%" in complete(cli, "fish", "flagctl get n")
    assert '"dark-mode":"on, 0%"' in "".join(complete(cli, "zsh", "flagctl delete d"))
    # Another server: its own (missing) snapshot, so nothing to offer, and no error.
    other = f"http://127.0.0.1:{free_port()}"
    assert complete(cli, "bash", f"flagctl toggle --server {other} d") in ([], [""])


def test_commands_and_settings_complete(home: Path) -> None:
    cli = Cli(home)
    assert complete(cli, "bash", "flagctl tog") == ["toggle"]
    assert complete(cli, "bash", "flagctl config set ") == ["server", "admin_key", "sdk_key"]


def loaded_modules(home: Path, server: str, *args: str) -> set[str]:
    out = home / "modules.json"
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: open({str(out)!r}, 'w').write(json.dumps(sorted(sys.modules))))\n"
        f"sys.argv = ['flagctl', *{list(args)!r}]\n"
        "from flagctl.app import main\n"
        "main()\n"
    )
    env = Cli(home, server).env()
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(out.read_text()))


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["eval", "--help"],
        ["eval", "user-42"],
        ["eval", "user-42", "--json", "--explain"],
        ["completion", "bash"],
        ["create", "-h"],
    ],
)
def test_help_and_offline_eval_stay_light(home: Path, args: list[str]) -> None:
    """Typer's own coercion would import Pydantic (~100 ms); Rich is for terminals only."""
    modules = loaded_modules(home, cached_server(home), *args)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"flagctl {' '.join(args)} loaded {heavy}"
    assert not {"http.client", "urllib.request", "ssl"} & modules  # no network code either
    if args == ["--help"]:
        assert "flagd.core" not in modules


def test_only_the_named_command_is_loaded_after_connection_options(home: Path) -> None:
    server = cached_server(home)
    modules = loaded_modules(home, server, "--server", server, "--sdk-key", "k", "eval", "user-42")
    loaded = {m for m in modules if m.startswith("flagctl.commands.")}
    assert loaded == {"flagctl.commands.evaluate"}


def test_console_script_is_installed() -> None:
    assert FLAGCTL.exists(), "run `make install`"
