"""One line per event on stderr, logfmt style, with secrets redacted."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import re
import sys
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from yarl import URL

REDACTED = "REDACTED"


_NEEDS_QUOTES = re.compile(r'[ "=\\]').search


def _quote(value: Any) -> str:
    text = str(value)
    if text and text.isprintable() and _NEEDS_QUOTES(text) is None:
        return text
    # JSON string escaping keeps one event on one line, control characters included.
    quoted = json.dumps(text, ensure_ascii=False)
    if quoted.isprintable():
        return quoted
    # JSON leaves C1 controls (NEL), U+2028/U+2029 and lone surrogates alone; they can
    # break a line or the stream's encoding, so they are escaped too.
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in quoted)


# Every form in which a configured key could appear in a line: as is, percent-encoded,
# JSON-escaped, and each of those escaped once more by _quote. A safety net only: nothing
# should log a key in the first place.
_hidden: list[str] = []


def _escaped(text: str) -> set[str]:
    return {json.dumps(text, ensure_ascii=False)[1:-1], json.dumps(text)[1:-1]}


def hide_in_logs(*secrets: bytes | str | None) -> None:
    """Replace these values by REDACTED in every line formatted from now on."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        text = secret.decode("utf-8", "surrogateescape") if isinstance(secret, bytes) else secret
        plain = {text, quote(text, safe=""), quote(text), *_escaped(text)}
        forms |= plain.union(*(_escaped(form) for form in plain))
    forms.discard("")
    # Longest first, so a key containing another is replaced whole.
    _hidden[:] = sorted(forms | set(_hidden), key=len, reverse=True)


def _without_secrets(line: str) -> str:
    for form in _hidden:
        if form in line:
            line = line.replace(form, REDACTED)
    return line


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _without_secrets(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
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


# Query parameters flagd reads whose values are logged, when they are only digits.
_SHOWN_QUERY = frozenset({"limit", "lastEventId"})
_NAMED_QUERY = _SHOWN_QUERY | {"key", "after"}


def redact_url(url: URL) -> str:
    """The path and query of a request, with no query value that could be an API key.

    A key arrives under spellings no name check catches (`?x=1?key=…` puts it in x's
    value, `?key%3D…` in a name), so values are shown only for `limit` and `lastEventId`,
    and only when they are digits. Other parameters flagd reads show as `name=REDACTED`;
    any other parameter, name included, as `REDACTED`.
    """
    if not url.raw_query_string:
        return url.path
    shown = []
    for name, value in url.query.items():
        if name in _SHOWN_QUERY and value.isascii() and value.isdigit() and len(value) <= 20:
            shown.append(f"{name}={value}")
        elif name in _NAMED_QUERY:
            shown.append(f"{name}={REDACTED}")
        else:
            shown.append(REDACTED)
    return f"{url.path}?{'&'.join(shown)}"


class AccessLogger(AbstractAccessLogger):
    """Method, redacted path, status and duration; never a header value.

    The access line is on every request's path, so it skips the logging machinery: the
    line is formatted directly (the same logfmt a LogfmtFormatter would give) and handed
    to a writer that sends a batch of lines in one write, soon after, off the request.
    """

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)  # one per connection
        self._prefix = f"level=info logger={logger.name} msg=request method="
        self._remote: tuple[str | None, str] = (None, "None")  # the peer, as logged
        self._path: tuple[str, str] = ("", "")  # the last path and its logged form

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        url = request.rel_url
        path = redact_url(url) if url.raw_query_string else url.path
        if path != self._path[0]:
            self._path = (path, _quote(path))
        remote = request.remote
        if remote != self._remote[0]:
            self._remote = (remote, _quote(remote) if remote else "None")
        _access_lines.add(
            f"ts={_timestamp()} {self._prefix}{_plain_method(request.method)}"
            f" path={self._path[1]} status={response.status} ms={time * 1000:.2f}"
            f" remote={self._remote[1]}\n"
        )


_stamp_ms = -1
_stamp_text = ""


def _timestamp() -> str:
    """RFC 3339 UTC with milliseconds, formatted once per millisecond (under load many
    requests end within one)."""
    global _stamp_ms, _stamp_text
    ms = int(time.time() * 1000)
    if ms != _stamp_ms:
        _stamp_ms = ms
        second, milli = divmod(ms, 1000)
        _stamp_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + f".{milli:03d}Z"
    return _stamp_text


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _plain_method(method: str) -> str:
    return method if method in _KNOWN_METHODS else _quote(method)


class _BatchedLines:
    """Lines collected on the event loop and written to stderr together: at most
    FLUSH_DELAY later, at once past FLUSH_BYTES, and at exit."""

    FLUSH_DELAY = 0.05
    FLUSH_BYTES = 64 * 1024

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._size = 0
        self._scheduled = False
        atexit.register(self.flush)

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_later(self.FLUSH_DELAY, self.flush)
            except RuntimeError:  # no loop: write now
                self.flush()
                return
            self._scheduled = True

    def flush(self) -> None:
        self._scheduled = False
        if not self._lines:
            return
        text = _without_secrets("".join(self._lines))
        self._lines, self._size = [], 0
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed or gone: nothing left to tell
            pass


_access_lines = _BatchedLines()


def flush_access_log() -> None:
    _access_lines.flush()
