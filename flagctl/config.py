"""Where the server is and which keys to use: option > environment > local flagd.

On a machine running an embedded flagd with generated keys, its runtime file and keys
file in the flagd state directory answer both questions with no setup.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Connection:
    server: str
    admin_key: str | None = field(default=None, repr=False)
    sdk_key: str | None = field(default=None, repr=False)


def flagd_state_dir() -> Path:
    if os.environ.get("FLAGD_DATA_DIR"):
        return Path(os.environ["FLAGD_DATA_DIR"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("flagd", appauthor=False))


def _read_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve(server: str | None, admin_key: str | None, sdk_key: str | None) -> Connection:
    state_dir = flagd_state_dir()
    local = _read_json(state_dir / "flagd.json")
    keys = _read_json(state_dir / "keys.json")
    return Connection(
        server=(server or local.get("url") or DEFAULT_SERVER).rstrip("/"),
        admin_key=admin_key or keys.get("admin_api_key"),
        sdk_key=sdk_key or keys.get("sdk_api_key"),
    )
