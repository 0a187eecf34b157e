"""A small HTTP client for flagd on the standard library (fast start-up, no event loop)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from .config import Connection


class CliError(Exception):
    """An expected failure: shown as one line on stderr, exit status 1."""


class FlagdClient:
    def __init__(self, connection: Connection, timeout: float = 10.0) -> None:
        self.connection = connection
        self.timeout = timeout

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        key = self.connection.admin_key
        if not key:
            raise CliError("no admin key: pass --admin-key or set FLAGCTL_ADMIN_KEY")
        return self._request(method, path, {"X-Admin-API-Key": key}, body, "admin key")

    def _request(
        self, method: str, path: str, headers: dict[str, str], body: Any, key_name: str
    ) -> Any:
        url = self.connection.server + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise CliError(_describe_http_error(exc, key_name)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach flagd at {self.connection.server}: {reason}") from None
        return json.loads(raw) if raw else None


def _describe_http_error(exc: urllib.error.HTTPError, key_name: str) -> str:
    try:
        body = json.loads(exc.read())
        message = body.get("message") or body.get("error")
    except (ValueError, AttributeError):
        message = exc.reason
    if exc.code == 401:
        return f"the {key_name} was rejected by flagd ({message})"
    return f"{message} (HTTP {exc.code})"
