"""The disk cache: one format for the SDK, flagctl and GET /api/client/flags."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from flagd.core import Snapshot
from flagd.sdk import AsyncFlagClient
from flagd.sdk.cache import default_cache_path, encode_cache, read_snapshot, write_snapshot
from tests.daemon import Flagd

from .conftest import OpenClient
from .helpers import SDK_KEY, Admin, by_key, unique_key


async def test_a_cache_written_by_the_sdk_bootstraps_a_new_client(
    flagd: Flagd, open_client: OpenClient, tmp_path: Path
) -> None:
    cache = tmp_path / "snapshot.json"
    key = unique_key("cached")
    async with Admin(flagd) as admin:
        await admin.create(key, enabled=True, rollout_percentage=30, targeted_users=["ünï"])
        async with open_client(flagd.url, cache_path=cache) as client:
            revision, flags = client.revision, by_key(client.flags())
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600

        raw = cache.read_bytes()
        document = json.loads(raw)
        api = (await admin.sdk.get("/api/client/flags")).json()
        # The cache is the API's document plus where and when it was saved.
        assert {k: v for k, v in document.items() if k not in ("server", "saved_at")} == api
        assert document["server"] == flagd.url and document["saved_at"].endswith("Z")

    for bootstrap in (raw, raw.decode(), document, Snapshot.from_json(raw)):
        fresh = AsyncFlagClient("http://127.0.0.1:9", SDK_KEY, bootstrap=bootstrap, cache_path=None)
        assert fresh.revision == revision and by_key(fresh.flags()) == flags
        assert fresh.is_enabled(key, "ünï") is True
        await fresh.close()


async def test_a_bootstrapped_client_writes_the_same_format(
    flagd: Flagd, open_client: OpenClient, tmp_path: Path
) -> None:
    """The other way round: the API's body (what `flagctl pull` saves) bootstraps a client,
    and the cache that client writes reads back as the same snapshot."""
    async with Admin(flagd) as admin:
        await admin.create(unique_key("boot"), enabled=True, targeted_users=["用户-7"])
    with httpx.Client(base_url=flagd.url, headers={"X-SDK-Key": SDK_KEY}) as sdk:
        body = sdk.get("/api/client/flags").content
    cache = tmp_path / "from-bootstrap.json"
    async with open_client(flagd.url, bootstrap=body, cache_path=cache) as client:
        assert client.revision == Snapshot.from_json(body).revision
    saved = read_snapshot(cache)
    assert saved is not None and saved.snapshot == Snapshot.from_json(body)
    assert saved.age_seconds() < 60


def test_cache_helpers_round_trip(tmp_path: Path) -> None:
    snapshot = Snapshot.from_dict(
        {
            "revision": 9,
            "flags": [
                {
                    "id": "i",
                    "key": "k",
                    "enabled": True,
                    "rollout_percentage": 5,
                    "targeted_users": ["😀"],
                    "version": 3,
                }
            ],
        }
    )
    path = tmp_path / "deep" / "dir" / "snap.json"
    write_snapshot(path, snapshot, "http://flagd.internal:8080")
    saved = read_snapshot(path)
    assert saved is not None
    assert (saved.snapshot, saved.server) == (snapshot, "http://flagd.internal:8080")
    assert json.loads(encode_cache(snapshot, "s", saved_at=0))["saved_at"] == (
        "1970-01-01T00:00:00.000Z"
    )
    assert [p.name for p in path.parent.iterdir()] == ["snap.json"], "no temporary files left"
    assert read_snapshot(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert read_snapshot(tmp_path / "bad.json") is None
    # One path per server, the same for flagctl and the SDK; a trailing slash is the same.
    assert default_cache_path("http://a:1/") == default_cache_path("http://a:1")
    assert default_cache_path("http://a:1") != default_cache_path("http://a:2")
