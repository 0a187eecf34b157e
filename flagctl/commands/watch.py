"""`flagctl watch`: the flag set, live, from the stream."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from .. import output
from ..options import Json, Profile, SdkKey, Server, connect

if TYPE_CHECKING:
    from ..config import Connection
    from ..watcher import Status, WatchState

CACHE_WRITE_INTERVAL = 1.0  # seconds: a burst of events writes the snapshot once


def register(app: typer.Typer) -> None:
    app.command()(watch)


def watch(
    json: Json = False, server: Server = None, sdk_key: SdkKey = None, profile: Profile = None
) -> None:
    """Watch every flag change live (Ctrl-C to quit).

    On a terminal: a live table that marks what just changed and shows the connection
    state; it reconnects by itself and resumes where it left off. Piped: one line per
    event; --json: one JSON object per event. Keeps the offline snapshot for `eval` current.
    """
    from ..client import check_server, require_key
    from ..watcher import WatchState, follow

    connection = connect(server, None, sdk_key, profile)
    check_server(connection)
    require_key(connection, "sdk_key")
    state = WatchState(connection.server)
    saver = SnapshotSaver(connection, state)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if json or not output.stdout_is_terminal():

            def on_record(record: dict[str, Any]) -> None:
                (output.print_json_line if json else output.print_watch_line)(record)
                saver.changed()

            follow(connection, state, on_record, _status_messages(connection))
        else:
            with output.live_watch(state) as live:

                def on_live_record(record: dict[str, Any]) -> None:
                    live.refresh()
                    saver.changed()

                follow(connection, state, on_live_record, lambda _status: live.refresh())
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends: a normal exit
    finally:
        signal.signal(signal.SIGTERM, previous)
        saver.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C, so the terminal is restored


def _status_messages(connection: Connection) -> Any:
    def on_status(status: Status) -> None:
        if status.state == "connected":
            output.message(f"watching {connection.server} (Ctrl-C to stop)")
        elif status.state == "reconnecting":
            wait = max(0.0, (status.retry_at or time.monotonic()) - time.monotonic())
            output.message(f"{status.detail}; reconnecting in {wait:.1f}s")

    return on_status


class SnapshotSaver:
    """Writes the watched flag set as the offline snapshot: at once after a quiet spell,
    otherwise at most once a second, and a last time on exit."""

    def __init__(self, connection: Connection, state: WatchState) -> None:
        self.connection = connection
        self.state = state
        self.lock = threading.Lock()
        self.last_write = 0.0
        self.timer: threading.Timer | None = None
        self.dirty = False

    def changed(self) -> None:
        with self.lock:
            self.dirty = True
            wait = self.last_write + CACHE_WRITE_INTERVAL - time.monotonic()
            if wait <= 0:
                self._write()
            elif self.timer is None:
                self.timer = threading.Timer(wait, self._timed)
                self.timer.daemon = True
                self.timer.start()

    def _timed(self) -> None:
        with self.lock:
            self.timer = None
            self._write()

    def _write(self) -> None:
        if not self.dirty or self.state.revision is None:
            return
        from .. import cache

        # The live view matters more than the cache; eval says how old its snapshot is.
        with contextlib.suppress(OSError):
            cache.save(self.connection, self.state.snapshot_document())
        self.dirty = False
        self.last_write = time.monotonic()

    def close(self) -> None:
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self._write()
