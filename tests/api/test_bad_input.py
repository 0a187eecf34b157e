"""Bad input never gets a 5xx: every case is a 4xx with the JSON error shape (SPEC 5, 10, 11).

The table runs against the module's daemon; after it, the daemon must still be healthy and
still accept a normal write.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.daemon import ADMIN_KEY, Flagd

from .helpers import assert_error, create, unique_key, wait_until

FLAGS = "/api/admin/flags"
BODY_400 = {"invalid_request", "validation_error"}
# The key of a flag every PUT case of the table targets (created by the `target` fixture).
TARGET = f"bad-input-target-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)
    status: int | None = None  # exact status, when the contract settles it
    codes: frozenset[str] | None = None  # acceptable error codes, when settled

    def __str__(self) -> str:
        return self.name


def body_cases() -> list[Case]:
    """Bodies that must be refused, sent both as a create and as an update."""
    invalid_json = "invalid_request"
    bodies: list[tuple[str, bytes, str | set[str]]] = [
        ("open-brace", b"{", invalid_json),
        ("empty", b"", invalid_json),
        ("whitespace", b"   \n", invalid_json),
        ("truncated-member", b'{"key": ', invalid_json),
        ("trailing-comma", b'{"key": "a",}', invalid_json),
        ("single-quotes", b"{'key': 'a'}", invalid_json),
        ("trailing-garbage", b'{"key": "a"} x', invalid_json),
        ("nested-arrays", b"[" * 100_000, invalid_json),
        ("nested-objects", b'{"a":' * 50_000, invalid_json),
        ("nested-closed", b"[" * 100_000 + b"]" * 100_000, BODY_400),
        ("invalid-utf8", b'{"key": "\xff\xfe", "description": "\xc3"}', invalid_json),
        ("invalid-utf8-key", b'{"key": "a\x80b"}', invalid_json),
        ("null", b"null", BODY_400),
        ("array", b"[]", BODY_400),
        ("array-of-object", b'[{"key": "a"}]', BODY_400),
        ("string", b'"x"', BODY_400),
        ("number", b"1", BODY_400),
        ("true", b"true", BODY_400),
        (
            "huge-int-rollout",
            b'{"key": "huge", "rollout_percentage": ' + b"9" * 4400 + b"}",
            BODY_400,
        ),
        ("nan-rollout", b'{"key": "nan", "rollout_percentage": NaN}', BODY_400),
        ("infinity-rollout", b'{"key": "inf", "rollout_percentage": Infinity}', BODY_400),
        ("overflow-float-rollout", b'{"key": "ovf", "rollout_percentage": 1e400}', BODY_400),
        ("exponent-rollout", b'{"key": "exp", "rollout_percentage": 1e2}', "validation_error"),
        ("nan-description", b'{"key": "nan", "description": NaN}', BODY_400),
        ("nan-enabled", b'{"key": "nan", "enabled": NaN}', BODY_400),
        ("surrogate-description", b'{"key": "sur", "description": "\\ud800"}', "validation_error"),
        (
            "surrogate-user",
            b'{"key": "sur", "targeted_users": ["ok", "\\udfff"]}',
            "validation_error",
        ),
        ("surrogate-key", b'{"key": "\\ud800"}', "validation_error"),
        ("surrogate-raw-bytes", b'{"key": "sur", "description": "\xed\xa0\x80"}', BODY_400),
        ("nul-description", b'{"key": "nul", "description": "a\\u0000b"}', "validation_error"),
        ("nul-user", b'{"key": "nul", "targeted_users": ["\\u0000"]}', "validation_error"),
        ("nul-key", b'{"key": "a\\u0000"}', "validation_error"),
        ("key-object", b'{"key": {"$ne": null}}', "validation_error"),
        ("rollout-object", b'{"key": "obj", "rollout_percentage": {}}', "validation_error"),
        (
            "users-nested-deep",
            b'{"key": "deep", "targeted_users": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            BODY_400,
        ),
    ]
    cases: list[Case] = []
    for name, body, codes in bodies:
        code_set = frozenset({codes} if isinstance(codes, str) else codes)
        json_type = {"Content-Type": "application/json"}
        cases.append(Case(f"post-{name}", "POST", FLAGS, body, json_type, 400, code_set))
        cases.append(
            Case(f"put-{name}", "PUT", f"{FLAGS}/{TARGET}", body, json_type, 400, code_set)
        )
    return cases


def content_type_cases() -> list[Case]:
    return [
        Case(
            "form-urlencoded",
            "POST",
            FLAGS,
            b"key=abc&enabled=true",
            {"Content-Type": "application/x-www-form-urlencoded"},
            400,
        ),
        Case(
            "multipart",
            "POST",
            FLAGS,
            b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nabc\r\n--b--\r\n',
            {"Content-Type": "multipart/form-data; boundary=b"},
            400,
        ),
        Case("text-plain", "POST", FLAGS, b"hello", {"Content-Type": "text/plain"}, 400),
        Case(
            "xml",
            "POST",
            FLAGS,
            b"<flag><key>abc</key></flag>",
            {"Content-Type": "application/xml"},
            400,
        ),
        Case("no-content-type", "POST", FLAGS, b"{", {}, 400),
        Case(
            "octet-stream",
            "POST",
            FLAGS,
            bytes(range(256)),
            {"Content-Type": "application/octet-stream"},
            400,
        ),
        Case(
            "latin1-charset",
            "POST",
            FLAGS,
            '{"key": "caf\xe9"}'.encode("latin-1"),
            {"Content-Type": "application/json; charset=latin-1"},
            400,
        ),
        Case(
            "put-form",
            "PUT",
            f"{FLAGS}/{TARGET}",
            b"enabled=true",
            {"Content-Type": "application/x-www-form-urlencoded"},
            400,
        ),
    ]


ODD_REFS = [
    "..%2F..",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e",
    "%00",
    "a%00b",
    "a" * 300,
    "%C3%BC",
    "%F0%9F%98%80",
    ";",
    "a;b=c",
    "%20",
    "%25",
    "%zz",
    "%",
    "'%20OR%201=1--",
    "%7B%7D",
    "*",
    "-",
    "k" * 65,
    str(uuid.uuid4()),
    str(uuid.uuid4()).upper(),
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "{" + str(uuid.uuid4()) + "}",
    uuid.uuid4().hex,
    "urn:uuid:" + str(uuid.uuid4()),
    "gggggggg-gggg-gggg-gggg-gggggggggggg",
]


def ref_cases() -> list[Case]:
    cases: list[Case] = []
    for index, ref in enumerate(ODD_REFS):
        for method, suffix, body in (
            ("GET", "", None),
            ("PUT", "", b'{"enabled": true}'),
            ("DELETE", "", None),
            ("PATCH", "/toggle", None),
        ):
            cases.append(
                Case(
                    f"ref{index}-{method}",
                    method,
                    f"{FLAGS}/{ref}{suffix}",
                    body,
                    {"Content-Type": "application/json"},
                    404,
                    frozenset({"not_found"}),
                )
            )
    return cases


def header_cases() -> list[Case]:
    cases: list[Case] = []
    for index, value in enumerate(
        [
            "\uff13".encode(),
            "ü".encode(),
            "\u00e9".encode("latin-1"),
            b"\xff\xfe",
            b"1 2",
            b'W/"1", "1"',
            b"1" * 200,
            b"W/",
            b'""',
            b'"\xc3\xbc"',
        ]
    ):
        for method, suffix, body in (
            ("PUT", "", b'{"enabled": true}'),
            ("DELETE", "", None),
            ("PATCH", "/toggle", None),
        ):
            cases.append(
                Case(
                    f"if-match{index}-{method}",
                    method,
                    f"{FLAGS}/{TARGET}{suffix}",
                    body,
                    {"If-Match": value, "Content-Type": "application/json"},
                    400,
                    frozenset({"invalid_request"}),
                )
            )
    # A non-ASCII key header is simply a wrong key.
    cases.append(
        Case(
            "unicode-admin-key",
            "GET",
            FLAGS,
            None,
            {"X-Admin-API-Key": "schlüssel".encode()},
            401,
            frozenset({"unauthorized"}),
        )
    )
    cases.append(
        Case(
            "latin1-admin-key",
            "GET",
            FLAGS,
            None,
            {"X-Admin-API-Key": b"\xe9\xff"},
            401,
            frozenset({"unauthorized"}),
        )
    )
    cases.append(
        Case(
            "unicode-sdk-key",
            "GET",
            "/api/client/flags",
            None,
            {"X-SDK-Key": "ключ".encode()},
            401,
            frozenset({"unauthorized"}),
        )
    )
    return cases


ALL_CASES = body_cases() + content_type_cases() + ref_cases() + header_cases()


@pytest.fixture(scope="module")
def target(flagd: Flagd) -> dict[str, object]:
    with flagd.admin() as admin:
        return create(admin, TARGET, description="bad input target")


def send_case(flagd: Flagd, case: Case) -> httpx.Response:
    headers: dict[str, str | bytes] = {"X-Admin-API-Key": ADMIN_KEY, **case.headers}
    if case.path.startswith("/api/client/"):
        headers.pop("X-Admin-API-Key")
    with httpx.Client(base_url=flagd.url, timeout=10) as http:
        return http.request(case.method, case.path, content=case.body, headers=headers)


@pytest.mark.parametrize("case", ALL_CASES, ids=str)
def test_bad_input_gets_a_json_4xx(flagd: Flagd, target: dict[str, object], case: Case) -> None:
    response = send_case(flagd, case)
    assert 400 <= response.status_code < 500, (
        f"{case.name}: {response.status_code} {response.text[:300]}"
    )
    body = assert_error(response, response.status_code)
    if case.status is not None:
        assert response.status_code == case.status, (case.name, body)
    if case.codes is not None:
        assert body["error"] in case.codes, (case.name, body)


def test_bad_input_changed_nothing(flagd: Flagd, target: dict[str, object]) -> None:
    """Runs after the table: the PUT target is untouched and no flag came from bad input."""
    with flagd.admin() as admin:
        assert admin.get(f"{FLAGS}/{TARGET}").json() == target
        keys = {flag["key"] for flag in admin.get(FLAGS).json()}
    assert not keys & {
        "a",
        "abc",
        "huge",
        "nan",
        "inf",
        "ovf",
        "exp",
        "sur",
        "nul",
        "obj",
        "deep",
        "big",
        "caf",
    }


def test_daemon_healthy_after_the_table(flagd: Flagd) -> None:
    with httpx.Client(base_url=flagd.url, timeout=10) as plain:
        health = plain.get("/health")
        assert health.status_code == 200
        assert health.text.strip() == "ok"
        assert plain.get("/ready").status_code == 200
    with flagd.admin() as admin:
        flag = create(admin, unique_key("after-table"), description="still works")
        assert flag["version"] == 1
        toggled = admin.patch(f"{FLAGS}/{flag['key']}/toggle")
        assert toggled.status_code == 200
    with flagd.client() as client:
        assert client.get("/api/client/flags").status_code == 200


def test_no_5xx_was_counted(flagd: Flagd) -> None:
    with httpx.Client(base_url=flagd.url, timeout=10) as plain:
        text = plain.get("/metrics").text
    server_errors = [
        line
        for line in text.splitlines()
        if line.startswith("flagd_http_requests")
        and re.search(r'status="5\d\d"', line)
        and not line.rstrip().endswith(" 0.0")
    ]
    assert server_errors == []


# --- body size limit ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flagd]:
    daemon = Flagd(
        data_dir=tmp_path_factory.mktemp("small-limit"), extra_env={"FLAGD_MAX_BODY_BYTES": "1024"}
    )
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()  # also when start() timed out: never leave a flagd behind


def padded_create_body(size: int) -> bytes:
    """A valid create body of exactly `size` bytes (targeted users pad it)."""
    users: list[str] = []
    key = unique_key("edge")
    while True:
        body = json.dumps({"key": key, "targeted_users": users}).encode()
        missing = size - len(body)
        if missing <= 0:
            assert missing == 0
            return body
        if not users or len(users[-1]) == 256:
            users.append("u")
            continue
        users[-1] += "u" * min(missing, 256 - len(users[-1]))


def test_body_over_a_configured_limit_is_413(small_limit: Flagd) -> None:
    big = json.dumps({"key": unique_key("big"), "description": "x" * 2048}).encode()
    assert len(big) > 2048
    with small_limit.admin() as admin:
        assert_error(admin.post(FLAGS, content=big), 413, "payload_too_large")
        flag = create(admin, unique_key("small"))
        assert_error(admin.put(f"{FLAGS}/{flag['key']}", content=big), 413, "payload_too_large")

        def chunks() -> Iterator[bytes]:
            yield big[:1000]
            yield big[1000:]

        # Without a Content-Length (chunked transfer) the limit holds too.
        assert_error(admin.post(FLAGS, content=chunks()), 413, "payload_too_large")
        # Exactly at the limit is fine.
        at_limit = padded_create_body(1024)
        assert len(at_limit) == 1024
        assert admin.post(FLAGS, content=at_limit).status_code == 201
        assert_error(admin.post(FLAGS, content=padded_create_body(1025)), 413, "payload_too_large")
        assert admin.get(f"{FLAGS}/{flag['key']}").json() == flag
    with httpx.Client(base_url=small_limit.url) as plain:
        assert plain.get("/health").status_code == 200


def test_body_over_the_default_limit_is_413(flagd: Flagd) -> None:
    five_mib = json.dumps({"key": unique_key("huge"), "description": "x" * (5 * 1024 * 1024)})
    with flagd.admin() as admin:
        assert_error(admin.post(FLAGS, content=five_mib.encode()), 413, "payload_too_large")
        flag = create(admin, unique_key("after-413"))
        assert flag["version"] == 1


# --- malformed HTTP -----------------------------------------------------------------------


def raw_exchange(flagd: Flagd, request: bytes, close_write: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", flagd.port), timeout=5) as sock:
        sock.sendall(request)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received:
                    head, _, rest = received.partition(b"\r\n\r\n")
                    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    if length and len(rest) >= int(length.group(1)):
                        break
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def counted_requests(flagd: Flagd, route: str, method: str) -> dict[str, float]:
    with httpx.Client(base_url=flagd.url, timeout=10) as plain:
        text = plain.get("/metrics").text
    counts: dict[str, float] = {}
    pattern = re.compile(r"^flagd_http_requests_total\{(.*)\} (\S+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.get("route") == route and labels.get("method") == method:
            counts[labels["status"]] = counts.get(labels["status"], 0.0) + float(match.group(2))
    return counts


def test_client_that_hangs_up_mid_body_is_not_a_server_error(flagd: Flagd) -> None:
    """A truncated body (client gone) is the client's failure: never counted as a 5xx."""
    before = counted_requests(flagd, FLAGS, "POST")
    request = (
        b"POST /api/admin/flags HTTP/1.1\r\nHost: flagd\r\n"
        + f"X-Admin-API-Key: {ADMIN_KEY}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        + b'{"key": '
    )
    raw_exchange(flagd, request, close_write=True)

    def settled() -> dict[str, float] | None:
        now = counted_requests(flagd, FLAGS, "POST")
        return now if sum(now.values()) > sum(before.values()) else None

    after = wait_until(settled, timeout=10, what="the truncated request to be counted")
    new = {status: after[status] - before.get(status, 0.0) for status in after}
    assert not {status for status, count in new.items() if count and status.startswith("5")}, new


def _status_and_head(received: bytes) -> tuple[int, bytes, bytes]:
    head, _, body = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), head, body


def test_a_10k_ref_gets_a_json_404(flagd: Flagd) -> None:
    """A very long ref reaches the handlers (the parser limit is raised) and gets JSON."""
    request = b"GET /api/admin/flags/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n"
    request += f"X-Admin-API-Key: {ADMIN_KEY}\r\n\r\n".encode()
    status, head, body = _status_and_head(raw_exchange(flagd, request))
    assert status == 404
    assert re.search(rb"(?i)\r\ncontent-type:\s*application/json", head)
    error = json.loads(body)
    assert error["error"] == "not_found" and isinstance(error["message"], str)


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            b"GET /health HTTP/1.1\r\nHost: x\r\nIf-Match: " + b"1" * 70_000 + b"\r\n\r\n",
            id="70k-header",
        ),
        pytest.param(
            b"GET /health HTTP/1.1\r\nHost: x\r\nIf-Match: \x01\r\n\r\n", id="control-char-header"
        ),
        pytest.param(
            b"POST /api/admin/flags HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            id="bad-content-length",
        ),
    ],
)
def test_malformed_http_framing_is_refused_and_the_daemon_keeps_serving(
    flagd: Flagd, request_bytes: bytes
) -> None:
    """Requests aiohttp's HTTP parser cannot frame never reach flagd's code: aiohttp answers
    its own plain-text 400 and closes the connection (a known limit: no JSON body there).
    What flagd guarantees is a 4xx, never a 5xx, and that it keeps serving."""
    status, _, _ = _status_and_head(raw_exchange(flagd, request_bytes))
    assert 400 <= status < 500
    with httpx.Client(base_url=flagd.url, timeout=5) as plain:
        assert plain.get("/health").text == "ok"
