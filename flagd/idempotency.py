"""Idempotency-Key: what makes two admin writes "the same request", and the key's limits.

A client sends a fresh key with each logical write and the same key when it retries that
write. The store remembers the write's response under the key, in the write's own
transaction, so a retry after a lost answer (a dropped connection, a 503 during COMMIT)
gets the first response instead of applying the write again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .core import InvalidRequest

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX = 255


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    key: str
    request_hash: str  # the request the key was sent with; another one under it is a 422


def parse_idempotency_key(
    header: str | None,
    method: str,
    route: str,
    ref: str,
    if_match: str | None,
    body: bytes | None,
) -> IdempotencyKey | None:
    """The key of this request (None without the header); a malformed one is a 400."""
    if header is None:
        return None
    if not 1 <= len(header) <= KEY_MAX or not all(" " <= c <= "~" for c in header):
        raise InvalidRequest(
            f"{KEY_HEADER} must be 1 to {KEY_MAX} printable ASCII characters (a UUID is a good key)"
        )
    return IdempotencyKey(header, request_hash(method, route, ref, if_match, body))


def request_hash(
    method: str, route: str, ref: str, if_match: str | None, body: bytes | None
) -> str:
    """SHA-256 of what the write depends on. The body counts as JSON (key order and spacing
    do not matter) when it parses, else as bytes."""
    digest = hashlib.sha256(json.dumps([method, route, ref, if_match]).encode())
    if body is not None:
        digest.update(b"\n")
        digest.update(_canonical(body))
    return digest.hexdigest()


def _canonical(body: bytes) -> bytes:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return body
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    except RecursionError:
        return body
