"""Helpers for the SDK tests: admin writes, waiting on real conditions, a test proxy."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import httpx
from aiohttp import web

from flagd.core import Flag
from tests.conftest import DEADLINE, free_port
from tests.daemon import ADMIN_KEY, SDK_KEY, Flagd

__all__ = ["ADMIN_KEY", "SDK_KEY"]

# Fast reconnects: the tests wait on conditions, and a 30 s backoff would only slow them.
FAST = {"initial_backoff": 0.05, "max_backoff": 0.3}


def unique_key(prefix: str = "sdk") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def eventually(
    condition: Callable[[], object], what: str = "the condition", timeout: float = DEADLINE
) -> None:
    """Poll `condition` until it is truthy; fail at the (generous) deadline."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > timeout:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        await asyncio.sleep(0.002)


def eventually_sync(
    condition: Callable[[], object], what: str = "the condition", timeout: float = DEADLINE
) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} did not hold within {timeout}s")
        time.sleep(0.002)


class Admin:
    """The admin API of one daemon, async."""

    def __init__(self, daemon: Flagd) -> None:
        self.http = httpx.AsyncClient(
            base_url=daemon.url, headers={"X-Admin-API-Key": ADMIN_KEY}, timeout=10
        )
        self.sdk = httpx.AsyncClient(
            base_url=daemon.url, headers={"X-SDK-Key": SDK_KEY}, timeout=10
        )

    async def __aenter__(self) -> Admin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.sdk.aclose()

    async def _expect(self, response: httpx.Response, status: int) -> Any:
        assert response.status_code == status, (
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )
        return response.json() if response.content else None

    async def create(self, key: str, **fields: Any) -> dict[str, Any]:
        response = await self.http.post("/api/admin/flags", json={"key": key, **fields})
        return await self._expect(response, 201)  # type: ignore[no-any-return]

    async def update(self, key: str, **fields: Any) -> dict[str, Any]:
        response = await self.http.put(f"/api/admin/flags/{key}", json=fields)
        return await self._expect(response, 200)  # type: ignore[no-any-return]

    async def toggle(self, key: str) -> dict[str, Any]:
        response = await self.http.patch(f"/api/admin/flags/{key}/toggle")
        return await self._expect(response, 200)  # type: ignore[no-any-return]

    async def delete(self, key: str) -> None:
        await self._expect(await self.http.delete(f"/api/admin/flags/{key}"), 204)

    async def flags(self) -> dict[str, Flag]:
        """The store's flags by key (the admin list reads the store)."""
        listed = await self._expect(await self.http.get("/api/admin/flags"), 200)
        return {item["key"]: Flag.from_dict(item) for item in listed}

    async def revision(self) -> int:
        document = await self._expect(await self.sdk.get("/api/client/flags"), 200)
        return int(document["revision"])


def by_key(flags: list[Flag]) -> dict[str, Flag]:
    return {flag.key: flag for flag in flags}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    last_event_id: str | None
    if_none_match: str | None


StreamMode = Literal["pass", "cut", "404", "hold"]


class Proxy:
    """A reverse proxy to flagd on 127.0.0.1 that records requests and can misbehave.

    `stream_mode` decides what GET /api/client/stream gets: "pass" forwards it, "cut" answers
    200 text/event-stream and ends the body at once, "404" answers 404, "hold" answers the
    headers and then sends nothing (a buffering proxy). Other routes are always forwarded.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.stream_mode: StreamMode = "pass"
        self.seen: list[Seen] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-proxy")
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._held: set[asyncio.Future[None]] = set()
        self._live: set[aiohttp.ClientResponse] = set()
        self._gate: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def streams(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == "/api/client/stream"]

    def fetches(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == "/api/client/flags"]

    def live_streams(self) -> int:
        """Streams being forwarded from flagd right now."""
        return len(self._live)

    def hold_new_streams(self) -> None:
        """Keep new stream requests waiting (recorded, not forwarded) until released."""
        self._loop.call_soon_threadsafe(self._gate_set, False)

    def release_streams(self) -> None:
        self._loop.call_soon_threadsafe(self._gate_set, True)

    def end_streams(self) -> None:
        """End every forwarded stream now, as a load balancer dropping connections would."""
        self._loop.call_soon_threadsafe(self._end_live)

    def _gate_set(self, open_: bool) -> None:
        assert self._gate is not None
        if open_:
            self._gate.set()
        else:
            self._gate.clear()

    def _end_live(self) -> None:
        for upstream in list(self._live):
            upstream.close()

    def __enter__(self) -> Proxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._gate = asyncio.Event()
        self._gate.set()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        for held in self._held:
            held.cancel()
        assert self._session is not None and self._runner is not None
        assert self._gate is not None
        self._gate.set()
        await self._session.close()
        await self._runner.cleanup()
        current = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not current]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        headers = request.headers
        self.seen.append(
            Seen(
                request.method,
                request.path,
                headers.get("Last-Event-ID"),
                headers.get("If-None-Match"),
            )
        )
        if request.path == "/api/client/stream":
            if self.stream_mode != "pass":
                return await self._misbehave(request)
            assert self._gate is not None
            await self._gate.wait()
        return await self._forward(request)

    async def _misbehave(self, request: web.Request) -> web.StreamResponse:
        if self.stream_mode == "404":
            body = {"error": "not_found", "message": "no stream here"}
            return web.json_response(body, status=404)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.stream_mode == "hold":
            held = asyncio.get_running_loop().create_future()
            self._held.add(held)
            try:
                await held
            except asyncio.CancelledError:
                pass
            finally:
                self._held.discard(held)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        skip = {"host", "content-length", "transfer-encoding", "connection"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        try:
            upstream = await self._session.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=await request.read(),
                timeout=aiohttp.ClientTimeout(total=None, connect=5),
            )
        except (aiohttp.ClientError, OSError) as exc:
            body = {"error": "bad_gateway", "message": str(exc)}
            return web.json_response(body, status=502)
        if request.path != "/api/client/stream":
            return await self._relay(request, upstream)
        self._live.add(upstream)
        try:
            return await self._relay(request, upstream)
        finally:
            self._live.discard(upstream)

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        # Bodies pass through as they are (auto_decompress=False), so Content-Encoding stays.
        skip = {"content-length", "transfer-encoding", "connection"}
        async with upstream:
            out_headers = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in skip | {"date", "server"}
            }
            response = web.StreamResponse(status=upstream.status, headers=out_headers)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, OSError):
                pass  # either side went away: end our body too, as a cut proxy would
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response
