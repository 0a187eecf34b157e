"""Key rotation: the previous keys keep working beside the new ones until removed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.daemon import Flagd


def test_old_and_new_keys_both_work_during_a_rotation(tmp_path: Path) -> None:
    daemon = Flagd(
        data_dir=tmp_path,
        admin_key="admin-new-0123456789",
        sdk_key="sdk-new-0123456789",
        extra_env={
            "ADMIN_API_KEY_PREVIOUS": "admin-old-0123456789",
            "SDK_API_KEY_PREVIOUS": "sdk-old-0123456789",
        },
    ).start()
    try:
        with httpx.Client(base_url=daemon.url, timeout=5) as http:
            for admin in ("admin-new-0123456789", "admin-old-0123456789"):
                headers = {"X-Admin-API-Key": admin}
                assert http.get("/api/admin/flags", headers=headers).status_code == 200
            for sdk in ("sdk-new-0123456789", "sdk-old-0123456789"):
                assert http.get("/api/client/flags", params={"key": sdk}).status_code == 200
            # Neither generation of one group's key opens the other group.
            for sdk in ("sdk-new-0123456789", "sdk-old-0123456789"):
                headers = {"X-Admin-API-Key": sdk}
                assert http.get("/api/admin/flags", headers=headers).status_code == 401
            for admin in ("admin-new-0123456789", "admin-old-0123456789"):
                headers = {"X-SDK-Key": admin}
                assert http.get("/api/client/flags", headers=headers).status_code == 401
            assert http.get("/api/client/flags", params={"key": "sdk-older"}).status_code == 401
        daemon.stop()  # every access line written (they go out in batches)
        log = daemon.log()
        assert "admin-old-0123456789" not in log and "sdk-old-0123456789" not in log
    finally:
        daemon.stop()


def test_a_previous_key_equal_to_the_other_groups_key_refuses_to_start(tmp_path: Path) -> None:
    env = Flagd(
        data_dir=tmp_path,
        extra_env={"ADMIN_API_KEY_PREVIOUS": "test-sdk-key-0123456789"},  # the SDK key
    ).env()
    result = subprocess.run(
        [sys.executable, "-m", "flagd"], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "flagd: an admin key and an SDK key must never be the same"
    assert "Traceback" not in result.stderr
