"""A Server-Sent Events reader on http.client: one blocking connection, parsed line by line.

Kept on the standard library so `flagctl watch` starts as fast as every other command.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from .client import require_key, unreachable, user_agent
from .config import Connection


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    data: str
    id: str | None


@dataclass(frozen=True, slots=True)
class Retry:
    """The server's `retry:` field: how long to wait before reconnecting."""

    milliseconds: int


class Stream:
    """One open GET /api/client/stream. Iterate for events; `close()` from any thread."""

    def __init__(self, connection: Connection, last_event_id: str | None, timeout: float) -> None:
        parts = urlsplit(connection.server)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._http = cls(parts.hostname or "", parts.port, timeout=timeout)
        headers = {
            "X-SDK-Key": require_key(connection, "sdk_key"),
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
            "User-Agent": user_agent(),
        }
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        path = (parts.path.rstrip("/") or "") + "/api/client/stream"
        try:
            self._http.request("GET", path, headers=headers)
            self.response = self._http.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise unreachable(connection.server, exc, connection.hint) from None
        self.status = self.response.status

    def error_body(self) -> bytes:
        try:
            return self.response.read(65536)
        except OSError:
            return b""

    def __iter__(self) -> Iterator[Event | Retry]:
        return parse(self._lines())

    def _lines(self) -> Iterator[str]:
        pending = b""
        while True:
            chunk = self.response.read1(65536)
            if not chunk:
                return  # the server ended the stream
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r").decode("utf-8", "replace")

    def close(self) -> None:
        self._http.close()


def parse(lines: Iterator[str]) -> Iterator[Event | Retry]:
    """The SSE wire format (WHATWG): fields until a blank line dispatch one event."""
    event, data, event_id = "", [], None
    for line in lines:
        if not line:
            if data:
                yield Event(event or "message", "\n".join(data), event_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue  # a comment: the server's heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            event_id = value
        elif name == "retry" and value.isdigit():
            yield Retry(int(value))
