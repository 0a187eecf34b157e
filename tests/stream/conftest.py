"""Fixtures for the stream tests: daemons on demand, the shared Redis, a private Redis."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REDIS_TEST_URL, free_port, port_open, service_missing
from tests.daemon import Flagd

DaemonFactory = Callable[..., Flagd]


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[DaemonFactory]:
    """make(**Flagd fields) → a started flagd; every one is stopped at the end."""
    made: list[Flagd] = []

    def make(**fields: object) -> Flagd:
        # A name of its own: daemons are made from several threads at once, and a data
        # directory takes one flagd.
        data_dir = tmp_path / f"flagd-{uuid.uuid4().hex[:8]}"
        daemon = Flagd(data_dir=data_dir, **fields)  # type: ignore[arg-type]
        made.append(daemon)
        return daemon.start()

    yield make
    for daemon in made:
        daemon.stop()


@pytest.fixture
def shared_redis() -> str:
    parts = urlsplit(REDIS_TEST_URL)
    if not port_open(parts.hostname or "127.0.0.1", parts.port or 6379):
        service_missing(f"Redis at {REDIS_TEST_URL}")
    return REDIS_TEST_URL


@pytest.fixture
def channel() -> str:
    """A channel of this test's own: parallel runs on one Redis never cross."""
    return f"flagd-test-{uuid.uuid4().hex}"


class PrivateRedis:
    """A redis-server of the test's own, without persistence, that can be stopped and
    started again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None:
                raise RuntimeError((self.workdir / "redis.log").read_text(errors="replace"))
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server not listening on {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill it outright: connections drop the way they do when Redis dies."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    try:
        subprocess.run(["redis-server", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        service_missing("the redis-server binary")
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
