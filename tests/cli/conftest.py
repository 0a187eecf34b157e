"""Run the real `flagctl` console script against the module's real flagd.

Every run gets its own HOME and XDG directories under the test's tmp_path, so nothing
reads or writes the real home, and FLAGCTL_*/FLAGD_* variables from the outer
environment never leak in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import DEADLINE, FLAGCTL, service_missing

T = TypeVar("T")


def unique_key(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def clean_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLAGCTL_", "FLAGD_", "XDG_", "_FLAGCTL", "_TYPER"))
    }
    for name in ("cache", "config", "data"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        NO_COLOR="1",
        COLUMNS="100",
    )
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@dataclass
class Cli:
    """`flagctl` with a server and keys in the environment (or none)."""

    home: Path
    server: str | None = None
    admin_key: str | None = None
    sdk_key: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = clean_env(self.home)
        for name, value in (
            ("FLAGCTL_SERVER", self.server),
            ("FLAGCTL_ADMIN_KEY", self.admin_key),
            ("FLAGCTL_SDK_KEY", self.sdk_key),
        ):
            if value:
                env[name] = value
        env.update(self.extra)
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def run(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 30,
        env: dict[str, str] | None = None,
    ) -> Result:
        proc = subprocess.run(
            [str(FLAGCTL), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=env or self.env(),
            timeout=timeout,
            cwd=self.home,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, **kwargs: Any) -> Result:
        result = self.run(*args, **kwargs)
        assert result.code == 0, str(result)
        assert "Traceback" not in result.err, str(result)
        return result

    def fails(self, code: int, *args: str, **kwargs: Any) -> Result:
        result = self.run(*args, **kwargs)
        assert result.code == code, str(result)
        assert "Traceback" not in result.err + result.out, str(result)
        return result


def one_error_line(result: Result) -> str:
    """Expected failures print exactly one line, `flagctl: …`, on stderr and nothing else."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, str(result)
    assert lines[0].startswith("flagctl: "), str(result)
    assert result.out == "", str(result)
    return lines[0]


def wait_until(check: Callable[[], T | None], timeout: float = DEADLINE, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def cli(flagd, home: Path) -> Cli:  # type: ignore[no-untyped-def]
    return Cli(home, flagd.url, flagd.admin_key, flagd.sdk_key)


@pytest.fixture
def admin(flagd) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with flagd.admin() as client:
        yield client


class Tmux:
    """A tmux server of our own (its own socket, no user config) running one shell."""

    def __init__(self, cli: Cli, width: int = 100, height: int = 30) -> None:
        self.socket = f"flagctl-test-{uuid.uuid4().hex[:8]}"
        self.env = cli.env(TERM="xterm-256color")
        self.env.pop("NO_COLOR", None)
        self.env.pop("COLUMNS", None)
        self.tmux(
            "new-session",
            "-d",
            "-x",
            str(width),
            "-y",
            str(height),
            "-s",
            "t",
            "env PS1='READY$ ' bash --norc --noprofile",
        )
        self.socket_path = self.flag("socket_path")
        try:
            wait_until(lambda: self.screen().rstrip().endswith("READY$"), what="the prompt")
        except BaseException:
            self.close()
            raise

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=10,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def flag(self, name: str) -> str:
        return self.tmux("display-message", "-p", "-t", "t", f"#{{{name}}}").strip()

    def wait_screen(self, *texts: str, timeout: float = DEADLINE) -> str:
        def shown() -> str | None:
            screen = self.screen()
            return screen if all(text in screen for text in texts) else None

        try:
            return wait_until(shown, timeout=timeout, what=f"{texts} on screen")
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.screen()}") from None

    def type(self, line: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", line)
        self.tmux("send-keys", "-t", "t", "Enter")

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"],
            capture_output=True,
            env=self.env,
            timeout=10,
        )
        Path(self.socket_path).unlink(missing_ok=True)


@pytest.fixture
def tmux(cli: Cli) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        service_missing("tmux (.ci/run installs it)")
    terminal = Tmux(cli)
    yield terminal
    terminal.close()
