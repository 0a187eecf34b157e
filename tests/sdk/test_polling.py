"""Falling back to polling when something between the client and flagd breaks the stream.

A proxy in the test forwards GET /api/client/flags as it is and mangles the stream route:
ends it at once, answers 404, or holds it open without a byte (as a buffering proxy does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.daemon import Flagd

from .conftest import OpenClient
from .helpers import Admin, Proxy, by_key, eventually, unique_key

POLLING = {"poll_interval": 0.1, "initial_backoff": 0.02, "max_backoff": 0.1}


@pytest.fixture
def proxy(flagd: Flagd) -> Iterator[Proxy]:
    with Proxy(flagd.url) as running:
        yield running


@pytest.mark.parametrize("stream_mode", ["cut", "404", "hold"])
async def test_polls_when_the_stream_cannot_be_held(
    flagd: Flagd, proxy: Proxy, open_client: OpenClient, stream_mode: Any
) -> None:
    proxy.stream_mode = stream_mode
    options: dict[str, Any] = dict(POLLING)
    if stream_mode == "hold":
        options["read_timeout"] = 0.3  # flagd's `retry:` line arrives at once when it can
    async with Admin(flagd) as admin, open_client(proxy.url, **options) as client:
        await eventually(lambda: client.mode == "polling", "mode polling")
        assert client.status == "ready"

        key = unique_key("polled")
        await admin.create(key, enabled=True, rollout_percentage=100)
        await eventually(lambda: client.is_enabled(key, "u"), f"{key} by polling")
        await admin.delete(key)
        await eventually(lambda: key not in by_key(client.flags()), f"{key} deleted")
        assert client.revision == await admin.revision()
        assert client.mode == "polling"

    polls = proxy.fetches()
    assert len(polls) >= 3
    # Polls are conditional: unchanged flags cost a 304, not the whole set again.
    assert all(poll.if_none_match for poll in polls[1:]), polls


async def test_goes_back_to_the_stream_once_it_works_again(
    flagd: Flagd, proxy: Proxy, open_client: OpenClient
) -> None:
    proxy.stream_mode = "404"
    async with (
        Admin(flagd) as admin,
        open_client(proxy.url, stream_retry_interval=0.3, **POLLING) as client,
    ):
        await eventually(lambda: client.mode == "polling", "mode polling")
        proxy.stream_mode = "pass"
        await eventually(
            lambda: client.mode == "stream" and proxy.live_streams() == 1,
            "mode stream again, on a stream from flagd",
        )
        streams = len(proxy.streams())
        key = unique_key("streamed")
        await admin.create(key, enabled=True, rollout_percentage=100)
        await eventually(lambda: client.is_enabled(key, "u"), f"{key} over the stream")
        assert len(proxy.streams()) == streams, "the same stream delivered it"
