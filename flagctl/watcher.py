"""`flagctl watch` without the screen: the flag set kept current from the stream.

`WatchState` applies stream events and remembers what changed when; `follow` keeps a
stream open, reconnecting with Last-Event-ID and exponential backoff. Neither prints:
the command hands records and state to output.py.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .changes import describe
from .client import describe_rejection
from .config import Connection
from .errors import CliError, Unreachable
from .sse import Event, Retry, Stream

HIGHLIGHT_SECONDS = 5.0
READ_TIMEOUT = 60.0  # flagd pings every 15 s by default; silence this long means a dead link
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


@dataclass
class Status:
    state: str = "connecting"  # connecting | connected | reconnecting
    detail: str = ""
    attempt: int = 0
    retry_at: float | None = None  # time.monotonic() of the next attempt
    connected_at: float | None = None


@dataclass(frozen=True)
class Change:
    at: float  # time.monotonic()
    kind: str  # created | updated | deleted
    summary: str


@dataclass
class WatchState:
    server: str
    flags: dict[str, dict[str, Any]] = field(default_factory=dict)  # newest first
    revision: int | None = None
    changes: dict[str, Change] = field(default_factory=dict)
    gone: dict[str, dict[str, Any]] = field(default_factory=dict)  # deleted, still shown
    last_change: tuple[str, Change] | None = None
    status: Status = field(default_factory=Status)
    events: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def apply(self, event: Event, now: float | None = None) -> dict[str, Any] | None:
        """Apply one stream event; returns its record for --json, None when it is not ours."""
        now = time.monotonic() if now is None else now
        try:
            data = json.loads(event.data)
            revision = int(event.id) if event.id is not None else None
        except ValueError:
            return None
        with self.lock:
            if event.event == "snapshot":
                record = self._snapshot(data, now)
            elif event.event == "flag_updated":
                record = self._updated(data, now)
            elif event.event == "flag_deleted":
                record = self._deleted(str(data.get("key", "")), now)
            else:
                return None
            if revision is not None:
                self.revision = revision
            self.events += 1
        return {"event": event.event, "revision": revision, **record}

    def _snapshot(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        flags = {flag["key"]: flag for flag in data.get("flags", [])}
        if self.revision is not None:  # a fresh snapshot after a reconnect: mark the differences
            for key, flag in flags.items():
                if key not in self.flags:
                    self._mark(key, Change(now, "created", "created"))
                elif flag != self.flags[key]:
                    self._mark(key, Change(now, "updated", describe(self.flags[key], flag)))
            for key in self.flags.keys() - flags.keys():
                self.gone[key] = self.flags[key]
                self._mark(key, Change(now, "deleted", "deleted"))
        self.flags = flags
        return {"flags": list(flags.values())}

    def _updated(self, flag: dict[str, Any], now: float) -> dict[str, Any]:
        key = flag["key"]
        before = self.flags.get(key)
        if before is None:
            self.flags = {key: flag, **self.flags}  # newest first, as flagd lists them
            self.gone.pop(key, None)
            self._mark(key, Change(now, "created", "created"))
        else:
            self.flags[key] = flag
            self._mark(key, Change(now, "updated", describe(before, flag)))
        return {"flag": flag}

    def _deleted(self, key: str, now: float) -> dict[str, Any]:
        removed = self.flags.pop(key, None)
        if removed is not None:
            self.gone[key] = removed
        self._mark(key, Change(now, "deleted", "deleted"))
        return {"key": key}

    def _mark(self, key: str, change: Change) -> None:
        self.changes[key] = change
        self.last_change = (key, change)

    def expire(self, now: float) -> None:
        """Forget deleted flags once their highlight is over."""
        with self.lock:
            for key in [k for k in self.gone if now - self.changes[k].at > HIGHLIGHT_SECONDS]:
                del self.gone[key]

    def snapshot_document(self) -> dict[str, Any]:
        with self.lock:
            return {"flags": list(self.flags.values()), "revision": self.revision or 0}


def backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s, … up to 30 s, with jitter so clients do not reconnect in step."""
    delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempt - 1))
    return delay * random.uniform(0.8, 1.2)


def follow(
    connection: Connection,
    state: WatchState,
    on_record: Callable[[dict[str, Any]], None],
    on_status: Callable[[Status], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Stream forever (until Ctrl-C). Authentication and routing errors end it with a
    CliError; everything else is retried with Last-Event-ID."""
    last_id: str | None = None
    attempt = 0
    while True:
        reason = _follow_once(connection, state, last_id, on_record, on_status)
        with state.lock:
            if state.revision is not None:
                last_id = str(state.revision)
            attempt = 1 if state.status.state == "connected" else attempt + 1
            delay = backoff(attempt)
            state.status = Status("reconnecting", reason, attempt, time.monotonic() + delay)
        on_status(state.status)
        sleep(delay)
        with state.lock:
            state.status = Status("connecting", reason, attempt)
        on_status(state.status)


def _follow_once(
    connection: Connection,
    state: WatchState,
    last_id: str | None,
    on_record: Callable[[dict[str, Any]], None],
    on_status: Callable[[Status], None],
) -> str:
    """One connection, until it ends; returns why it ended."""
    try:
        stream = Stream(connection, last_id, READ_TIMEOUT)
    except Unreachable as exc:
        return str(exc)
    try:
        if stream.status != 200:
            return _refused(connection, stream)
        with state.lock:
            state.status = Status("connected", "", 0, None, time.monotonic())
        on_status(state.status)
        for item in stream:
            if isinstance(item, Retry):
                continue  # our own backoff decides; the server's hint is 3 s
            record = state.apply(item)
            if record is not None:
                on_record(record)
        return "the server closed the stream"
    except TimeoutError:
        return f"no data from {connection.server} for {READ_TIMEOUT:.0f}s"
    except (OSError, http.client.HTTPException) as exc:
        return f"connection lost: {exc}"
    finally:
        stream.close()


def _refused(connection: Connection, stream: Stream) -> str:
    code, message = "http_error", stream.response.reason
    try:
        body = json.loads(stream.error_body())
        code, message = str(body.get("error", code)), str(body.get("message", message))
    except (ValueError, AttributeError):
        pass
    text = describe_rejection(connection, stream.status, code, message, "sdk_key")
    if stream.status in (401, 403, 404):
        raise CliError(text)  # retrying cannot fix a wrong key or a wrong server
    return text
