"""Raw HTTP/1.1 over a socket: bytes no HTTP client library would send, and connection state."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw: bytes = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_response(sock: socket.socket, buffered: bytes = b"") -> tuple[RawResponse, bytes]:
    """One response (Content-Length framed, or up to EOF); returns it and any bytes after."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body, after = rest[:length], rest[length:]
    else:
        body, after = rest + read_until_eof(sock), b""
    return RawResponse(status, headers, body, head + b"\r\n\r\n" + body), after


def read_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def exchange(port: int, request: bytes) -> RawResponse:
    """Send `request`, read one response, and require the server to close afterwards."""
    with connect(port) as sock:
        sock.sendall(request)
        response, after = read_response(sock)
        after += read_until_eof(sock)
    assert after == b"", after[:200]
    return response


def closed_by_server(sock: socket.socket, deadline: float) -> bytes | None:
    """Everything the server sends until it closes the connection (None: still open at the
    deadline). Waits on the socket, not on a clock: the deadline only bounds a failure."""
    data = b""
    end = time.monotonic() + deadline
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    return None
