"""PostgreSQL going away and coming back, simulated with a TCP proxy in front of the server.

The real server keeps running: "stopping the database" closes the proxy's listening socket
and cuts every connection it carries, which is what flagd sees when PostgreSQL dies.
Reads keep serving from memory, writes fail with 503 store_unavailable rather than hang
(a hung request fails the test at the HTTP client's 10 s timeout; how fast a write fails is
a timing goal no bench measures yet), and flagd recovers on its own once the proxy listens
again (SPEC 10 and 11).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEADLINE
from tests.daemon import Flagd

from .helpers import assert_error, client_state, create, unique_key, wait_until

pytestmark = pytest.mark.postgres

FLAGS = "/api/admin/flags"
PG_ADDRESS = ("127.0.0.1", 5432)


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`; `stop()` is a database crash, `start()` a restart."""

    def __init__(self, target: tuple[str, int] = PG_ADDRESS) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.accepted = 0

    def start(self) -> TcpProxy:
        assert self._listener is None, "already listening"
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._stopping.clear()
        self._accepting = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._accepting.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection, both directions."""
        self._stopping.set()
        if self._accepting is not None:
            self._accepting.join(5)
            self._accepting = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _cut(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _cut(downstream)
                continue
            downstream.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._stopping.is_set():
                    _cut(downstream)
                    _cut(upstream)
                    return
                self._sockets.update((downstream, upstream))
                self.accepted += 1
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _cut(source)
            _cut(sink)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    tcp = TcpProxy()
    yield tcp
    tcp.stop()


@pytest.fixture
def proxied_url(new_database: Callable[[], str], proxy: TcpProxy) -> str:
    url = new_database()
    host_port = f"{PG_ADDRESS[0]}:{PG_ADDRESS[1]}"
    assert host_port in url, url
    return url.replace(host_port, f"127.0.0.1:{proxy.port}", 1)


@pytest.fixture
def make_flagd(tmp_path: Path) -> Iterator[Callable[[str], Flagd]]:
    started: list[Flagd] = []

    def make(database_url: str) -> Flagd:
        daemon = Flagd(data_dir=tmp_path / f"flagd-{len(started)}", database_url=database_url)
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.stop()


def test_reads_serve_from_memory_and_writes_fail_fast_while_the_store_is_down(
    proxy: TcpProxy, proxied_url: str, make_flagd: Callable[[str], Flagd]
) -> None:
    proxy.start()
    daemon = make_flagd(proxied_url).start()
    with (
        daemon.admin() as admin,
        daemon.client() as client,
        httpx.Client(base_url=daemon.url, timeout=10) as anon,
    ):
        flags = [create(admin, unique_key(f"out{i}")) for i in range(3)]
        admin.patch(f"{FLAGS}/{flags[0]['key']}/toggle")
        before = client.get("/api/client/flags")
        assert before.status_code == 200
        assert proxy.accepted >= 1

        proxy.stop()  # the database "crashes"

        for _ in range(5):
            response = client.get("/api/client/flags")
            assert response.status_code == 200
            assert response.json() == before.json()
            assert response.headers["ETag"] == before.headers["ETag"]
        assert (
            client.get(
                "/api/client/flags", headers={"If-None-Match": before.headers["ETag"]}
            ).status_code
            == 304
        )

        writes: list[tuple[str, Callable[[], httpx.Response]]] = [
            ("create", lambda: admin.post(FLAGS, json={"key": unique_key("down")})),
            ("toggle", lambda: admin.patch(f"{FLAGS}/{flags[1]['key']}/toggle")),
            (
                "update",
                lambda: admin.put(
                    f"{FLAGS}/{flags[1]['key']}", json={"description": "during outage"}
                ),
            ),
            ("delete", lambda: admin.delete(f"{FLAGS}/{flags[2]['key']}")),
            ("create-again", lambda: admin.post(FLAGS, json={"key": unique_key("down")})),
        ]
        for _name, write in writes:
            assert_error(write(), 503, "store_unavailable")

        # Admin reads go wherever the daemon serves them from, but never 5xx-crash or hang.
        response = admin.get(FLAGS)
        if response.status_code != 200:
            assert_error(response, 503, "store_unavailable")

        health = anon.get("/health")
        assert health.status_code == 200 and health.text.strip() == "ok"
        # Nothing was half-written.
        assert client.get("/api/client/flags").json() == before.json()

        proxy.start()  # the database is back, same address

        key = unique_key("back")

        def write_succeeds() -> httpx.Response | None:
            response = admin.post(FLAGS, json={"key": key, "description": "after outage"})
            if response.status_code == 201:
                return response
            assert_error(response, 503, "store_unavailable")
            return None

        created = wait_until(
            write_succeeds,
            DEADLINE,
            interval=0.1,
            what="a write to succeed after the store came back",
        ).json()
        state = client_state(client)
        assert state["revision"] == before.json()["revision"] + 1
        assert state["flags"][0]["id"] == created["id"]
        toggled = admin.patch(f"{FLAGS}/{flags[1]['key']}/toggle")
        assert toggled.status_code == 200
        assert toggled.json()["version"] == 2
        assert client_state(client)["revision"] == before.json()["revision"] + 2
        assert admin.get(FLAGS).status_code == 200


def test_flagd_started_while_the_store_is_down_becomes_ready_when_it_is_back(
    proxy: TcpProxy, proxied_url: str, make_flagd: Callable[[str], Flagd]
) -> None:
    daemon = make_flagd(proxied_url).start(wait_ready=False)
    with (
        daemon.admin() as admin,
        daemon.client() as client,
        httpx.Client(base_url=daemon.url, timeout=10) as anon,
    ):
        health = anon.get("/health")
        assert health.status_code == 200 and health.text.strip() == "ok"
        assert_error(anon.get("/ready"), 503, "store_unavailable")
        assert_error(client.get("/api/client/flags"), 503, "store_unavailable")
        response = admin.post(FLAGS, json={"key": unique_key("early")})
        assert_error(response, 503, "store_unavailable")
        # Auth is still checked first.
        assert_error(anon.get("/api/client/flags"), 401, "unauthorized")

        proxy.start()

        wait_until(
            lambda: anon.get("/ready").status_code == 200,
            DEADLINE,
            interval=0.1,
            what="/ready after the store came up",
        )
        assert anon.get("/ready").text.strip() == "ok"
        state = client_state(client)
        assert state == {**state, "revision": 0, "flags": []}
        flag = create(admin, unique_key("ready"))
        after = client_state(client)
        assert after["revision"] == 1
        assert [item["id"] for item in after["flags"]] == [flag["id"]]
