"""One line per event on stderr, logfmt style, with secrets redacted."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from yarl import URL

REDACTED = "REDACTED"


def _quote(value: Any) -> str:
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    # JSON string escaping keeps one event on one line, control characters included.
    quoted = json.dumps(text, ensure_ascii=False)
    if quoted.isprintable():
        return quoted
    # JSON leaves C1 controls (NEL), U+2028/U+2029 and lone surrogates alone; they can
    # break a line or the stream's encoding, so they are escaped too.
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in quoted)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={stamp}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        for key, value in getattr(record, "fields", {}).items():
            parts.append(f"{key}={_quote(value)}")
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # asyncpg logs a full traceback for every background reconnect attempt while the
    # database is down; flagd reports the outage itself, once per state change.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


def redact_url(url: URL) -> str:
    """The path and query of a request with the `key` query value hidden."""
    if "key" in url.query:
        url = url.update_query(key=REDACTED)
    return url.path_qs


class AccessLogger(AbstractAccessLogger):
    """Method, redacted path, status and duration; never a header value."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "fields": {
                    "method": request.method,
                    "path": redact_url(request.rel_url),
                    "status": response.status,
                    "ms": f"{time * 1000:.2f}",
                    "remote": request.remote,
                }
            },
        )
