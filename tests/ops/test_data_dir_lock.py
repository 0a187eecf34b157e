"""One flagd per data directory: a second one refuses to start and names the first.

The data directory holds flagd.json (where a local flagctl finds the daemon) and
keys.json with either store, and the SQLite file with the embedded one, so the lock is
taken with either store.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon import Flagd

EXIT_DEADLINE = 20.0  # seconds the refused flagd may take to exit (behaviour, not speed)


@pytest.fixture
def database_url(store_kind: str, request: pytest.FixtureRequest) -> str | None:
    if store_kind == "postgres":
        return str(request.getfixturevalue("new_database")())
    return None


@pytest.fixture
def running(tmp_path: Path, database_url: str | None) -> Iterator[Flagd]:
    daemon = Flagd(data_dir=tmp_path / "state", database_url=database_url).start()
    yield daemon
    daemon.stop()


def start_second(first: Flagd) -> subprocess.CompletedProcess[str]:
    second = Flagd(data_dir=first.data_dir, database_url=first.database_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "flagd"],
        env=second.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the second flagd did not exit: it serves on {second.url}\n{err}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def runtime_file(daemon: Flagd) -> dict[str, str]:
    return dict(json.loads((daemon.data_dir / "flagd.json").read_text()))


def test_a_second_flagd_on_the_data_dir_exits_1_naming_the_first(running: Flagd) -> None:
    assert running.process is not None
    second = start_second(running)
    assert second.returncode == 1, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert lines[0].startswith("flagd: "), lines[0]
    assert f"pid {running.process.pid}" in lines[0]
    assert running.url in lines[0]
    assert str(running.data_dir) in lines[0]
    assert "--data-dir" in lines[0]
    # The first keeps serving, and flagctl still finds it.
    assert runtime_file(running) == {"url": running.url, "pid": str(running.process.pid)}
    with running.admin() as admin:
        assert admin.post("/api/admin/flags", json={"key": "still-serving"}).status_code == 201
    assert httpx.get(running.url + "/ready", timeout=5).status_code == 200


def test_the_message_names_the_pid_even_before_flagd_json_is_written(running: Flagd) -> None:
    assert running.process is not None
    (running.data_dir / "flagd.json").unlink()
    second = start_second(running)
    assert second.returncode == 1, second.stderr
    assert f"pid {running.process.pid}" in second.stderr


def test_the_lock_ends_with_the_process_even_a_killed_one(running: Flagd) -> None:
    assert running.stop(signal.SIGKILL) == -signal.SIGKILL
    assert (running.data_dir / "flagd.lock").exists()  # left behind, but not held
    after = Flagd(data_dir=running.data_dir, database_url=running.database_url).start()
    try:
        assert after.process is not None
        assert runtime_file(after) == {"url": after.url, "pid": str(after.process.pid)}
    finally:
        after.stop()


def test_distinct_data_dirs_run_side_by_side(tmp_path: Path, database_url: str | None) -> None:
    one = Flagd(data_dir=tmp_path / "one", database_url=database_url).start()
    try:
        two = Flagd(data_dir=tmp_path / "two", database_url=database_url).start()
        two.stop()
    finally:
        one.stop()
