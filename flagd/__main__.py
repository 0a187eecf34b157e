"""`flagd`: parse settings, resolve keys, serve until SIGTERM/SIGINT, exit 0."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from .datadir import lock_data_dir
from .file_modes import make_private_dir, warn_if_shared
from .http_server import FlagdRunner
from .keys import resolve_keys, write_runtime_file
from .logs import AccessLogger, configure_logging, flush_access_log, hide_in_logs
from .settings import Settings, load_settings
from .systemd import notify

log = logging.getLogger("flagd")


def main(argv: Sequence[str] | None = None) -> None:
    settings = load_settings(argv)
    configure_logging(settings.log_level)
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
            runner.run(serve(settings))
    except KeyboardInterrupt:
        pass
    except StartupError as exc:
        print(f"flagd: {exc}", file=sys.stderr)
        sys.exit(1)


class StartupError(Exception):
    """An expected reason not to start: printed as one line, exit status 1."""


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when asked for, or under `auto` when it is installed (an optional
    dependency: bench/RESULTS.md has the figures with and without); else asyncio's."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            print("flagd: FLAGD_EVENT_LOOP=uvloop, but uvloop is not installed", file=sys.stderr)
            sys.exit(1)
        return None
    return uvloop.new_event_loop


async def serve(settings: Settings) -> None:
    from .app import create_app

    state_dir = settings.state_dir()
    try:
        make_private_dir(state_dir)
        lock_data_dir(state_dir)  # before keys.json, the store and flagd.json are touched
        warn_if_shared(state_dir)
        keys = resolve_keys(settings.admin_api_key, settings.sdk_api_key, state_dir).with_previous(
            settings.admin_api_key_previous, settings.sdk_api_key_previous
        )
        app = create_app(settings, keys, state_dir)
    except (OSError, ValueError) as exc:
        raise StartupError(str(exc)) from exc
    hide_in_logs(keys.admin, keys.sdk, keys.previous_admin, keys.previous_sdk)
    if keys.generated_file is not None:
        log.info("API keys generated or loaded from %s (mode 0600)", keys.generated_file)
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]  # asyncio or uvloop
    log.info("starting", extra={"fields": {**settings.describe(), "loop_in_use": loop}})

    runner = FlagdRunner(
        app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("flagd.access") if settings.access_log else None,
        handle_signals=False,
        shutdown_timeout=2.0,
        header_timeout=settings.header_timeout,
        keepalive_timeout=settings.keepalive_timeout,
    )
    try:
        await runner.setup()
    except Exception as exc:
        raise StartupError(f"cannot start: {exc}") from exc
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from exc

    port = runner.addresses[0][1] if runner.addresses else settings.port
    local_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{local_host}:{port}"
    try:
        write_runtime_file(state_dir, url)
    except OSError as exc:
        log.warning("cannot write the runtime file for flagctl: %s", exc)
    log.info("listening", extra={"fields": {"url": url, "state_dir": state_dir}})
    notify(f"READY=1\nSTATUS=serving on {url}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping")
    notify("STOPPING=1")
    await runner.cleanup()
    flush_access_log()  # the last requests' lines before "stopped"
    log.info("stopped")


if __name__ == "__main__":
    main()
