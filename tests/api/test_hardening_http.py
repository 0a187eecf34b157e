"""The HTTP layer: keys never reach a log line or a response body, whatever bytes carry
them; time limits on headers, bodies and idle connections; Server and Vary headers.

The connection layer does not depend on the store, so the daemons here run on SQLite;
the headers checked on the API's own responses use the `flagd` fixture (both stores).
"""

from __future__ import annotations

import itertools
import select
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon import ADMIN_KEY, SDK_KEY, Flagd

from .helpers import wait_until
from .rawhttp import closed_by_server, connect, exchange, read_response

# A key the daemon does not know (rotated out, or another environment's): the daemon
# cannot scrub it by value, so it shows whether the raw bytes are logged at all.
UNKNOWN_KEY = "stale-key-from-staging-9f8e7d6c5b4a"
SECRETS = {"admin": ADMIN_KEY, "sdk": SDK_KEY, "unknown": UNKNOWN_KEY}
HEADER_FOR = {"admin": "X-Admin-API-Key", "sdk": "X-SDK-Key", "unknown": "X-SDK-Key"}
LONG = "a" * 70_000  # past the 64 KiB line and field limits

# How a key reaches the parser inside a header value, by case name.
HEADER_CASES = {
    "cr": "{name}: {key}\r\r\n",
    "bare-lf": "{name}: {key}\n\r\n",
    "nul": "{name}: {key}\x00\r\n",
    "soh": "{name}: {key}\x01\r\n",
    "esc": "{name}: {key}\x1b[0m\r\n",
    "del": "{name}: {key}\x7f\r\n",
    "before-cr": "{name}: \r{key}\r\n",
    "in-name": "{key}\x01: x\r\n",
    "over-long": "{name}: {key}" + LONG + "\r\n",
    "over-long-before": "{name}: " + LONG + "{key}\r\n",
    # A key file ending in CRLF pasted into the header: the head ends early and the
    # headers after it arrive as a second, malformed request.
    "pasted-crlf": "{name}: {key}\r\n\r\nX-Next: {key}\r\n",
}

# How a key reaches the parser in the request target.
TARGET_CASES = {
    "query-soh": "/api/client/flags?key={key}\x01",
    "query-nul": "/api/client/flags?key={key}\x00",
    "query-lf": "/api/client/flags?key={key}\n",
    "query-tab": "/api/client/flags?key={key}\tx",
    "query-space": "/api/client/flags?key={key} x",
    "query-high-byte": "/api/client/flags?key={key}\xff",
    "query-over-long": "/api/client/flags?key={key}&x=" + LONG,
    "query-over-long-before": "/api/client/flags?x=" + LONG + "&key={key}",
    "path-over-long": "/api/client/" + LONG + "?key={key}",
    "path-ctl": "/api/client/{key}\x01",
}

# Query spellings the parser accepts: the request is answered, and logged.
QUERY_SPELLINGS = {
    "key": "?key={key}",
    "and-key": "?x=1&key={key}",
    "second-question-mark": "?x=1?key={key}",
    "percent-name": "?%6Bey={key}",
    "percent-name-upper": "?%6B%65%79={key}",
    "repeated": "?key={key}&key={key}",
    "upper-case": "?KEY={key}",
    "encoded-equals": "?key%3D{key}",
    "bare": "?{key}",
    "semicolon": "?x=1;key={key}",
    "after": "?limit=1&after={key}",
    "last-event-id": "?lastEventId={key}",
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flagd]:
    flagd = Flagd(data_dir=tmp_path_factory.mktemp("flagd-http")).start()
    yield flagd
    flagd.stop()


_markers = itertools.count()


def log_after(daemon: Flagd, offset: int) -> str:
    """The daemon's log lines written after `offset`, once everything sent so far is logged
    (a marker request's access line comes after them all)."""
    marker = f"/log-marker-{next(_markers)}"
    assert httpx.get(daemon.url + marker, timeout=10).status_code == 404
    logged = f"path={marker} "
    wait_until(lambda: logged in daemon.log(), timeout=10, what="the marker line")
    text = daemon.log()[offset:]
    return text[: text.index(logged)]


def assert_nothing_leaks(key: str, body: bytes, log: str) -> None:
    for form in (key, key[:12], key[-12:]):
        assert form.encode() not in body, body[:300]
        assert form not in log, log
    assert "level=error" not in log, log
    assert "Traceback" not in log and " exc=" not in log, log


def assert_json_error(status: int, headers: dict[str, str], body: bytes) -> None:
    assert 400 <= status < 500, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert body.startswith(b'{"error":"'), body[:300]


@pytest.mark.parametrize("which", SECRETS)
@pytest.mark.parametrize("case", HEADER_CASES)
def test_key_in_a_refused_header_is_neither_logged_nor_echoed(
    daemon: Flagd, case: str, which: str
) -> None:
    key = SECRETS[which]
    path = "/api/admin/flags" if which == "admin" else "/api/client/flags"
    line = HEADER_CASES[case].format(name=HEADER_FOR[which], key=key)
    # Connection: close after the key's line: a request the parser accepts ends the
    # connection too (a pasted CRLF moves it into the second, refused request).
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n{line}Connection: close\r\n\r\n"
    offset = len(daemon.log())
    with connect(daemon.port) as sock:
        sock.sendall(request.encode("latin-1"))
        received = closed_by_server(sock, 10)
    assert received is not None, "the connection stayed open after a malformed request"
    log = log_after(daemon, offset)
    assert_nothing_leaks(key, received, log)
    # Every response on the connection is the JSON error shape or a normal answer.
    rest = received
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (h.partition(":") for h in head.decode("latin-1").split("\r\n")[1:])
        }
        length = int(headers["content-length"])
        body, rest = rest[:length], rest[length:]
        if status >= 400:
            assert_json_error(status, headers, body)
        assert headers["server"] == "flagd"
    # The pasted case's second "request" starts with no HTTP method: rated as non-HTTP
    # noise (TLS to the plain port, scanners), at debug as aiohttp does.
    if b" 400 " in received.split(b"\r\n", 1)[0] and case != "pasted-crlf":
        assert "level=warning logger=flagd.http" in log, log


@pytest.mark.parametrize("which", SECRETS)
@pytest.mark.parametrize("case", TARGET_CASES)
def test_key_in_a_refused_request_target_is_neither_logged_nor_echoed(
    daemon: Flagd, case: str, which: str
) -> None:
    key = SECRETS[which]
    target = TARGET_CASES[case].format(key=key)
    offset = len(daemon.log())
    response = exchange(daemon.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1"))
    log = log_after(daemon, offset)
    assert_nothing_leaks(key, response.raw, log)
    assert_json_error(response.status, response.headers, response.body)
    assert response.json()["error"] in {"invalid_request", "not_found", "unauthorized"}
    assert response.headers["server"] == "flagd"
    if response.status == 400:
        assert "level=warning logger=flagd.http" in log, log
        assert 'msg="request refused by the HTTP parser"' in log


@pytest.mark.parametrize("which", SECRETS)
@pytest.mark.parametrize("spelling", QUERY_SPELLINGS)
@pytest.mark.parametrize("route", ["/api/client/flags", "/api/admin/flags", "/health"])
def test_access_log_hides_a_key_in_any_query_spelling(
    daemon: Flagd, route: str, spelling: str, which: str
) -> None:
    key = SECRETS[which]
    target = route + QUERY_SPELLINGS[spelling].format(key=key)
    offset = len(daemon.log())
    response = exchange(
        daemon.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    log = log_after(daemon, offset)
    assert_nothing_leaks(key, response.raw, log)
    assert f'path="{route}?' in log or f"path={route}?" in log, log


def test_the_access_log_keeps_paging_numbers(daemon: Flagd) -> None:
    offset = len(daemon.log())
    with daemon.admin() as admin:
        admin.get("/api/admin/flags", params={"limit": "5"})
    assert 'path="/api/admin/flags?limit=5" ' in log_after(daemon, offset)


# Bodies of an admin write that aiohttp's parser refuses, after headers it accepted.
BODY_CASES = {
    "bad-gzip": "Content-Encoding: gzip\r\nContent-Length: {length}\r\n\r\n{key}",
    "bad-deflate": "Content-Encoding: deflate\r\nContent-Length: {length}\r\n\r\n{key}",
    "bad-chunk-size": "Transfer-Encoding: chunked\r\n\r\nzz{key}\r\n{{}}\r\n0\r\n\r\n",
    "bad-chunk-extension": "Transfer-Encoding: chunked\r\n\r\n2;{key}\x01\r\n{{}}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("which", SECRETS)
@pytest.mark.parametrize("case", BODY_CASES)
def test_a_refused_body_is_a_400_without_the_key(daemon: Flagd, case: str, which: str) -> None:
    key = SECRETS[which]
    head = (
        "POST /api/admin/flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Admin-API-Key: {ADMIN_KEY}\r\n"
    )
    offset = len(daemon.log())
    response = exchange(
        daemon.port, (head + BODY_CASES[case].format(key=key, length=len(key))).encode()
    )
    log = log_after(daemon, offset)
    assert_nothing_leaks(key, response.raw, log)
    assert_json_error(response.status, response.headers, response.body)
    assert response.status == 400 and response.json()["error"] == "invalid_request"


# --- time limits -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_timeouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flagd]:
    flagd = Flagd(
        data_dir=tmp_path_factory.mktemp("flagd-timeouts"),
        extra_env={
            "FLAGD_HEADER_TIMEOUT": "1",
            "FLAGD_BODY_TIMEOUT": "1",
            "FLAGD_KEEPALIVE_TIMEOUT": "3",
            "FLAGD_HEARTBEAT_INTERVAL": "0.2",
        },
    ).start()
    yield flagd
    flagd.stop()


def assert_request_timeout(data: bytes) -> None:
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), data[:300]
    assert b"\r\nConnection: close" in head and b"\r\nServer: flagd" in head, head
    assert body.startswith(b'{"error":"request_timeout"'), body


def test_slowloris_headers_are_cut_off(short_timeouts: Flagd) -> None:
    """A header line every 0.25 s never completes the head: 408 and close."""
    with connect(short_timeouts.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        data = None
        for number in range(200):  # 50 s of trickling at most
            if select.select([sock], [], [], 0.25)[0]:  # the server answered or closed
                data = closed_by_server(sock, 10)
                break
            try:
                sock.sendall(f"X-Slow-{number}: y\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                data = b""  # closed between two lines: the 408 may be lost with the reset
                break
        assert data is not None, "a trickled head kept the connection open"
        if data:
            assert_request_timeout(data)
    log = short_timeouts.log()
    assert 'msg="request headers not received in time; connection closed"' in log


def test_half_sent_request_on_a_kept_alive_connection_is_cut_off(short_timeouts: Flagd) -> None:
    with connect(short_timeouts.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first, _ = read_response(sock)
        assert first.status == 200
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        data = closed_by_server(sock, 20)
    assert data is not None, "a half-sent request held the connection"
    assert_request_timeout(data)


def test_a_connection_that_sends_nothing_is_closed(short_timeouts: Flagd) -> None:
    with connect(short_timeouts.port) as sock:
        assert closed_by_server(sock, 20) == b""


def test_idle_keep_alive_connection_is_closed(short_timeouts: Flagd) -> None:
    with connect(short_timeouts.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        response, _ = read_response(sock)
        assert response.status == 200 and "connection" not in response.headers
        assert closed_by_server(sock, 30) == b""


def test_slow_body_is_cut_off(short_timeouts: Flagd) -> None:
    head = (
        "POST /api/admin/flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Admin-API-Key: {ADMIN_KEY}\r\nContent-Length: 1000\r\n\r\n"
    )
    with connect(short_timeouts.port) as sock:
        sock.sendall(head.encode() + b'{"key": "slow')
        response, _ = read_response(sock)
        assert_error_raw(response.status, response.headers, response.body, 408, "request_timeout")
        assert response.headers["connection"] == "close"
        assert closed_by_server(sock, 20) is not None


def assert_error_raw(
    status: int, headers: dict[str, str], body: bytes, expected: int, code: str
) -> None:
    assert status == expected, (status, body)
    assert_json_error(status, headers, body)
    assert body.startswith(f'{{"error":"{code}"'.encode()), body


@pytest.mark.parametrize(
    "request_head",
    [
        "GET /api/admin/flags HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/admin/flags HTTP/1.1\r\nHost: x\r\nX-Admin-API-Key: wrong\r\n\r\n",
        f"GET /api/admin/flags HTTP/1.1\r\nHost: x\r\nX-Admin-API-Key: {SDK_KEY}\r\n\r\n",
        "GET /api/client/flags?key=wrong HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/client/stream HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    ],
    ids=["no-key", "wrong-key", "other-key", "wrong-query-key", "stream"],
)
def test_a_401_closes_the_connection(short_timeouts: Flagd, request_head: str) -> None:
    with connect(short_timeouts.port) as sock:
        sock.sendall(request_head.encode())
        response, after = read_response(sock)
        assert_error_raw(response.status, response.headers, response.body, 401, "unauthorized")
        assert response.headers["connection"] == "close"
        assert after == b""
        assert closed_by_server(sock, 20) == b"", "the connection stayed open after a 401"


def test_a_stream_outlives_every_timeout(short_timeouts: Flagd) -> None:
    """Heartbeats every 0.2 s for longer than the header and keep-alive timeouts."""
    request = f"GET /api/client/stream HTTP/1.1\r\nHost: x\r\nX-SDK-Key: {SDK_KEY}\r\n\r\n"
    with connect(short_timeouts.port) as sock:
        sock.sendall(request.encode())
        received = b""
        while received.count(b": ping") < 25:  # 5 s of pings: past 1 s and 3 s
            chunk = sock.recv(65536)
            assert chunk, f"the stream was closed: {received[-300:]!r}"
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")


def test_timeout_settings_must_be_positive(tmp_path: Path) -> None:
    for env in ("FLAGD_HEADER_TIMEOUT", "FLAGD_BODY_TIMEOUT", "FLAGD_KEEPALIVE_TIMEOUT"):
        daemon = Flagd(data_dir=tmp_path, extra_env={env: "0"})
        try:
            with pytest.raises(RuntimeError, match="must be a positive number of seconds"):
                daemon.start(timeout=10)
        finally:
            daemon.stop()  # a daemon that did start must not outlive the test


# --- response headers --------------------------------------------------------------------


def test_server_header_names_no_versions(flagd: Flagd) -> None:
    with httpx.Client(base_url=flagd.url, timeout=10) as plain, flagd.client() as client:
        responses = [
            plain.get("/health"),
            plain.get("/nowhere"),
            plain.get("/api/admin/flags"),
            plain.delete("/health"),
            client.get("/api/client/flags"),
        ]
        with client.stream("GET", "/api/client/stream") as stream:
            responses.append(stream)
    refused = exchange(flagd.port, b"GET /\x01 HTTP/1.1\r\n\r\n")
    for headers in [response.headers for response in responses] + [refused.headers]:
        assert headers["server"] == "flagd"


@pytest.mark.parametrize(
    "extra",
    [{}, {"Origin": "http://localhost:3000"}, {"Origin": "https://elsewhere.example"}],
    ids=["no-origin", "allowed-origin", "other-origin"],
)
@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_client_flags_vary_is_the_same_with_or_without_origin(
    flagd: Flagd, extra: dict[str, str], encoding: str
) -> None:
    with flagd.client() as client:
        headers = {**extra, "Accept-Encoding": encoding}
        response = client.get("/api/client/flags", headers=headers)
        assert response.status_code == 200
        assert response.headers["Vary"] == "Accept-Encoding, Origin"
        etag = response.headers["ETag"]
        cached = client.get("/api/client/flags", headers={**headers, "If-None-Match": etag})
        assert cached.status_code == 304
        assert cached.headers["Vary"] == "Accept-Encoding, Origin"


def test_cors_exposes_the_paging_link(flagd: Flagd) -> None:
    with flagd.admin() as admin:
        response = admin.get("/api/admin/flags", headers={"Origin": "http://localhost:3000"})
    exposed = response.headers["Access-Control-Expose-Headers"].lower().replace(" ", "")
    assert set(exposed.split(",")) >= {"etag", "link"}
