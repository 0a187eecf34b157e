"""flagd runs on uvloop when it is installed (it comes with flagd) and on asyncio's own loop
otherwise or when asked: the whole suite runs on the default, this covers the other."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.daemon import Flagd


def loop_in_use(daemon: Flagd) -> str:
    starting = next(line for line in daemon.log().splitlines() if "msg=starting" in line)
    return starting.split("loop_in_use=", 1)[1].split()[0]


@pytest.mark.parametrize("choice", ["auto", "asyncio", "uvloop"])
def test_each_event_loop_serves_the_api_and_the_stream(tmp_path: Path, choice: str) -> None:
    daemon = Flagd(data_dir=tmp_path, extra_env={"FLAGD_EVENT_LOOP": choice}).start()
    try:
        assert loop_in_use(daemon) == ("asyncio" if choice == "asyncio" else "uvloop")
        with daemon.admin() as admin, daemon.client() as client:
            assert admin.post("/api/admin/flags", json={"key": "on-a-loop"}).status_code == 201
            with client.stream("GET", "/api/client/stream") as stream:
                lines = stream.iter_lines()
                assert next(line for line in lines if line.startswith("event:")) == (
                    "event: snapshot"
                )
                assert admin.patch("/api/admin/flags/on-a-loop/toggle").status_code == 200
                assert next(line for line in lines if line == "event: flag_updated")
                data = next(line for line in lines if line.startswith("data:"))
                assert json.loads(data[5:])["enabled"] is True
            assert client.get("/api/client/flags").json()["revision"] == 2
        assert httpx.get(daemon.url + "/health").text == "ok"
    finally:
        assert daemon.stop() == 0
