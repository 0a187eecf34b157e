"""AsyncFlagClient: fetch the flags, then follow the stream; evaluate from memory.

Sync loop: GET /api/client/flags, then GET /api/client/stream with Last-Event-ID = our
revision, applying `snapshot`, `flag_updated` and `flag_deleted` in revision order. A
healthy stream that ends is resumed with Last-Event-ID alone (flagd replays what we
missed); after a failure, one conditional GET (If-None-Match: our revision, a 304 when
nothing changed) comes first. Failures make the status `stale` (or `error` with no flags
at all) and back off exponentially with jitter. When the stream cannot be held (a proxy
that refuses, cuts or buffers it) the client polls with ETags instead, says so in `mode`,
and tries the stream again now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor
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


CACHE_DEBOUNCE = 1.0  # seconds between a change and the disk write (bursts coalesce)
_QUICK_END = 5.0  # seconds: a stream that ends sooner without any event was cut
_CUT_LIMIT = 3  # cut streams in a row (with flagd answering) before polling instead
_EXPECTED_FAILURES = (aiohttp.ClientError, OSError, TimeoutError, ValueError)


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
        stream_retry_interval: float = 600.0,
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
        self._stream_retry_interval = stream_retry_interval
        self._read_timeout = read_timeout
        self._request_timeout = request_timeout
        self._etag: str | None = None
        self._stream_events = 0  # events received on the current stream
        self._stream_bytes = 0
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
        # One writer thread of our own: writes land in order, and close() can join it.
        self._cache_writer: ThreadPoolExecutor | None = None
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
        if self._cache_writer is not None:
            self._cache_writer.shutdown(wait=True)  # idle by now: every write was awaited
            self._cache_writer = None

    async def __aenter__(self) -> AsyncFlagClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sync loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._initial_backoff
        need_fetch = True  # first sync, and after a failure: one conditional GET first
        cut_streams = 0  # streams cut before they delivered anything, in a row
        polling_since = 0.0
        while True:
            try:
                if self.mode == "polling":
                    await self._fetch()
                    delay = self._initial_backoff
                    if loop.time() - polling_since < self._stream_retry_interval:
                        await asyncio.sleep(self._poll_interval)
                        continue
                    # Whatever cut the stream may be gone: try it again, and come straight
                    # back to polling if it is still cut.
                    log.info("trying the stream again")
                    self.mode, need_fetch, cut_streams = "stream", False, _CUT_LIMIT - 1
                fetched = need_fetch
                if need_fetch:
                    await self._fetch()
                    need_fetch = False
                started = loop.time()
                self._stream_events = self._stream_bytes = 0
                failure: Exception | None = None
                try:
                    await self._follow_stream()
                except StreamProblem:
                    raise
                except Exception as exc:  # judged below, then handled as any failure
                    failure = exc
                # Nothing at all within seconds, or not even the server's `retry:` line
                # before the read timeout: something in between cuts or buffers the stream.
                cut = self._stream_events == 0 and (
                    loop.time() - started < _QUICK_END or self._stream_bytes == 0
                )
                if not cut:
                    cut_streams = 0
                elif fetched:  # flagd itself answered just before
                    cut_streams += 1
                need_fetch = cut
                if cut_streams >= _CUT_LIMIT:
                    polling_since = loop.time()
                    self._fall_back_to_polling("the stream keeps ending before any event")
                    cut_streams = 0
                    continue  # flags were fetched just now: poll from here on
                if failure is not None:
                    raise failure
                # A healthy stream that ended (an instance draining, a proxy recycling
                # connections): reconnect after a short jittered pause, with Last-Event-ID
                # and no refetch.
                self._set_status("stale")
                delay = self._initial_backoff
            except asyncio.CancelledError:
                raise
            except StreamProblem as exc:
                polling_since = loop.time()
                self._fall_back_to_polling(str(exc))
                continue
            except Exception as exc:
                need_fetch = True
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._set_status("stale" if self._flags.revision is not None else "error")
                if isinstance(exc, _EXPECTED_FAILURES):
                    log.debug("sync failed, retrying in about %.1fs: %s", delay, self.last_error)
                else:
                    log.warning("sync failed unexpectedly, retrying", exc_info=True)
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
                    response.request_info, (), status=response.status, message=response.reason or ""
                )
            body = await response.read()
            etag = response.headers.get("ETag")
        self._apply_snapshot(Snapshot.from_json(body))
        self._etag = etag
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
                    response.request_info, (), status=response.status, message=response.reason or ""
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
            self._stream_bytes += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                event = parser.feed_line(raw.decode("utf-8").removesuffix("\r"))
                if event is not None:
                    self._apply_event(event)
                    self._stream_events += 1
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
        # flagd's ETag for the flag set is its revision (SPEC 11): keep ours in step, so a
        # refetch after a reconnect is a 304 when nothing changed meanwhile.
        self._etag = f'"{revision}"'
        self._changed(changed)

    def _apply_snapshot(self, snapshot: Snapshot) -> None:
        # Always compared, even at an equal revision: a cached snapshot may come from a
        # store that has since been replaced. Unchanged flags notify nobody.
        self._etag = f'"{snapshot.revision}"'
        self._notify(self._flags.load(snapshot))
        self._save_soon()  # even when unchanged: the disk copy follows a synced snapshot

    def _changed(self, keys: frozenset[str]) -> None:
        self._notify(keys)
        self._save_soon()

    def _save_soon(self) -> None:
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
        while self._cache_dirty:  # changes during a write get a write of their own
            await asyncio.sleep(CACHE_DEBOUNCE)  # coalesce a burst of changes into one write
            await self._write_cache()

    async def _write_cache(self) -> None:
        if self._cache_path is None or self._flags.revision is None:
            return
        self._cache_dirty = False
        if self._cache_writer is None:
            self._cache_writer = ThreadPoolExecutor(1, thread_name_prefix="flagd-sdk-cache")
        write = functools.partial(
            write_snapshot, self._cache_path, self._flags.snapshot(), self.base_url
        )
        written = asyncio.get_running_loop().run_in_executor(self._cache_writer, write)
        try:
            # Shielded, so that a close() cancelling us never drops a queued write; the one
            # writer thread keeps writes in order, so a newer snapshot always lands last.
            await asyncio.shield(written)
        except OSError as exc:
            log.warning("cannot write the flag cache %s: %s", self._cache_path, exc)
