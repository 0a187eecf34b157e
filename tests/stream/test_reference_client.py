"""The reference system's client flow (TypeScript SDK, dashboard), unchanged.

They fetch `/api/client/flags?key=…`, open an EventSource on `/api/client/stream?key=…`
(a browser's EventSource cannot send headers, so the key travels in the query) and patch
their list BY KEY: `flag_updated` replaces the flag with that key or adds it in front,
`flag_deleted` removes it. A `snapshot` only resets the list. Ids are not looked at.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx

from tests.daemon import SDK_KEY, Flagd

from .helpers import admin_client, expect, revision_of
from .sse import Event, SSEStream, open_stream

DASHBOARD_ORIGIN = "http://localhost:3000"  # the default CORS allow-list


class ReferenceClient:
    """What the SDK and dashboard do with the stream, nothing more."""

    def __init__(self) -> None:
        self.flags: list[dict[str, Any]] = []

    def load(self, body: Any) -> None:
        self.flags = list(body["flags"] if isinstance(body, dict) else body)

    def on_event(self, event: Event) -> None:
        data = event.json()
        if event.event == "snapshot":
            self.load(data)
        elif event.event == "flag_updated":
            for index, flag in enumerate(self.flags):
                if flag["key"] == data["key"]:
                    self.flags[index] = data
                    break
            else:
                self.flags.insert(0, data)
        elif event.event == "flag_deleted":
            self.flags = [flag for flag in self.flags if flag["key"] != data["key"]]


async def random_writes(admin: httpx.AsyncClient, rng: random.Random, count: int) -> int:
    """Mixed writes over a few keys; returns how many changed something."""
    changed = 0
    for n in range(count):
        key = f"ref-{rng.randrange(6)}"
        action = rng.choice(["create", "update", "toggle", "delete"])
        if action == "create":
            body = {"key": key, "enabled": rng.random() < 0.5, "rollout_percentage": n % 101}
            response = await admin.post("/api/admin/flags", json=body)
            changed += response.status_code == 201
        elif action == "update":
            body = {"description": f"write {n}", "targeted_users": [f"u{n}", "shared"]}
            response = await admin.put(f"/api/admin/flags/{key}", json=body)
            changed += response.status_code == 200
        elif action == "toggle":
            response = await admin.patch(f"/api/admin/flags/{key}/toggle")
            changed += response.status_code == 200
        else:
            response = await admin.delete(f"/api/admin/flags/{key}")
            changed += response.status_code == 204
        assert response.status_code in (200, 201, 204, 404, 409), response.text
    return changed


async def track(stream: SSEStream, client: ReferenceClient, until: int) -> None:
    """Apply events until one with id `until` (the test's own bookkeeping, not the SDK's)."""
    while True:
        event = await stream.next_event()
        client.on_event(event)
        if event.id is not None and int(event.id) >= until:
            return


async def test_reference_client_tracks_the_store_exactly(tmp_path: Path) -> None:
    daemon = Flagd(data_dir=tmp_path)
    await asyncio.to_thread(daemon.start)
    rng = random.Random(7)
    try:
        async with admin_client(daemon) as admin, httpx.AsyncClient(timeout=10) as browser:
            await random_writes(admin, rng, 15)
            response = await browser.get(
                f"{daemon.url}/api/client/flags",
                params={"key": SDK_KEY},
                headers={"Origin": DASHBOARD_ORIGIN},
            )
            expect(response, 200)
            assert response.headers.get("access-control-allow-origin") == DASHBOARD_ORIGIN
            client = ReferenceClient()
            client.load(response.json())

            # Changes between the fetch and the stream: the snapshot must cover them.
            await random_writes(admin, rng, 5)
            stream = await open_stream(
                daemon.url, query_key=SDK_KEY, headers={"Origin": DASHBOARD_ORIGIN}
            )
            async with stream:
                assert stream.status == 200
                assert stream.content_type == "text/event-stream"
                assert stream.headers.get("Access-Control-Allow-Origin") == DASHBOARD_ORIGIN, (
                    "a browser EventSource from the dashboard's origin is blocked without it: "
                    f"{dict(stream.headers)}"
                )
                first = await stream.next_event()
                assert first.event == "snapshot"
                client.on_event(first)
                for _ in range(4):
                    if await random_writes(admin, rng, 20):
                        await track(stream, client, await revision_of(daemon))
                    store = expect(await admin.get("/api/admin/flags"), 200).json()
                    assert client.flags == store, "the tracked list differs from the store"
            assert len(client.flags) > 0
    finally:
        await asyncio.to_thread(daemon.stop)
