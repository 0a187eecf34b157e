"""Change notification between instances: the Bus protocol and its two implementations."""

from __future__ import annotations

from .base import Bus, Deliver, Resync
from .local import LocalBus

__all__ = ["Bus", "Deliver", "LocalBus", "Resync", "open_bus"]


def open_bus(redis_url: str | None, channel: str, log_length: int = 1_000) -> Bus:
    """Redis when a URL is given (imported lazily), else the in-process bus."""
    if redis_url:
        from .redis import RedisBus

        return RedisBus(redis_url, channel, log_length)
    return LocalBus()
