"""Small helpers shared by the API tests: unique keys, error-shape checks, revision reads."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

FLAG_FIELDS = {
    "id",
    "key",
    "description",
    "enabled",
    "rollout_percentage",
    "targeted_users",
    "version",
    "created_at",
    "updated_at",
}
CLIENT_FLAG_FIELDS = {
    "id",
    "key",
    "description",
    "enabled",
    "rollout_percentage",
    "targeted_users",
    "version",
}
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# RFC 3339: date, "T" (or "t"/space), time with optional fraction, and Z or an offset.
RFC3339_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def unique_key(prefix: str = "flag") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def parse_time(value: str) -> datetime:
    assert RFC3339_RE.fullmatch(value), f"not an RFC 3339 timestamp: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))


def is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").split(";")[0].strip() == "application/json"


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is `status` with the contract's error shape (and `code` when given)."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.text[:500]}"
    )
    assert is_json(response), f"error is not JSON: {response.headers} {response.text[:200]}"
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert "Traceback" not in body["message"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def assert_validation_error(response: httpx.Response, field: str) -> dict[str, Any]:
    body = assert_error(response, 400, "validation_error")
    assert field in body["message"], f"field {field!r} not named in {body['message']!r}"
    return body


def assert_flag_shape(flag: dict[str, Any]) -> None:
    assert set(flag) >= FLAG_FIELDS, f"missing fields: {FLAG_FIELDS - set(flag)}"
    assert UUID_RE.fullmatch(flag["id"]), flag["id"]
    assert isinstance(flag["key"], str)
    assert isinstance(flag["description"], str)
    assert isinstance(flag["enabled"], bool)
    assert type(flag["rollout_percentage"]) is int
    assert isinstance(flag["targeted_users"], list)
    assert all(isinstance(user, str) for user in flag["targeted_users"])
    assert type(flag["version"]) is int and flag["version"] >= 1
    parse_time(flag["created_at"])
    parse_time(flag["updated_at"])


def create(admin: httpx.Client, key: str | None = None, **fields: Any) -> dict[str, Any]:
    """Create a flag (unique key unless given) and return it; fails the test on non-201."""
    body = {"key": key or unique_key(), **fields}
    response = admin.post("/api/admin/flags", json=body)
    assert response.status_code == 201, response.text[:500]
    flag = response.json()
    assert isinstance(flag, dict)
    return flag


def client_state(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/client/flags")
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert isinstance(body, dict)
    return body


def revision(client: httpx.Client) -> int:
    value = client_state(client)["revision"]
    assert type(value) is int
    return int(value)


def client_flag(client: httpx.Client, key: str) -> dict[str, Any] | None:
    for flag in client_state(client)["flags"]:
        if flag["key"] == key:
            return dict(flag)
    return None


def wait_until(
    probe: Callable[[], T | None], timeout: float, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}: {last}")
        time.sleep(interval)


def wait_past(timestamp: str) -> None:
    """Poll the (shared) host clock until it is past `timestamp` at millisecond resolution,
    so that the next write's timestamp can differ from it."""
    after = parse_time(timestamp) + timedelta(milliseconds=1)
    wait_until(
        lambda: datetime.now(UTC) > after,
        timeout=2,
        interval=0.001,
        what=f"the clock to pass {timestamp}",
    )
