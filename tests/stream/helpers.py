"""Async HTTP helpers for the stream tests: writes, store reads, metrics."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.conftest import DEADLINE
from tests.daemon import ADMIN_KEY, SDK_KEY, Flagd

__all__ = ["ADMIN_KEY", "SDK_KEY"]


def unique_key(prefix: str = "s") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admin_client(daemon: Flagd, timeout: float = 10.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=daemon.url, headers={"X-Admin-API-Key": ADMIN_KEY}, timeout=timeout
    )


def sdk_client(daemon: Flagd, timeout: float = 10.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=daemon.url, headers={"X-SDK-Key": SDK_KEY}, timeout=timeout)


def expect(response: httpx.Response, status: int) -> httpx.Response:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, "
        f"got {response.status_code}: {response.text[:300]}"
    )
    return response


async def create(admin: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    response = await admin.post("/api/admin/flags", json={"key": key, **fields})
    return expect(response, 201).json()


async def update(admin: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    return expect(await admin.put(f"/api/admin/flags/{key}", json=fields), 200).json()


async def toggle(admin: httpx.AsyncClient, key: str) -> dict[str, Any]:
    return expect(await admin.patch(f"/api/admin/flags/{key}/toggle"), 200).json()


async def delete(admin: httpx.AsyncClient, key: str) -> None:
    expect(await admin.delete(f"/api/admin/flags/{key}"), 204)


async def store_flags(admin: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The store's flags by key (the admin list reads the store)."""
    return {flag["key"]: flag for flag in expect(await admin.get("/api/admin/flags"), 200).json()}


async def client_snapshot(daemon: Flagd) -> dict[str, Any]:
    """GET /api/client/flags: {"revision", "flags"} from the daemon's memory."""
    async with sdk_client(daemon) as sdk:
        return expect(await sdk.get("/api/client/flags"), 200).json()


async def revision_of(daemon: Flagd) -> int:
    return int((await client_snapshot(daemon))["revision"])


async def metric(daemon: Flagd, name: str) -> float:
    async with httpx.AsyncClient(base_url=daemon.url, timeout=5) as plain:
        text = expect(await plain.get("/metrics"), 200).text
    match = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} not in /metrics"
    return float(match.group(1))


async def start_instances(
    daemons: Callable[..., Flagd],
    database_url: str,
    redis_url: str,
    channel: str,
    *envs: dict[str, str],
) -> list[Flagd]:
    """One flagd per `envs` entry on one database and Redis channel, started in parallel;
    returns once each is subscribed to Redis."""
    started = await asyncio.gather(
        *(
            asyncio.to_thread(
                daemons,
                database_url=database_url,
                redis_url=redis_url,
                extra_env={"FLAGD_REDIS_CHANNEL": channel, "FLAGD_ACCESS_LOG": "false", **env},
            )
            for env in envs
        )
    )
    await wait_bus(started, up=True)
    return list(started)


async def wait_bus(instances: list[Flagd], up: bool) -> None:
    for daemon in instances:

        async def check(daemon: Flagd = daemon) -> bool:
            return await metric(daemon, "flagd_bus_up") == float(up)

        await eventually(check, f"{daemon.url} flagd_bus_up == {int(up)}")


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = DEADLINE
) -> None:
    """Poll `check` until true; fail past the (generous) deadline."""
    started = time.monotonic()
    while True:
        if await check():
            return
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)
