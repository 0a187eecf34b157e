"""The Python SDK: evaluate flags locally, kept in sync with flagd over Server-Sent Events.

    from flagd.sdk import FlagClient

    with FlagClient("http://127.0.0.1:8080", sdk_key) as flags:
        flags.wait_until_ready(2.0)
        if flags.is_enabled("new-checkout-flow", user_id):
            ...

The network clients are imported lazily, so `from flagd.sdk import InMemoryFlagClient`
(or the evaluation path alone) never loads aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core import Evaluation
from .flags import FlagReader, FlagStore, InMemoryFlagClient

if TYPE_CHECKING:
    from .client import AsyncFlagClient
    from .sync_client import FlagClient

__all__ = [
    "AsyncFlagClient",
    "Evaluation",
    "FlagClient",
    "FlagReader",
    "FlagStore",
    "InMemoryFlagClient",
]


def __getattr__(name: str) -> Any:
    if name == "FlagClient":
        from .sync_client import FlagClient

        return FlagClient
    if name == "AsyncFlagClient":
        from .client import AsyncFlagClient

        return AsyncFlagClient
    raise AttributeError(name)
