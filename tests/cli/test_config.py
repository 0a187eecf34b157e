"""Configuration: option > environment > profile > local flagd, and `flagctl config`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, one_error_line, unique_key
from tests.daemon import Flagd


@pytest.fixture(scope="module")
def local_flagd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flagd, Path]]:
    """A flagd with generated keys, its state where flagctl looks by default
    ($XDG_DATA_HOME/flagd), as `make run` leaves it on a developer's machine."""
    home = tmp_path_factory.mktemp("local-home")
    daemon = Flagd(data_dir=home / "data" / "flagd", admin_key=None, sdk_key=None)
    daemon.start()
    yield daemon, home
    daemon.stop()


def show(cli: Cli, *args: str) -> dict[str, dict[str, str]]:
    return cli.ok("config", "show", "--json", *args).json()  # type: ignore[no-any-return]


def test_finds_a_local_flagd_with_no_setup(local_flagd: tuple[Flagd, Path]) -> None:
    daemon, home = local_flagd
    cli = Cli(home)  # no server, no keys: only the flagd state directory
    key = unique_key()
    cli.ok("create", key, "--enabled")
    assert key in {flag["key"] for flag in cli.ok("list", "--json").json()}
    cli.ok("pull")
    assert cli.ok("eval", "u", key, "--json").json()["flags"][key]["reason"] == "rollout"
    settings = show(cli)
    assert settings["server"]["value"] == daemon.url
    for name in ("server", "admin_key", "sdk_key"):
        assert settings[name]["source"].startswith("local flagd"), name
    keys = json.loads((home / "data" / "flagd" / "keys.json").read_text())
    assert keys["admin_api_key"] not in json.dumps(settings)


def test_local_keys_are_never_sent_to_another_server(local_flagd: tuple[Flagd, Path]) -> None:
    _daemon, home = local_flagd
    settings = show(Cli(home), "--server", "http://other.example:8080")
    assert settings["server"]["source"] == "--server"
    assert settings["admin_key"] == {"value": "(not set)", "source": "not set"}
    assert settings["sdk_key"]["source"] == "not set"


def test_precedence_option_env_profile(home: Path) -> None:
    cli = Cli(home)
    cli.ok("config", "set", "server", "http://profile.example:1")
    cli.ok("config", "set", "admin_key", "profile-admin-key-1111")
    assert show(cli)["server"]["value"] == "http://profile.example:1"
    assert show(cli)["admin_key"] == {"value": "****1111", "source": show(cli)["server"]["source"]}
    assert show(cli)["server"]["source"].startswith("profile 'default'")
    cli.server, cli.admin_key = "http://env.example:2", "env-admin-key-2222"
    settings = show(cli)
    assert (settings["server"]["value"], settings["server"]["source"]) == (
        "http://env.example:2",
        "FLAGCTL_SERVER",
    )
    assert settings["admin_key"] == {"value": "****2222", "source": "FLAGCTL_ADMIN_KEY"}
    settings = show(cli, "--server", "http://option.example:3", "--admin-key", "opt-key-3333")
    assert settings["server"] == {"value": "http://option.example:3", "source": "--server"}
    assert settings["admin_key"] == {"value": "****3333", "source": "--admin-key"}


def test_named_profiles_against_a_real_server(local_flagd: tuple[Flagd, Path], home: Path) -> None:
    daemon, local_home = local_flagd
    keys = json.loads((local_home / "data" / "flagd" / "keys.json").read_text())
    cli = Cli(home)
    cli.ok("config", "set", "server", daemon.url, "--profile", "dev")
    # A key typed on stdin (hidden on a terminal), so it never lands in shell history.
    result = cli.ok(
        "config", "set", "admin_key", "--profile", "dev", input=keys["admin_api_key"] + "\n"
    )
    assert keys["admin_api_key"] not in result.err
    key = unique_key()
    cli.ok("create", key, "--profile", "dev")
    env = cli.env(FLAGCTL_PROFILE="dev")
    assert cli.run("get", key, "--json", env=env).code == 0
    assert one_error_line(cli.fails(1, "get", key))  # default profile: another server
    line = one_error_line(cli.fails(1, "list", "--profile", "nope"))
    assert "no profile 'nope'" in line and "config set" in line


def test_config_file_is_private_and_keys_are_masked(home: Path) -> None:
    cli = Cli(home)
    cli.ok("config", "set", "server", "https://flags.example.com", "-p", "prod")
    cli.ok("config", "set", "sdk_key", "secret-sdk-key-9876", "-p", "prod")
    path = Path(cli.ok("config", "path").out.strip())
    assert path.stat().st_mode & 0o777 == 0o600
    assert 'sdk_key = "secret-sdk-key-9876"' in path.read_text()
    text = cli.ok("config", "show", "-p", "prod").out
    json_text = cli.ok("config", "show", "-p", "prod", "--json").out
    for shown in (text, json_text):
        assert "secret-sdk-key-9876" not in shown and "****9876" in shown
    assert json.loads(json_text)["profiles"]["prod"] == {
        "server": "https://flags.example.com",
        "sdk_key": "****9876",
    }
    cli.ok("config", "unset", "sdk_key", "-p", "prod")
    assert "sdk_key" not in path.read_text()
    assert "not set" in one_error_line(cli.fails(1, "config", "unset", "sdk_key", "-p", "prod"))


def test_config_usage_errors(home: Path) -> None:
    cli = Cli(home)
    assert "unknown setting" in one_error_line(cli.fails(2, "config", "set", "colour", "x"))
    assert "invalid profile" in one_error_line(
        cli.fails(2, "config", "set", "server", "x", "-p", "bad name")
    )
    path = Path(cli.ok("config", "path").out.strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[default\nserver=")
    assert "not valid TOML" in one_error_line(cli.fails(1, "config", "show"))
