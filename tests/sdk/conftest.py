"""Fixtures for the SDK tests: either client behind one async API, quiet by default."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from flagd.sdk import AsyncFlagClient, FlagClient
from tests.conftest import DEADLINE

from .helpers import FAST, SDK_KEY

OpenClient = Callable[..., contextlib.AbstractAsyncContextManager[Any]]


@pytest.fixture(params=["FlagClient", "AsyncFlagClient"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_client(client_kind: str) -> OpenClient:
    """`async with open_client(url, **options) as client:` for the parametrised client kind.

    The client is started and (unless `ready=False`) synced; no disk cache unless asked for.
    """

    @contextlib.asynccontextmanager
    async def open_(url: str, *, ready: bool = True, **options: Any) -> AsyncIterator[Any]:
        options.setdefault("cache_path", None)
        for name, value in FAST.items():
            options.setdefault(name, value)
        client: Any
        if client_kind == "FlagClient":
            client = FlagClient(url, SDK_KEY, **options)
            try:
                if ready:
                    assert await asyncio.to_thread(client.wait_until_ready, DEADLINE), client
                yield client
            finally:
                await asyncio.to_thread(client.close)
        else:
            client = AsyncFlagClient(url, SDK_KEY, **options)
            await client.start()
            try:
                if ready:
                    assert await client.wait_until_ready(DEADLINE), client
                yield client
            finally:
                await client.close()

    return open_
