"""Run a real flagd process for tests and benchmarks, and talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ADMIN_KEY = "test-admin-key-0123456789"
SDK_KEY = "test-sdk-key-0123456789"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Flagd:
    """A flagd subprocess. `database_url` None means the embedded SQLite store in `data_dir`."""

    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    port: int = field(default_factory=_free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    admin_key: str | None = ADMIN_KEY
    sdk_key: str | None = SDK_KEY
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _FLAGD_ENV}
        env.update(
            FLAGD_DATA_DIR=str(self.data_dir),
            PORT=str(self.port),
            FLAGD_BIND_HOST="127.0.0.1",
            FLAGD_LOG_LEVEL="info",
        )
        if self.admin_key:
            env["ADMIN_API_KEY"] = self.admin_key
        if self.sdk_key:
            env["SDK_API_KEY"] = self.sdk_key
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    def start(self, wait_ready: bool = True, timeout: float = 15.0) -> Flagd:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"flagd-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flagd", *self.extra_args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            self.wait_for("/ready" if wait_ready else "/health", timeout)
        except BaseException:
            self.stop()  # never leave an orphaned flagd behind a failed start
            raise
        return self

    def wait_for(self, path: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"flagd exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"flagd not answering {path} within {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def restart(self) -> Flagd:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def admin(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"X-Admin-API-Key": self.admin_key or ""},
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"X-SDK-Key": self.sdk_key or ""},
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )


_FLAGD_ENV = {
    "PORT",
    "DATABASE_URL",
    "REDIS_URL",
    "ADMIN_API_KEY",
    "SDK_API_KEY",
    "ADMIN_API_KEY_PREVIOUS",
    "SDK_API_KEY_PREVIOUS",
    "CORS_ORIGINS",
    "STATE_DIRECTORY",
    "NOTIFY_SOCKET",
}
