"""flagctl's local discovery trusts flagd.json only while the flagd it names is running."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flagctl.config import DEFAULT_SERVER
from tests.cli.conftest import Cli, one_error_line
from tests.conftest import port_open, service_missing
from tests.daemon import Flagd


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flagd]:
    """A live flagd that a stale flagd.json happens to name (its port was reused)."""
    daemon = Flagd(data_dir=tmp_path_factory.mktemp("elsewhere")).start()
    yield daemon
    daemon.stop()


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def local_state(home: Path, url: str, pid: int, daemon: Flagd) -> Path:
    """flagd's state directory where flagctl looks by default ($XDG_DATA_HOME/flagd)."""
    state = home / "data" / "flagd"
    state.mkdir(parents=True)
    (state / "flagd.json").write_text(json.dumps({"url": url, "pid": str(pid)}))
    (state / "keys.json").write_text(
        json.dumps({"admin_api_key": daemon.admin_key, "sdk_api_key": daemon.sdk_key})
    )
    return state


def server_setting(cli: Cli) -> dict[str, str]:
    return dict(cli.ok("config", "show", "--json").json()["server"])


def test_a_runtime_file_naming_a_dead_pid_is_ignored(elsewhere: Flagd, home: Path) -> None:
    pid = dead_pid()
    state = local_state(home, elsewhere.url, pid, elsewhere)
    cli = Cli(home)
    assert server_setting(cli) == {"value": DEFAULT_SERVER, "source": "built-in default"}
    if port_open("127.0.0.1", int(DEFAULT_SERVER.rsplit(":", 1)[1])):
        # A developer's own `make run` answers there; in CI nothing may (a failure there).
        service_missing(f"a free {DEFAULT_SERVER} (something listens on it; not in CI)")
    line = one_error_line(cli.fails(1, "list"))
    assert f"cannot reach flagd at {DEFAULT_SERVER}" in line
    assert f"pid {pid}" in line and str(state / "flagd.json") in line
    assert "not running" in line


def test_a_runtime_file_naming_a_live_pid_is_used(elsewhere: Flagd, home: Path) -> None:
    assert elsewhere.process is not None
    local_state(home, elsewhere.url, elsewhere.process.pid, elsewhere)
    cli = Cli(home)
    assert server_setting(cli)["value"] == elsewhere.url
    cli.ok("list")


def test_a_server_given_elsewhere_needs_no_hint(elsewhere: Flagd, home: Path) -> None:
    local_state(home, "http://127.0.0.1:1", dead_pid(), elsewhere)
    line = one_error_line(Cli(home, server="http://127.0.0.1:1").fails(1, "list"))
    assert "not running" not in line
