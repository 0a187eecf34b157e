"""A small HTTP client for flagd on the standard library (fast start-up, no event loop).

Every failure becomes a CliError whose text is the one line the user sees: which URL could
not be reached, which key was rejected and where it came from, the server's own message.

Each write carries an Idempotency-Key of its own and is retried once, with that key, when
its answer is lost (no answer, or a 503): flagd answers the retry of a write that did
commit with the first answer instead of applying it twice.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from flagd import __version__

from .config import ENV, OPTION, Connection, mask
from .errors import CliError, Rejected, Unreachable

KEY_HEADERS = {"admin_key": "X-Admin-API-Key", "sdk_key": "X-SDK-Key"}
KEY_NAMES = {"admin_key": "admin key", "sdk_key": "SDK key"}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_PAUSE = 0.5  # seconds before the one retry of a write whose answer was lost


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    etag: str | None


def flag_path(key: str, suffix: str = "") -> str:
    return f"/api/admin/flags/{quote(key, safe='')}{suffix}"


def user_agent() -> str:
    return f"flagctl/{__version__}"


def actor() -> str:
    """Recorded by flagd in the change log as who made the change."""
    import getpass

    try:
        return f"flagctl:{getpass.getuser()}"[:128]
    except (OSError, KeyError):
        return "flagctl"


class FlagdClient:
    def __init__(self, connection: Connection, timeout: float = 10.0) -> None:
        self.connection = connection
        self.timeout = timeout
        check_server(connection)

    def admin(self, method: str, path: str, body: Any = None, if_match: int | None = None) -> Any:
        headers = {"X-Flagd-Actor": actor()}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if method not in WRITE_METHODS:
            return self.request(method, path, "admin_key", body, headers).body
        headers["Idempotency-Key"] = str(uuid.uuid4())
        try:
            return self.request(method, path, "admin_key", body, headers).body
        except (Unreachable, Rejected) as exc:
            if isinstance(exc, Rejected) and exc.status != 503:
                raise
        time.sleep(RETRY_PAUSE)
        return self.request(method, path, "admin_key", body, headers).body

    def client_flags(self, etag: str | None = None) -> Response:
        """GET /api/client/flags; status 304 (body None) when `etag` is still current."""
        headers = {"If-None-Match": etag} if etag else {}
        return self.request("GET", "/api/client/flags", "sdk_key", None, headers)

    def request(
        self,
        method: str,
        path: str,
        key_name: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        import urllib.error
        import urllib.request

        all_headers = {
            KEY_HEADERS[key_name]: require_key(self.connection, key_name),
            "User-Agent": user_agent(),
            "Accept": "application/json",
            **(headers or {}),
        }
        url = self.connection.server + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw, etag = response.status, response.read(), response.headers["ETag"]
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return Response(304, None, exc.headers.get("ETag"))
            raise self._rejected(exc, key_name) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # HTTPException: the answer was cut short (IncompleteRead, BadStatusLine).
            reason = getattr(exc, "reason", exc)
            raise unreachable(self.connection.server, reason, self.connection.hint) from None
        try:
            return Response(status, json.loads(raw) if raw else None, etag)
        except ValueError:
            raise CliError(
                f"{self.connection.server} answered {method} {path} with something that is "
                "not JSON: is it a flagd server?"
            ) from None

    def _rejected(self, exc: Any, key_name: str) -> Rejected:
        code, message = "http_error", str(exc.reason)
        try:
            body = json.loads(exc.read())
            code, message = str(body.get("error", code)), str(body.get("message", message))
        except (ValueError, AttributeError, OSError):
            pass
        return Rejected(
            describe_rejection(self.connection, exc.code, code, message, key_name), exc.code, code
        )


def describe_rejection(
    connection: Connection, status: int, code: str, message: str, key_name: str
) -> str:
    server = connection.server
    if status == 401:
        key = getattr(connection, key_name)
        return (
            f"flagd at {server} rejected the {KEY_NAMES[key_name]} {mask(key)} from "
            f"{connection.source(key_name)}: check it, or pass another with "
            f"{OPTION[key_name]} / {ENV[key_name]}"
        )
    if status == 412:
        return f"{message}: the flag changed on the server meanwhile; run the command again"
    if status >= 500:
        return f"flagd at {server} failed: {message} (HTTP {status} {code})"
    if status == 404 and code == "not_found" and "route" in message:
        return f"{server} has no such route ({message}): is it a flagd server?"
    return message


def require_key(connection: Connection, key_name: str) -> str:
    key = getattr(connection, key_name)
    if not key:
        setting = key_name
        raise CliError(
            f"no {KEY_NAMES[key_name]} for {connection.server}: pass {OPTION[key_name]}, set "
            f"{ENV[key_name]}, or save one with `flagctl config set {setting}`"
        )
    return str(key)


def check_server(connection: Connection) -> None:
    parts = urlsplit(connection.server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"the server must be an http:// or https:// URL, not {connection.server!r} "
            f"(from {connection.source('server')})"
        )


def unreachable(server: str, reason: object, hint: str | None = None) -> Unreachable:
    if isinstance(reason, OSError) and reason.strerror:
        text = reason.strerror.lower()
    elif isinstance(reason, TimeoutError) or "timed out" in str(reason):
        text = "timed out"
    else:
        text = str(reason) or type(reason).__name__
    message = f"cannot reach flagd at {server}: {text}"
    return Unreachable(f"{message} ({hint})" if hint else message)
