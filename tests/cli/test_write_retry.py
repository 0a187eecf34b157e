"""flagctl's writes survive a lost answer: an Idempotency-Key per write, one retry with it.

A proxy in front of the real flagd forwards each write and waits for flagd's whole answer
(so the write has committed), then loses it: it closes the connection, or answers 503 in
its place. flagctl retries once with the same key and reports success, and flagd's
revision shows the write applied exactly once.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest

from tests.cli.conftest import Cli, one_error_line, unique_key
from tests.daemon import Flagd

Loss = Literal["drop", "503", "pass"]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: 64\r\nConnection: close\r\n\r\n"
    + json.dumps({"error": "store_unavailable", "message": "lost during COMMIT"}).encode().ljust(64)
)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    idempotency_key: str | None


class AnswerLosingProxy:
    """Forwards 127.0.0.1:`port` to flagd, one request per connection (urllib's way), and
    loses flagd's answer to the next writes as told by `lose`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)  # so that close() ends the accept loop at once
        self._closing = threading.Event()
        self.port = int(self.listener.getsockname()[1])
        self.lose: list[Loss] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def writes(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.method in WRITES]

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            method, path = head.split(" ", 2)[:2]
            headers = dict(line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)
            key = next(
                (v.strip() for k, v in headers.items() if k.lower() == "idempotency-key"), None
            )
            with self._lock:
                self.seen.append(Seen(method, path, key))
                loss = self.lose.pop(0) if method in WRITES and self.lose else None
            with socket.create_connection(self.upstream, timeout=10) as upstream:
                upstream.sendall(request)
                answer = _read_to_end(upstream)  # flagd answered: the write has committed
            if loss == "drop":
                conn.shutdown(socket.SHUT_RDWR)
            elif loss == "503":
                conn.sendall(SERVICE_UNAVAILABLE)
            else:
                conn.sendall(answer)


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


def _read_to_end(upstream: socket.socket) -> bytes:
    chunks = []
    while chunk := upstream.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def proxy(flagd: Flagd) -> Iterator[AnswerLosingProxy]:
    proxied = AnswerLosingProxy(flagd.port)
    yield proxied
    proxied.close()


@pytest.fixture
def via_proxy(proxy: AnswerLosingProxy, flagd: Flagd, home: Path) -> Cli:
    return Cli(home, proxy.url, flagd.admin_key, flagd.sdk_key)


def revision(flagd: Flagd) -> int:
    with flagd.client() as client:
        return int(client.get("/api/client/flags").json()["revision"])


def flag(flagd: Flagd, key: str) -> httpx.Response:
    with flagd.admin() as admin:
        return admin.get(f"/api/admin/flags/{key}")


def assert_one_key_per_write(seen: list[Seen], attempts: int) -> None:
    assert len(seen) == attempts, seen
    keys = {s.idempotency_key for s in seen}
    assert len(keys) == 1 and None not in keys, seen


@pytest.mark.parametrize("loss", ["drop", "503"])
def test_a_create_whose_answer_is_lost_is_retried_and_applied_once(
    flagd: Flagd, proxy: AnswerLosingProxy, via_proxy: Cli, loss: Loss
) -> None:
    key, before = unique_key("lost"), revision(flagd)
    proxy.lose = [loss]
    result = via_proxy.ok("create", key, "--enabled", "--rollout", "30")
    assert f"created {key}" in result.err + result.out
    assert_one_key_per_write(proxy.writes(), 2)
    assert revision(flagd) == before + 1
    assert flag(flagd, key).json()["rollout_percentage"] == 30


def test_a_toggle_whose_answer_is_lost_flips_once(
    flagd: Flagd, proxy: AnswerLosingProxy, via_proxy: Cli
) -> None:
    key = unique_key("flip")
    via_proxy.ok("create", key)
    before = revision(flagd)
    proxy.lose = ["drop"]
    via_proxy.ok("toggle", key)
    assert_one_key_per_write(proxy.writes()[1:], 2)
    assert revision(flagd) == before + 1
    assert flag(flagd, key).json()["enabled"] is True


def test_an_update_and_a_delete_whose_answers_are_lost(
    flagd: Flagd, proxy: AnswerLosingProxy, via_proxy: Cli
) -> None:
    key = unique_key("upd")
    via_proxy.ok("create", key)
    before = revision(flagd)
    proxy.lose = ["503"]
    via_proxy.ok("update", key, "--rollout", "70")  # If-Match from its read: no 412 on retry
    proxy.lose = ["drop"]
    via_proxy.ok("disable", key)
    proxy.lose = ["drop"]
    via_proxy.ok("delete", key, "--yes")  # the retry gets the 204, not a 404
    assert revision(flagd) == before + 2  # disabling a disabled flag changes nothing
    assert flag(flagd, key).status_code == 404
    writes = proxy.writes()[1:]
    assert len(writes) == 6
    assert [len({w.idempotency_key for w in writes[i : i + 2]}) for i in (0, 2, 4)] == [1, 1, 1]
    assert len({w.idempotency_key for w in writes}) == 3


def test_import_sends_a_key_with_each_write(
    flagd: Flagd, proxy: AnswerLosingProxy, via_proxy: Cli, home: Path
) -> None:
    keys = [unique_key("imp") for _ in range(3)]
    document = {"flags": [{"key": key, "enabled": True} for key in keys]}
    exported = via_proxy.ok("export").json()
    document = {**exported, "flags": exported["flags"] + document["flags"]}
    (home / "flags.json").write_text(json.dumps(document))
    before = revision(flagd)
    proxy.lose = ["drop", "pass", "drop"]  # the first two creates lose their first answer
    via_proxy.ok("import", str(home / "flags.json"))
    assert revision(flagd) == before + 3
    writes = proxy.writes()
    assert len(writes) == 5  # two of the three creates retried once
    assert len({w.idempotency_key for w in writes}) == 3


def test_the_retry_happens_once(flagd: Flagd, proxy: AnswerLosingProxy, via_proxy: Cli) -> None:
    key, before = unique_key("twice"), revision(flagd)
    proxy.lose = ["drop", "drop"]
    line = one_error_line(via_proxy.fails(1, "create", key))
    assert f"flagd at {proxy.url}" in line
    assert_one_key_per_write(proxy.writes(), 2)
    assert revision(flagd) == before + 1  # applied by the first attempt, replayed by the second


def test_a_rejected_write_is_not_retried(
    flagd: Flagd, proxy: AnswerLosingProxy, via_proxy: Cli
) -> None:
    key = unique_key("dup")
    via_proxy.ok("create", key)
    one_error_line(via_proxy.fails(1, "create", key))
    assert len(proxy.writes()) == 2  # one create each, no retry of the 409


def test_reads_carry_no_key(proxy: AnswerLosingProxy, via_proxy: Cli) -> None:
    via_proxy.ok("list")
    assert proxy.seen and all(s.idempotency_key is None for s in proxy.seen)
