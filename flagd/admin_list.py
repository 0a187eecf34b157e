"""GET /api/admin/flags: the whole array or a page of it, encoded once per revision.

Encoding 25 MB of flags takes the event loop for seconds if done per request on it, so
the list is encoded once per revision, in a worker thread, one flag at a time (the GIL
passes back to the loop between flags), and every request at that revision shares the
bytes. A page is a slice of the same bytes.

Before answering, the state is brought up to the store's latest revision: a list never
misses a write acknowledged by this or another instance, as when it was read from the
store, and a store outage is still a 503.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .core import InvalidRequest, Snapshot, encode_json
from .state import StateSync

PAGE_LIMIT_MAX = 1000
PAGE_LIMIT_DEFAULT = 100


@dataclass(frozen=True)
class Page:
    limit: int
    after: str | None


@dataclass(frozen=True)
class EncodedList:
    """The JSON array of every flag at one revision, newest first."""

    revision: int
    body: bytes
    starts: tuple[int, ...]  # where each flag's object begins in body
    ids: tuple[str, ...]
    positions: dict[str, int]  # flag id -> index in ids

    def page(self, page: Page) -> tuple[bytes, str | None]:
        """The page's array, and the `after` of the next page (None after the last)."""
        first = 0 if page.after is None else self._index_after(page.after)
        last = min(first + page.limit, len(self.starts))
        if first >= last:
            return b"[]", None
        end = self.starts[last] - 1 if last < len(self.starts) else len(self.body) - 1
        body = b"[" + self.body[self.starts[first] : end] + b"]"
        return body, (self.ids[last - 1] if last < len(self.starts) else None)

    def _index_after(self, flag_id: str) -> int:
        position = self.positions.get(flag_id)
        if position is None:
            raise InvalidRequest(
                "after names no flag in the list (deleted since?); list again without after"
            )
        return position + 1


def encode_list(snapshot: Snapshot) -> EncodedList:
    """The same bytes as encode_json([flag.to_dict() for flag in flags]), with offsets."""
    pieces = [encode_json(flag.to_dict()) for flag in snapshot.flags]
    starts: list[int] = []
    offset = 1  # after "["
    for piece in pieces:
        starts.append(offset)
        offset += len(piece) + 1  # and its ","
    return EncodedList(
        revision=snapshot.revision,
        body=b"[" + b",".join(pieces) + b"]",
        starts=tuple(starts),
        ids=tuple(flag.id for flag in snapshot.flags),
        positions={flag.id: index for index, flag in enumerate(snapshot.flags)},
    )


class AdminList:
    def __init__(self, sync: StateSync) -> None:
        self._sync = sync
        self._revision = -1
        self._encoding: asyncio.Future[EncodedList] | None = None

    async def current(self) -> EncodedList:
        """Every flag at the store's latest revision (StoreUnavailable if it is down)."""
        await self._sync.reconcile()
        snapshot = self._sync.state.snapshot()
        if self._encoding is None or self._revision != snapshot.revision:
            # Concurrent requests at one revision wait for the same encoding.
            self._revision = snapshot.revision
            self._encoding = asyncio.get_running_loop().run_in_executor(None, encode_list, snapshot)
        encoding = self._encoding
        try:
            # Shielded: a client that goes away must not cancel the others' encoding.
            return await asyncio.shield(encoding)
        except Exception:
            if self._encoding is encoding:
                self._encoding = None  # the next request tries again
            raise


def parse_page(limit: list[str], after: list[str]) -> Page | None:
    """?limit=&after= (each at most once); None when neither is given: the whole list."""
    if not limit and not after:
        return None
    if len(limit) > 1 or len(after) > 1:
        raise InvalidRequest("give limit and after at most once each")
    count = PAGE_LIMIT_DEFAULT
    if limit:
        raw = limit[0]
        if not (
            raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= PAGE_LIMIT_MAX
        ):
            raise InvalidRequest(f"limit must be an integer from 1 to {PAGE_LIMIT_MAX}")
        count = int(raw)
    if after and not after[0]:
        raise InvalidRequest("after must be the id of the last flag of the previous page")
    return Page(count, after[0] if after else None)
