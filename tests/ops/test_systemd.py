"""systemd integration: sd_notify READY/STOPPING, STATE_DIRECTORY, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import DEADLINE
from tests.daemon import Flagd


def _notify_socket(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(DEADLINE)
    return sock, path


def test_ready_after_health_and_stopping_on_sigterm_with_open_streams(tmp_path: Path) -> None:
    sock, path = _notify_socket(tmp_path)
    daemon = Flagd(data_dir=tmp_path / "state", extra_env={"NOTIFY_SOCKET": path})
    daemon.start(wait_ready=False)
    try:
        ready = sock.recv(4096).decode()
        assert "READY=1" in ready.splitlines()
        # READY is only sent once the site listens: /health answers at once.
        assert httpx.get(daemon.url + "/health", timeout=10).text == "ok"

        # Open two streams and read their first bytes, so they are live when SIGTERM lands.
        ends: list[str] = []

        def follow() -> None:
            with httpx.stream(
                "GET",
                daemon.url + "/api/client/stream",
                params={"key": daemon.sdk_key},
                timeout=DEADLINE,
            ) as response:
                try:
                    for _ in response.iter_bytes():
                        pass
                    ends.append("clean")
                except httpx.HTTPError as exc:
                    ends.append(f"error: {exc!r}")

        readers = [threading.Thread(target=follow) for _ in range(2)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + DEADLINE
        while "flagd_stream_subscribers 2.0" not in httpx.get(daemon.url + "/metrics").text:
            assert time.monotonic() < deadline, "the two streams never registered"
            time.sleep(0.02)

        # Both streams end cleanly and flagd exits 0. How long that takes is a timing goal
        # (the README says a couple of seconds; no bench measures it yet).
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in sock.recv(4096).decode().splitlines()
        code = daemon.process.wait(DEADLINE)
        for reader in readers:
            reader.join(DEADLINE)
        assert code == 0
        assert ends == ["clean", "clean"]
    finally:
        daemon.stop()
        sock.close()


def test_state_directory_holds_database_and_private_keys(tmp_path: Path) -> None:
    state_dir = tmp_path / "systemd-state"
    state_dir.mkdir()
    daemon = Flagd(
        data_dir=tmp_path / "unused",
        admin_key=None,
        sdk_key=None,
        extra_env={"FLAGD_DATA_DIR": "", "STATE_DIRECTORY": str(state_dir)},
    )
    daemon.start()
    try:
        keys_file = state_dir / "keys.json"
        assert (state_dir / "flagd.sqlite3").exists()
        assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
        assert not (tmp_path / "unused" / "flagd.sqlite3").exists()
        log = daemon.log()
        assert str(keys_file) in log
        import json

        keys = json.loads(keys_file.read_text())
        for value in keys.values():
            assert value not in log
        response = httpx.get(
            daemon.url + "/api/admin/flags",
            headers={"X-Admin-API-Key": keys["admin_api_key"]},
            timeout=5,
        )
        assert response.status_code == 200
    finally:
        daemon.stop()
