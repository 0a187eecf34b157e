"""`enable` / `disable` when someone else writes the flag between flagctl's read and write.

A proxy between flagctl and flagd lets one other write in just before flagctl's PUT, the
moment a read-then-write command is exposed to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Cli, unique_key

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class InterposingProxy:
    """Forwards every request to flagd; `before_put` runs once, before the first PUT."""

    def __init__(self, upstream: str, before_put: Callable[[], None]) -> None:
        self.upstream = upstream
        self.before_put: Callable[[], None] | None = before_put
        self.puts: list[dict[str, str]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.forward()

            def do_PUT(self) -> None:
                with proxy.lock:
                    hook, proxy.before_put = proxy.before_put, None
                    proxy.puts.append(dict(self.headers))
                if hook is not None:
                    hook()
                self.forward()

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                response = httpx.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body
                )
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in HOP_BY_HOP | {"content-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def interpose(cli: Cli) -> Iterator[Callable[[Callable[[], None]], Cli]]:
    proxies: list[InterposingProxy] = []

    def start(before_put: Callable[[], None]) -> Cli:
        assert cli.server
        proxy = InterposingProxy(cli.server, before_put)
        proxies.append(proxy)
        return Cli(cli.home, proxy.url, cli.admin_key, cli.sdk_key)

    yield start
    for proxy in proxies:
        proxy.close()


def test_enable_after_someone_else_enabled_it_reports_no_change(
    cli: Cli, admin: httpx.Client, interpose: Callable[[Callable[[], None]], Cli]
) -> None:
    key = unique_key()
    cli.ok("create", key)

    def someone_else() -> None:
        response = admin.put(f"/api/admin/flags/{key}", json={"enabled": True, "description": "x"})
        assert response.status_code == 200

    proxied = interpose(someone_else)
    result = proxied.ok("enable", key, "--json").json()
    # flagctl read version 1 (off); the other write made it on (version 2); flagctl's own
    # write then changed nothing, so it must not claim it did.
    assert (result["enabled"], result["changed"], result["version"]) == (True, False, 2)
    assert admin.get(f"/api/admin/flags/{key}").json()["description"] == "x"


def test_disable_after_someone_else_changed_something_else_still_disables(
    cli: Cli, admin: httpx.Client, interpose: Callable[[Callable[[], None]], Cli]
) -> None:
    key = unique_key()
    cli.ok("create", key, "--enabled")

    def someone_else() -> None:
        assert admin.put(f"/api/admin/flags/{key}", json={"rollout_percentage": 5}).is_success

    proxied = interpose(someone_else)
    result = proxied.ok("disable", key)
    assert result.err == f"{key}: disabled (was enabled)\n"
    flag = admin.get(f"/api/admin/flags/{key}").json()
    assert (flag["enabled"], flag["rollout_percentage"], flag["version"]) == (False, 5, 3)
