"""API keys: configured, or generated on first start and kept in the state directory."""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from .file_modes import PRIVATE_DIR, PRIVATE_FILE, make_private

KEYS_FILE = "keys.json"


@dataclass(frozen=True)
class ApiKeys:
    admin: bytes = field(repr=False)
    sdk: bytes = field(repr=False)
    generated_file: Path | None = None  # where generated keys live, if any were generated
    # During a key rotation the previous keys keep working until every client has the new.
    previous_admin: bytes | None = field(default=None, repr=False)
    previous_sdk: bytes | None = field(default=None, repr=False)

    def admin_ok(self, given: str | None) -> bool:
        # `|`, not `or`: both comparisons always run, so timing does not tell which matched.
        return _matches(given, self.admin) | _matches(given, self.previous_admin)

    def sdk_ok(self, given: str | None) -> bool:
        return _matches(given, self.sdk) | _matches(given, self.previous_sdk)

    def with_previous(self, admin: str | None, sdk: str | None) -> ApiKeys:
        """Also accept the keys being rotated out; a key never opens both route groups."""
        previous = replace(
            self,
            previous_admin=admin.encode() if admin else None,
            previous_sdk=sdk.encode() if sdk else None,
        )
        admin_keys = {previous.admin, previous.previous_admin} - {None}
        sdk_keys = {previous.sdk, previous.previous_sdk} - {None}
        if admin_keys & sdk_keys:
            raise ValueError("an admin key and an SDK key must never be the same")
        return previous


def _matches(given: str | None, expected: bytes | None) -> bool:
    if not given or expected is None:
        return False
    # Constant time in the length of the expected key, whatever the caller sends. Undecodable
    # header bytes arrive as surrogates; they must stay distinct, not all become "?".
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected)


def resolve_keys(admin: str | None, sdk: str | None, state_dir: Path) -> ApiKeys:
    if admin and sdk:
        if admin == sdk:
            raise ValueError("ADMIN_API_KEY and SDK_API_KEY must differ")
        return ApiKeys(admin.encode(), sdk.encode())
    path = state_dir / KEYS_FILE
    stored = _read(path)
    changed = False
    for name in ("admin_api_key", "sdk_api_key"):
        if not stored.get(name):
            stored[name] = secrets.token_urlsafe(32)
            changed = True
    if changed:
        _write_private(path, stored)
    return ApiKeys(
        (admin or stored["admin_api_key"]).encode(),
        (sdk or stored["sdk_api_key"]).encode(),
        generated_file=path,
    )


def _read(path: Path) -> dict[str, str]:
    try:
        make_private(path)  # a keys file written by hand may be readable by others
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _write_private(path: Path, data: dict[str, str]) -> None:
    """Atomic write with mode 0600 from the first byte (never briefly world-readable)."""
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    os.chmod(tmp, PRIVATE_FILE)
    os.replace(tmp, path)


def write_runtime_file(state_dir: Path, url: str) -> Path:
    """Where a local flagctl finds this daemon (the keys stay in keys.json)."""
    path = state_dir / "flagd.json"
    _write_private(path, {"url": url, "pid": str(os.getpid())})
    return path
