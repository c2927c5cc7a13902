"""Reads behind the list views' filters, jumps, backward search steps and big events, on a
real mirror file written by the mirror core."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import apsw
import pytest

from mirror.db import MirrorDb
from mirror.event_bounded import (
    pretty_event_text,
    read_bounded_event,
    read_bounded_feed_item,
)
from mirror.event_lookup import (
    feed_row_of_offset,
    first_offset_at,
    hit_before,
    listed_count,
    listed_window,
    row_of_offset,
)
from mirror.processors import MirrorWriter
from mirror.search.indexer import SearchIndexer
from mirror.search.queries import SearchQuery, SearchReads

A, B = "events.iterate.com/t/a", "events.iterate.com/t/b"
BIG = 600_000


def _event(offset: int, **fields: Any) -> dict[str, Any]:
    return {
        "offset": offset,
        "type": A if offset % 3 else B,
        "payload": {"n": offset, "user": {"id": f"u{offset % 2}"}},
        "createdAt": f"2026-06-01T12:{offset // 60:02d}:{offset % 60:02d}.000Z",
        **fields,
    }


def _feed_row_holds(conn: apsw.Connection, offset: int) -> bool:
    row = feed_row_of_offset(conn, offset)
    if row is None:
        return False
    [(first, last)] = conn.execute(
        "SELECT first_offset, last_offset FROM feed_items WHERE local_index = ?", (row,)
    ).fetchall()
    return bool(int(cast(int, first)) <= offset <= int(cast(int, last)))


@pytest.fixture
def reads(tmp_path: Path) -> Iterator[SearchReads]:
    path = tmp_path / "m.sqlite3"
    db = MirrorDb.open(path)
    events = [_event(i) for i in range(1, 100)]
    events.append(
        _event(100, type=A, payload={"text": "z" * BIG, "tags": list(range(50))}, metadata={})
    )
    MirrorWriter(db).apply_sync(events)
    db.close()
    opened = SearchReads.open(path)
    yield opened
    opened.close()


def test_filtered_windows_counts_and_rows(reads: SearchReads) -> None:
    query = SearchQuery.build(where='payload.user.id = "u1"', types=[A])
    rows = reads.read(lambda c: listed_window(c, query, 0, 5, 40))
    assert [r.offset for r in rows] == [1, 5, 7, 11, 13]  # odd and not a multiple of 3
    assert rows[0].preview == '{"n":1,"user":{"id":"u1"}}'
    later = reads.read(lambda c: listed_window(c, query, 5, 2, 40))
    assert [r.offset for r in later] == [17, 19]
    total = reads.read(lambda c: listed_count(c, query))
    head = reads.read(lambda c: listed_count(c, query, 0, 50))
    tail = reads.read(lambda c: listed_count(c, query, 50))
    assert total == head + tail == 33
    assert reads.read(lambda c: row_of_offset(c, query, 6)) == 2  # 7 is the third listed
    assert reads.read(lambda c: row_of_offset(c, SearchQuery(), 6)) == 5
    big = reads.read(lambda c: listed_window(c, SearchQuery(), 99, 1, 50))[0]
    assert len(big.preview) == 50 and big.preview.endswith("…")


def test_time_and_feed_lookups_and_backward_steps(reads: SearchReads) -> None:
    assert reads.read(lambda c: first_offset_at(c, "2026-06-01T12:00:30.000Z")) == 30
    assert reads.read(lambda c: first_offset_at(c, "2026-06-01T12:00:30.001Z")) == 31
    assert reads.read(lambda c: first_offset_at(c, "2026-06-01T11:00:00.000Z")) == 1
    assert reads.read(lambda c: first_offset_at(c, "2026-06-01T13:00:00.000Z")) is None
    held = reads.read(lambda c: [_feed_row_holds(c, o) for o in (1, 2, 3, 50, 100)])
    assert held == [True] * 5
    assert reads.read(lambda c: feed_row_of_offset(c, 101)) is None
    query = SearchQuery.build('"n":7')  # 7, 70..79
    assert reads.read(lambda c: hit_before(c, query, 75, 1000)) == (74, 1)
    assert reads.read(lambda c: hit_before(c, query, 70, 1000)) == (7, 1)
    hit, scanned_to = reads.read(lambda c: hit_before(c, query, 60, 10))
    assert hit is None and scanned_to == 50  # a bounded call says where to go on from


def test_big_events_are_read_bounded(reads: SearchReads) -> None:
    small = reads.read(lambda c: read_bounded_event(c, 1))
    assert small.text is not None and json.loads(small.text)["payload"]["n"] == 1
    big = reads.read(lambda c: read_bounded_event(c, 100, string_prefix=1000))
    assert big.text is None and big.size > BIG
    assert big.value["payload"]["text"] == "z" * 1000 + "…"
    assert big.value["payload"]["tags"] == list(range(50))
    assert big.value["offset"] == 100
    assert [(c.path, c.size, c.shown) for c in big.cuts] == [("$.payload.text", BIG, 1000)]
    capped = reads.read(lambda c: read_bounded_event(c, 100, max_nodes=20))
    assert capped.nodes_cut
    group = reads.read(lambda c: read_bounded_feed_item(c, feed_row_of_offset(c, 100) or 0))
    assert group.text is None and group.value["events"][-1]["offset"] == 100
    whole = json.loads(reads.read(lambda c: pretty_event_text(c, 100)))
    assert len(whole["payload"]["text"]) == BIG
    assert reads.read(lambda c: read_bounded_event(c, 1000)).text == "null"


def test_backward_steps_use_the_index_and_scan_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "indexed.sqlite3"
    db = MirrorDb.open(path)
    writer = MirrorWriter(db)
    writer.apply_sync([_event(i) for i in range(1, 61)])
    SearchIndexer(db).build()
    writer.apply_sync([_event(i) for i in range(61, 81)])  # an unindexed tail
    reads = SearchReads.open(path)
    try:
        query = SearchQuery.build('"n":7')  # 7, 70..79: 7 indexed, 70..79 in the tail
        assert reads.indexed_through() == 60
        assert reads.read(lambda c: hit_before(c, query, 75, 1000)) == (74, 61)
        assert reads.read(lambda c: hit_before(c, query, 70, 1000)) == (7, 1)
        assert reads.read(lambda c: hit_before(c, query, 7, 1000)) == (None, 1)
        hit, scanned_to = reads.read(lambda c: hit_before(c, query, 70, 5))
        assert hit is None and scanned_to == 65  # the tail first, bounded
        within = SearchQuery.build('"n":7', types=[B])  # 72, 75, 78: multiples of 3
        assert reads.read(lambda c: hit_before(c, within, 75, 1000)) == (72, 61)
        assert reads.read(lambda c: hit_before(c, within, 72, 1000)) == (None, 1)
    finally:
        reads.close()
        db.close()
