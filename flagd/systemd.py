"""sd_notify: tell systemd (Type=notify) that flagd is ready or stopping.

A few lines over a Unix datagram socket, as sd_notify(3) specifies; no dependency.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("flagd.systemd")


def notify(state: str) -> bool:
    """Send e.g. "READY=1" to $NOTIFY_SOCKET. False when not under systemd or on error."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("sd_notify %s failed: %s", state, exc)
        return False
    return True
