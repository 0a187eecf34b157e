"""The test helpers themselves: a parser or fold that let errors through would hide them."""

from __future__ import annotations

import json

import pytest

from .sse import Comment, Event, Fold, FoldError, Retry, SSEParser, fold


def parse(*chunks: bytes) -> list[object]:
    parser = SSEParser()
    items: list[object] = []
    for chunk in chunks:
        items.extend(parser.feed(chunk, now=0.0))
    return items


def event(kind: str, data: object, event_id: int | None) -> Event:
    text = json.dumps(data)
    return Event(kind, text, None if event_id is None else str(event_id), "", 0.0)


def flag(key: str, version: int = 1) -> dict[str, object]:
    return {"key": key, "version": version}


def test_parser_fields_comments_retry_and_split_lines() -> None:
    wire = b'retry: 3000\n\n: ping\n\nid: 4\nevent: snapshot\ndata: {"a":\ndata: 1}\n\n'
    whole = parse(wire)
    assert whole == [
        Retry(3000, 0.0),
        Comment(" ping", 0.0),
        Event("snapshot", '{"a":\n1}', "4", "4", 0.0),
    ]
    # Byte by byte, and with CRLF line ends split between reads: the same items.
    assert parse(*(wire[i : i + 1] for i in range(len(wire)))) == whole
    crlf = wire.replace(b"\n", b"\r\n")
    assert parse(*(crlf[i : i + 1] for i in range(len(crlf)))) == whole


def test_parser_keeps_last_event_id_and_skips_empty_events() -> None:
    items = parse(b"id: 7\n\ndata: x\n\n")
    assert items == [Event("message", "x", None, "7", 0.0)]


def test_fold_applies_and_resets_on_snapshot() -> None:
    state = fold(
        [
            event("snapshot", {"revision": 3, "flags": [flag("a")]}, 3),
            event("flag_updated", flag("b"), 4),
            event("flag_updated", flag("a", 2), 5),
            event("flag_deleted", {"key": "b"}, 6),
            event("snapshot", {"revision": 9, "flags": [flag("z")]}, 9),
            event("flag_updated", flag("y"), 10),
        ]
    )
    assert state.flags == {"z": flag("z"), "y": flag("y")}
    assert (state.revision, state.ids, state.snapshots) == (10, [3, 4, 5, 6, 9, 10], 2)


@pytest.mark.parametrize(
    "events",
    [
        [event("flag_updated", flag("a"), 5)],  # a gap
        [event("flag_updated", flag("a"), 3)],  # a duplicate
        [event("flag_updated", flag("a"), None)],  # no id
        [event("flag_deleted", {"key": "nope"}, 4)],  # unknown key
        [event("snapshot", {"revision": 2, "flags": []}, 2)],  # goes back
        [event("snapshot", {"revision": 8, "flags": []}, 9)],  # id != revision
        [event("message", {}, 4)],  # unknown type
    ],
)
def test_fold_rejects_gaps_duplicates_and_nonsense(events: list[Event]) -> None:
    with pytest.raises(FoldError):
        fold(events, Fold({"a": flag("a")}, 3))


def test_fold_needs_a_base() -> None:
    with pytest.raises(FoldError):
        fold([event("flag_updated", flag("a"), 1)])
