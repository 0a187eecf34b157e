"""AsyncFlagClient: fetch the flags, then follow the stream; evaluate from memory.

Sync loop: GET /api/client/flags (with If-None-Match once we have a revision), then
GET /api/client/stream with Last-Event-ID = our revision, applying `snapshot`,
`flag_updated` and `flag_deleted` in revision order. On any failure: status `stale` (or
`error` with no flags at all), jittered exponential backoff, and again. When the stream
cannot be held (a proxy that cuts it, or buffers it) the client polls with ETags instead
and says so in `mode`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from pathlib import Path
from typing import Any, Literal

import aiohttp

from ..core import Flag, Snapshot
from .cache import default_cache_path, read_snapshot, write_snapshot
from .flags import FlagReader, FlagStore
from .sse import Event, SSEParser

log = logging.getLogger("flagd.sdk")

Status = Literal["initializing", "ready", "stale", "error"]
Mode = Literal["stream", "polling"]
DEFAULT_CACHE: Any = "default"


class StreamProblem(Exception):
    """The stream cannot be used as it is: reconnect (and maybe fall back to polling)."""


class AsyncFlagClient(FlagReader):
    def __init__(
        self,
        base_url: str,
        sdk_key: str,
        *,
        cache_path: Path | str | None = DEFAULT_CACHE,
        bootstrap: Snapshot | dict[str, Any] | str | bytes | None = None,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        poll_interval: float = 30.0,
        read_timeout: float = 60.0,
        request_timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = sdk_key
        self._flags = FlagStore()
        self._listeners = []
        self.status: Status = "initializing"
        self.mode: Mode = "stream"
        self.last_error: str | None = None
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._poll_interval = poll_interval
        self._read_timeout = read_timeout
        self._request_timeout = request_timeout
        self._etag: str | None = None
        self._ready = asyncio.Event()  # binds to a loop only when first awaited
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._cache_path = (
            default_cache_path(self.base_url)
            if cache_path == DEFAULT_CACHE
            else (Path(cache_path) if cache_path else None)
        )
        self._cache_dirty = False
        self._cache_task: asyncio.Task[None] | None = None
        self._load_initial(bootstrap)

    def __repr__(self) -> str:
        return f"AsyncFlagClient({self.base_url!r}, status={self.status!r})"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(
            headers={"X-SDK-Key": self._key},
            timeout=aiohttp.ClientTimeout(total=None, connect=self._request_timeout),
        )
        self._task = asyncio.create_task(self._run(), name="flagd-sdk-sync")

    async def wait_until_ready(self, timeout: float | None = None) -> bool:
        """True once synced with flagd; False on timeout (cached flags still serve)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    async def close(self) -> None:
        for task in (self._task, self._cache_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._cache_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._cache_dirty:
            await self._write_cache()

    async def __aenter__(self) -> AsyncFlagClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sync loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._initial_backoff
        quick_stream_ends = 0
        while True:
            try:
                await self._fetch()
                if self.mode == "polling":
                    await asyncio.sleep(self._poll_interval)
                    delay = self._initial_backoff
                    continue
                loop = asyncio.get_running_loop()
                started = loop.time()
                events = await self._follow_stream()
                # A stream that ends quickly with nothing in it, again and again, is being
                # cut or buffered by something in between: poll instead.
                quick = events == 0 and loop.time() - started < 5.0
                quick_stream_ends = quick_stream_ends + 1 if quick else 0
                if quick_stream_ends >= 3:
                    self._fall_back_to_polling("the stream keeps ending without events")
                self._set_status("stale")
                delay = self._initial_backoff
            except asyncio.CancelledError:
                raise
            except StreamProblem as exc:
                self._fall_back_to_polling(str(exc))
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._set_status("stale" if self._flags.revision is not None else "error")
                log.debug("sync failed, retrying in about %.1fs: %s", delay, self.last_error)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._max_backoff)

    async def _fetch(self) -> None:
        assert self._session is not None
        headers = {"If-None-Match": self._etag} if self._etag else {}
        timeout = aiohttp.ClientTimeout(total=self._request_timeout)
        async with self._session.get(
            self.base_url + "/api/client/flags", headers=headers, timeout=timeout
        ) as response:
            if response.status == 304:
                self._set_status("ready")
                return
            if response.status != 200:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=response.reason
                )
            body = await response.read()
            self._etag = response.headers.get("ETag")
        self._apply_snapshot(Snapshot.from_json(body))
        self._set_status("ready")

    async def _follow_stream(self) -> int:
        """Apply events until the server ends the stream; return how many arrived."""
        assert self._session is not None
        headers = {"Accept": "text/event-stream"}
        if self._flags.revision is not None:
            headers["Last-Event-ID"] = str(self._flags.revision)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._request_timeout, sock_read=self._read_timeout
        )
        async with self._session.get(
            self.base_url + "/api/client/stream", headers=headers, timeout=timeout
        ) as response:
            if response.status in (404, 405, 501):
                raise StreamProblem(f"the stream route answered {response.status}")
            if response.status != 200:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=response.reason
                )
            if not response.content_type.startswith("text/event-stream"):
                raise StreamProblem(f"the stream came back as {response.content_type}")
            self._set_status("ready")
            return await self._read_events(response)

    async def _read_events(self, response: aiohttp.ClientResponse) -> int:
        parser = SSEParser()
        pending = b""
        count = 0
        async for chunk in response.content.iter_any():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                event = parser.feed_line(raw.decode("utf-8").removesuffix("\r"))
                if event is not None:
                    self._apply_event(event)
                    count += 1
        return count

    # -- applying changes --------------------------------------------------------------

    def _apply_event(self, event: Event) -> None:
        data = json.loads(event.data)
        if event.event == "snapshot":
            self._apply_snapshot(Snapshot.from_dict(data))
            return
        if event.event not in ("flag_updated", "flag_deleted") or event.id is None:
            return
        revision = int(event.id)
        current = self._flags.revision
        if current is not None and revision <= current:
            return
        if current is not None and revision != current + 1:
            # Never apply out of order: reconnect and let Last-Event-ID replay the gap.
            raise ValueError(f"event {revision} does not follow revision {current}")
        if event.event == "flag_updated":
            changed = self._flags.upsert(revision, Flag.from_dict(data))
        else:
            changed = self._flags.remove(revision, str(data["key"]))
        self._changed(changed)

    def _apply_snapshot(self, snapshot: Snapshot) -> None:
        if self._flags.revision is not None and snapshot.revision == self._flags.revision:
            return
        self._changed(self._flags.load(snapshot))

    def _changed(self, keys: frozenset[str]) -> None:
        self._notify(keys)
        if self._cache_path is not None:
            self._cache_dirty = True
            if self._cache_task is None or self._cache_task.done():
                self._cache_task = asyncio.create_task(self._write_cache_soon())

    def _set_status(self, status: Status) -> None:
        if status != self.status:
            log.info("flag client %s", status)
        self.status = status
        if status == "ready":
            self._ready.set()

    def _fall_back_to_polling(self, why: str) -> None:
        if self.mode != "polling":
            log.warning("falling back to polling every %.0fs: %s", self._poll_interval, why)
        self.mode = "polling"

    # -- disk cache --------------------------------------------------------------------

    def _load_initial(self, bootstrap: Snapshot | dict[str, Any] | str | bytes | None) -> None:
        snapshot: Snapshot | None = None
        if isinstance(bootstrap, Snapshot):
            snapshot = bootstrap
        elif isinstance(bootstrap, dict):
            snapshot = Snapshot.from_dict(bootstrap)
        elif isinstance(bootstrap, str | bytes):
            snapshot = Snapshot.from_json(bootstrap)
        elif self._cache_path is not None:
            cached = read_snapshot(self._cache_path)
            snapshot = cached.snapshot if cached is not None else None
        if snapshot is not None:
            self._flags.load(snapshot)
            self.status = "stale"  # serves at once; `ready` once synced with flagd

    async def _write_cache_soon(self) -> None:
        await asyncio.sleep(1.0)  # coalesce a burst of changes into one write
        await self._write_cache()

    async def _write_cache(self) -> None:
        if self._cache_path is None or self._flags.revision is None:
            return
        self._cache_dirty = False
        try:
            await asyncio.to_thread(
                write_snapshot, self._cache_path, self._flags.snapshot(), self.base_url
            )
        except OSError as exc:
            log.warning("cannot write the flag cache %s: %s", self._cache_path, exc)
