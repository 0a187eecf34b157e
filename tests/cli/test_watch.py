"""`flagctl watch`: JSON lines and plain lines from pipes, the live view in a real terminal."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.conftest import FLAGCTL, Cli, Tmux, unique_key, wait_until
from tests.conftest import free_port


@pytest.fixture(autouse=True, scope="module")
def sigint_as_in_a_foreground_job() -> Iterator[None]:
    """`Watch.interrupt` is Ctrl-C on a `flagctl watch` in the foreground. A shell starts a
    background job (`make test &`, nohup) with SIGINT ignored, and an ignored signal stays
    ignored across fork and exec: the watch would never see the SIGINT. A *handled* signal
    is reset to its default in the program a child executes, so while this module runs the
    test process handles SIGINT (as Python does by default) and each watch starts with
    SIGINT at its default, as a foreground job would."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class Watch:
    """A background `flagctl watch`, its output collected line by line as it arrives."""

    def __init__(self, cli: Cli, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(FLAGCTL), "watch", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env(),
            cwd=cli.home,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._drain, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _drain(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.out)]

    def wait_event(self, what: str, match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((event for event in self.events() if match(event)), None)

        return wait_until(found, what=f"{what}; stdout={self.out} stderr={self.err}")

    def wait_err(self, text: str, count: int = 1) -> None:
        wait_until(
            lambda: sum(text in line for line in self.err) >= count,
            what=f"{text!r} x{count} on stderr; stderr={self.err}",
        )

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=10)
        assert not any("Traceback" in line for line in self.out + self.err), self.err
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    started: list[Watch] = []
    yield started
    for watch in started:
        watch.kill()


def test_json_lines_for_every_event(cli: Cli, watches: list[Watch]) -> None:
    key = unique_key()
    watch = Watch(cli, "--json")
    watches.append(watch)
    snapshot = watch.wait_event("the snapshot", lambda e: e["event"] == "snapshot")
    assert set(snapshot) == {"event", "revision", "flags"}
    cli.ok("create", key)
    cli.ok("toggle", key)
    cli.ok("delete", key, "--yes")
    deleted = watch.wait_event("the delete", lambda e: e["event"] == "flag_deleted")
    assert deleted == {"event": "flag_deleted", "revision": deleted["revision"], "key": key}
    updates = [e for e in watch.events() if e["event"] == "flag_updated"]
    assert [u["flag"]["enabled"] for u in updates] == [False, True]
    assert all(set(u) == {"event", "revision", "flag"} for u in updates)
    revisions = [e["revision"] for e in watch.events()]
    assert revisions == list(range(snapshot["revision"], snapshot["revision"] + 4))
    assert watch.interrupt() == 0
    # The watched state became the offline snapshot.
    assert cli.ok("eval", "u", "--json").json()["revision"] == deleted["revision"]


def test_reconnects_and_resumes_with_last_event_id(flagd, cli: Cli, watches: list[Watch]) -> None:  # type: ignore[no-untyped-def]
    watch = Watch(cli, "--json")
    watches.append(watch)
    watch.wait_event("the snapshot", lambda e: e["event"] == "snapshot")
    watch.wait_err("watching")
    flagd.stop()
    watch.wait_err("reconnecting in")
    flagd.start()
    watch.wait_err("watching", count=2)
    key = unique_key()
    cli.ok("create", key)
    watch.wait_event("the new flag", lambda e: e.get("flag", {}).get("key") == key)
    # Resumed from its last revision: no second snapshot was needed.
    assert [e["event"] for e in watch.events()].count("snapshot") == 1
    assert watch.interrupt() == 0


def test_plain_lines_when_piped(cli: Cli, watches: list[Watch]) -> None:
    key = unique_key()
    watch = Watch(cli)
    watches.append(watch)
    wait_until(lambda: any("\tsnapshot\t" in line for line in watch.out), what="snapshot line")
    cli.ok("create", key, "--rollout", "5")
    wait_until(
        lambda: any(f"\tupdated\t{key}\toff, rollout 5%" in line for line in watch.out),
        what=f"update line in {watch.out}",
    )
    assert watch.interrupt() == 0


def test_sigterm_ends_cleanly(cli: Cli, watches: list[Watch]) -> None:
    watch = Watch(cli, "--json")
    watches.append(watch)
    watch.wait_event("the snapshot", lambda e: e["event"] == "snapshot")
    watch.proc.terminate()
    assert watch.proc.wait(timeout=10) == 0


def test_keeps_retrying_an_unreachable_server(cli: Cli, watches: list[Watch]) -> None:
    cli.server = f"http://127.0.0.1:{free_port()}"
    watch = Watch(cli, "--json")
    watches.append(watch)
    watch.wait_err("reconnecting in", count=2)
    assert f"cannot reach flagd at {cli.server}" in watch.err[0]
    assert watch.interrupt() == 0


def test_a_wrong_sdk_key_ends_the_watch(cli: Cli) -> None:
    cli.sdk_key = "wrong-sdk-key-1234"
    result = cli.fails(1, "watch", "--json", timeout=20)
    assert "rejected the SDK key" in result.err and result.out == ""


# --- the live view, in a real terminal ----------------------------------------------------


def row(screen: str, key: str) -> list[str]:
    """The table row of `key`: [key, state, ...] without the change marker."""
    for line in screen.splitlines():
        words = line.replace("●", " ").split()
        if words and words[0] == key:
            return words
    raise AssertionError(f"no row for {key}:\n{screen}")


def test_live_view_in_a_terminal(flagd, cli: Cli, tmux: Tmux) -> None:  # type: ignore[no-untyped-def]
    key = unique_key("live")
    cli.ok("create", key, "--rollout", "15", "-t", "a")
    tmux.type(f"{shlex.quote(str(FLAGCTL))} watch; echo EXIT=$?")
    screen = tmux.wait_screen("● connected", key, "Ctrl-C to quit")
    assert flag_row_state(row(screen, key)) == "off"
    assert tmux.flag("alternate_on") == "1"

    cli.ok("toggle", key)
    screen = tmux.wait_screen(f"last change: {key} off → on")
    assert flag_row_state(row(screen, key)) == "on"
    assert any(line.startswith("●") and key in line for line in screen.splitlines())

    other = unique_key("new")
    cli.ok("create", other, "--enabled", "--rollout", "60")
    screen = tmux.wait_screen(f"last change: {other} created")
    assert "60%" in row(screen, other)

    # A narrow terminal keeps the essentials on one line per flag.
    tmux.tmux("resize-window", "-t", "t", "-x", "44")
    screen = tmux.wait_screen("● connected", key)
    assert all(len(line) <= 44 for line in screen.splitlines())
    assert flag_row_state(row(screen, key)) == "on"
    tmux.tmux("resize-window", "-t", "t", "-x", "100")

    # The server goes away and comes back: the state line says so.
    flagd.stop()
    tmux.wait_screen("reconnecting")
    flagd.start()
    tmux.wait_screen("● connected")
    cli.ok("delete", other, "--yes")
    tmux.wait_screen(f"last change: {other} deleted")

    tmux.tmux("send-keys", "-t", "t", "C-c")
    # The shell prints its prompt just after the echo: wait for both.
    screen = tmux.wait_screen("EXIT=0\nREADY$")
    assert screen.rstrip().endswith("READY$")  # the shell has the terminal back
    assert tmux.flag("alternate_on") == "0"  # the full-screen view is gone
    assert tmux.flag("cursor_flag") == "1"  # and the cursor is visible again
    assert "Traceback" not in screen


def flag_row_state(words: list[str]) -> str:
    return words[1]
