"""Every setting of flagd in one table: option, environment variable, default, help.

Precedence: command-line option > environment variable > default. Secrets never appear in
a repr or a log line.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import __version__

MiB = 1024 * 1024


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "FLAGD_BIND_HOST", "0.0.0.0", "address to listen on"),
    Setting("port", "PORT", 8080, "TCP port to listen on", int),
    Setting(
        "data_dir",
        "FLAGD_DATA_DIR",
        None,
        "state directory: SQLite file and generated keys (default: $STATE_DIRECTORY "
        "under systemd, else the platform's user data directory)",
        Path,
    ),
    Setting(
        "database_url",
        "DATABASE_URL",
        None,
        "postgres://user:pass@host/db selects PostgreSQL; unset uses the embedded SQLite file",
        secret=True,
    ),
    Setting(
        "redis_url", "REDIS_URL", None, "redis://host:6379/0 fans changes out across instances"
    ),
    Setting("redis_channel", "FLAGD_REDIS_CHANNEL", "flag_updates", "Redis pub/sub channel"),
    Setting(
        "redis_log_length",
        "FLAGD_REDIS_LOG_LENGTH",
        1000,
        "newest change records kept on Redis (<channel>:log) for instances whose store is down",
        int,
    ),
    Setting(
        "admin_api_key",
        "ADMIN_API_KEY",
        None,
        "key for /api/admin (X-Admin-API-Key); generated and kept in the state directory "
        "when unset. Prefer the environment: options show up in `ps`",
        secret=True,
    ),
    Setting(
        "sdk_api_key",
        "SDK_API_KEY",
        None,
        "key for /api/client (X-SDK-Key or ?key=); generated when unset",
        secret=True,
    ),
    Setting(
        "admin_api_key_previous",
        "ADMIN_API_KEY_PREVIOUS",
        None,
        "during a key rotation, the old admin key, still accepted until removed",
        secret=True,
    ),
    Setting(
        "sdk_api_key_previous",
        "SDK_API_KEY_PREVIOUS",
        None,
        "during a key rotation, the old SDK key, still accepted until removed",
        secret=True,
    ),
    Setting(
        "cors_origins",
        "CORS_ORIGINS",
        ("http://localhost:3000",),
        "comma-separated browser origins allowed by CORS; '*' allows any",
        _origins,
    ),
    Setting(
        "max_body_bytes", "FLAGD_MAX_BODY_BYTES", 4 * MiB, "request body limit (413 past it)", int
    ),
    Setting(
        "heartbeat_interval",
        "FLAGD_HEARTBEAT_INTERVAL",
        15.0,
        "seconds between stream heartbeat comments",
        float,
    ),
    Setting(
        "subscriber_buffer_bytes",
        "FLAGD_SUBSCRIBER_BUFFER_BYTES",
        1 * MiB,
        "bytes a slow stream subscriber may fall behind before it is closed",
        int,
    ),
    Setting(
        "reconcile_interval",
        "FLAGD_RECONCILE_INTERVAL",
        5.0,
        "seconds between checks of the store's latest revision (covers lost notifications)",
        float,
    ),
    Setting("log_level", "FLAGD_LOG_LEVEL", "info", "debug, info, warning or error"),
    Setting("access_log", "FLAGD_ACCESS_LOG", True, "log one line per HTTP request", _bool),
    Setting(
        "event_loop",
        "FLAGD_EVENT_LOOP",
        "auto",
        "auto (uvloop when installed, as it is with flagd), asyncio or uvloop",
    ),
    Setting(
        "idempotency_ttl",
        "FLAGD_IDEMPOTENCY_TTL",
        86400.0,
        "seconds an admin write's Idempotency-Key is remembered: a retry with the key within "
        "this time gets the first answer and applies nothing",
        float,
    ),
    Setting(
        "header_timeout",
        "FLAGD_HEADER_TIMEOUT",
        10.0,
        "seconds a client has to send a request's headers (408 and close past it)",
        float,
    ),
    Setting(
        "body_timeout",
        "FLAGD_BODY_TIMEOUT",
        30.0,
        "seconds a client has to send a request's body (408 and close past it)",
        float,
    ),
    Setting(
        "keepalive_timeout",
        "FLAGD_KEEPALIVE_TIMEOUT",
        75.0,
        "seconds an idle keep-alive connection stays open; keep it above the idle "
        "timeout of a proxy in front (nginx and cloud load balancers use 60 s)",
        float,
    ),
    Setting(
        "max_streams",
        "FLAGD_MAX_STREAMS",
        10_000,
        "open streams allowed at once; past it a new one gets 503 with Retry-After",
        int,
    ),
    Setting(
        "stream_snapshot_timeout",
        "FLAGD_STREAM_SNAPSHOT_TIMEOUT",
        30.0,
        "seconds a new stream has to take its snapshot (or replay) before it is closed",
        float,
    ),
)


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    data_dir: Path | None = None
    database_url: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    redis_channel: str = "flag_updates"
    redis_log_length: int = 1000
    admin_api_key: str | None = field(default=None, repr=False)
    sdk_api_key: str | None = field(default=None, repr=False)
    admin_api_key_previous: str | None = field(default=None, repr=False)
    sdk_api_key_previous: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ("http://localhost:3000",)
    max_body_bytes: int = 4 * MiB
    heartbeat_interval: float = 15.0
    subscriber_buffer_bytes: int = 1 * MiB
    reconcile_interval: float = 5.0
    log_level: str = "info"
    access_log: bool = True
    event_loop: str = "auto"
    idempotency_ttl: float = 86400.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    max_streams: int = 10_000
    stream_snapshot_timeout: float = 30.0

    def state_dir(self, environ: Mapping[str, str] = os.environ) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        if environ.get("STATE_DIRECTORY"):
            # systemd may pass several, colon-separated; the first is ours.
            return Path(environ["STATE_DIRECTORY"].split(":")[0])
        from platformdirs import user_data_dir

        return Path(user_data_dir("flagd", appauthor=False))

    def describe(self) -> dict[str, Any]:
        """Settings for a start-up log line: secrets masked, URLs without passwords."""
        shown: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in {"admin_api_key", "sdk_api_key"}:
                value = "set" if value else "generated"
            elif item.name.endswith("_previous"):
                value = "set" if value else None
            elif item.name in {"database_url", "redis_url"} and value:
                value = mask_url(value)
            shown[item.name] = value
        return shown


# libpq, asyncpg and redis-py also take the password as a query parameter.
_QUERY_PASSWORD = re.compile(r"(?i)((?:^|&)password=)[^&]*")


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    netloc, query = parts.netloc, _QUERY_PASSWORD.sub(r"\1***", parts.query)
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flagd",
        description="flagd: feature flag daemon (admin API, client API, Server-Sent Events). "
        "With nothing set it serves on port 8080 from an embedded SQLite file.",
        epilog="Each option falls back to the environment variable shown, then the default.",
    )
    for setting in SETTINGS:
        option = "--" + setting.name.replace("_", "-")
        default = setting.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        text = f"{setting.help} [env {setting.env}"
        text += "]" if shown is None or setting.secret else f"; default {shown}]"
        if setting.parse is _bool:
            parser.add_argument(
                option,
                dest=setting.name,
                default=None,
                help=text,
                action=argparse.BooleanOptionalAction,
            )
        else:
            parser.add_argument(
                option,
                dest=setting.name,
                default=None,
                help=text,
                metavar=setting.env,
                type=setting.parse,
            )
    parser.add_argument("--version", action="version", version=f"flagd {__version__}")
    return parser


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ
) -> Settings:
    """Raises SystemExit (via argparse) with a one-line message on a bad value."""
    parser = build_parser()
    options = parser.parse_args(argv)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value = getattr(options, setting.name)
        if value is None and environ.get(setting.env, "") != "":
            try:
                value = setting.parse(environ[setting.env])
            except ValueError:
                parser.error(f"{setting.env}: invalid value")
        if value is not None:
            values[setting.name] = value
    settings = Settings(**values)
    if not 0 <= settings.port <= 65535:
        parser.error("port must be from 0 to 65535")
    if settings.event_loop not in {"auto", "asyncio", "uvloop"}:
        parser.error("event loop must be auto, asyncio or uvloop")
    if settings.log_level.lower() not in {"debug", "info", "warning", "error"}:
        parser.error("log level must be debug, info, warning or error")
    if not settings.idempotency_ttl > 0:
        parser.error(
            "--idempotency-ttl / FLAGD_IDEMPOTENCY_TTL must be a positive number of seconds"
        )
    for name in ("header_timeout", "body_timeout", "keepalive_timeout"):
        if not 0 < getattr(settings, name) < float("inf"):
            parser.error(f"{name.replace('_', ' ')} must be a positive number of seconds")
    if settings.max_streams < 1:
        parser.error("max streams must be at least 1")
    if not settings.stream_snapshot_timeout > 0:
        parser.error("stream snapshot timeout must be more than 0 seconds")
    return settings
