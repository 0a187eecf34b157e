"""FlagClient: the AsyncFlagClient's loop on a background thread, for threaded apps.

Evaluation runs on the caller's thread straight from memory; only syncing happens on the
background thread (one thread, one event loop, per client). Change listeners are called
on that thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .client import AsyncFlagClient, Mode, Status
from .flags import FlagReader


class FlagClient(FlagReader):
    def __init__(self, base_url: str, sdk_key: str, *, start: bool = True, **options: Any):
        self._inner = AsyncFlagClient(base_url, sdk_key, **options)  # may raise: no loop yet
        self._loop = asyncio.new_event_loop()
        self._flags = self._inner._flags
        self._listeners = self._inner._listeners
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        if start:
            self.start()

    def __repr__(self) -> str:
        return f"FlagClient({self._inner.base_url!r}, status={self.status!r})"

    @property
    def status(self) -> Status:
        return self._inner.status

    @property
    def mode(self) -> Mode:
        return self._inner.mode

    @property
    def last_error(self) -> str | None:
        return self._inner.last_error

    @property
    def base_url(self) -> str:
        return self._inner.base_url

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._loop.is_closed():
                return
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="flagd-sdk", daemon=True
            )
            self._thread.start()
        self._call(self._inner.start())

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return False
        self._refuse_own_thread()
        return bool(self._call(self._inner.wait_until_ready(timeout)))

    def close(self) -> None:
        self._refuse_own_thread()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._call(self._inner.close(), timeout=10)
            self._call(self._loop.shutdown_default_executor(), timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> FlagClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _refuse_own_thread(self) -> None:
        # Waiting on our own loop from inside it (an on_change callback) would never return.
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                "FlagClient: call close() and wait_until_ready() from your "
                "own threads, not from an on_change callback"
            )

    def _call(self, coroutine: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)
