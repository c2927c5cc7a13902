"""The UI-facing reads: windows, filters, feed rows, export, the read-only SQL console."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import orjson
import pytest

from mirror.db import MirrorDb
from mirror.processors import MirrorWriter
from mirror.reader import MirrorReader
from mirror.sql_guard import ReadOnlyRefused

CREATED = "events.iterate.com/stream/created"
CHILD = "events.iterate.com/stream/child-stream-created"


def ev(offset: int, event_type: str, **payload: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "payload": payload,
        "offset": offset,
        "createdAt": "2026-06-01T00:00:00.000Z",
    }


TYPES = ["a", "b", "c"]


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[MirrorDb, MirrorReader]]:
    db = MirrorDb.open(tmp_path / "m.sqlite3")
    events = [ev(1, CREATED, namespace="default", path="/p"), ev(2, CHILD, childPath="/p/kid")]
    events += [ev(i, TYPES[(i // 4) % 3], n=i) for i in range(3, 61)]
    MirrorWriter(db).apply_sync(events)
    reader = db.open_reader()
    yield db, reader
    reader.close()
    db.close()


def test_counts(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    _, reader = mirror
    counts = reader.type_counts()
    assert reader.event_count() == reader.max_offset() == 60 == sum(counts.values())
    assert reader.filtered_count(["a", "c"]) == counts["a"] + counts["c"]
    assert reader.filtered_count(None) == 60 and reader.filtered_count([]) == 0


def test_event_windows_by_position(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    _, reader = mirror
    assert [r.offset for r in reader.events_range(10, 3)] == [11, 12, 13]
    a_offsets = [i for i in range(3, 61) if TYPES[(i // 4) % 3] == "a"]
    assert [r.offset for r in reader.events_range(2, 4, ["a"])] == a_offsets[2:6]
    ab_offsets = [i for i in range(3, 61) if TYPES[(i // 4) % 3] in ("a", "b")]
    assert [r.offset for r in reader.events_range(5, 6, ["a", "b"])] == ab_offsets[5:11]
    assert reader.events_range(0, 5, []) == []
    assert reader.events_range(100, 5) == []


def test_feed_rows_carry_type_and_child_path(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    _, reader = mirror
    rows = reader.feed_range(0, 4)
    assert [(r.component, r.event_type, r.child_path) for r in rows[:3]] == [
        ("stream.created", CREATED, None),
        ("stream.child-stream-created", CHILD, "/p/kid"),
        ("group", "a", None),
    ]
    assert (rows[2].first_offset, rows[2].last_offset, rows[2].event_count) == (3, 3, 1)
    assert (rows[3].first_offset, rows[3].last_offset, rows[3].event_count) == (4, 7, 4)
    assert reader.feed_count() == len(reader.feed_range(0, 1000))


def test_feed_item_json_holds_the_events(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    _, reader = mirror
    group = orjson.loads(reader.feed_item_json(3))
    assert group["eventType"] == "b"
    assert [e["offset"] for e in group["events"]] == [4, 5, 6, 7]
    assert group["events"][0] == ev(4, "b", n=4)
    child = orjson.loads(reader.feed_item_json(1))
    assert child == {"events": [ev(2, CHILD, childPath="/p/kid")]}
    assert reader.feed_item_json(999) == "null"


def test_iter_events_json_pages_through_everything(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    _, reader = mirror
    everything = [orjson.loads(text)["offset"] for text in reader.iter_events_json(batch=7)]
    assert everything == list(range(1, 61))
    only_c = [orjson.loads(t) for t in reader.iter_events_json(["c"], batch=5)]
    assert [e["offset"] for e in only_c] == [i for i in range(3, 61) if TYPES[(i // 4) % 3] == "c"]
    assert list(reader.iter_events_json([])) == []


def test_console_returns_columns_and_limited_rows(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    _, reader = mirror
    columns, rows = reader.query_readonly("SELECT offset, type FROM events ORDER BY offset", 5)
    assert columns == ["offset", "type"] and len(rows) == 5 and rows[0] == (1, CREATED)
    # An empty result still names its columns, so the console can show an empty table.
    assert reader.query_readonly("SELECT 1 AS one WHERE 0", 5) == (["one"], [])


@pytest.mark.parametrize(
    "sql", ["DELETE FROM events", "PRAGMA query_only = 0; DELETE FROM events", "DROP TABLE events"]
)
def test_console_refuses_writes(mirror: tuple[MirrorDb, MirrorReader], sql: str) -> None:
    db, reader = mirror
    with pytest.raises(ReadOnlyRefused, match=r"^read-only: "):
        reader.query_readonly(sql, 10)
    assert db.event_count() == 60


def test_console_query_can_be_interrupted(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    _, reader = mirror
    endless = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    )
    timer = threading.Timer(0.2, reader.interrupt_query)
    timer.start()
    with pytest.raises(apsw.InterruptError):
        reader.query_readonly(endless, 1)
    timer.join()
    assert reader.query_readonly("SELECT count(*) FROM events", 1) == (["count(*)"], [(60,)])


def test_reader_is_safe_to_share_between_threads(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    _, reader = mirror
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(200):
                assert len(reader.events_range(0, 50)) == 50
                assert sum(1 for _ in reader.iter_events_json(batch=25)) == 60
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_reader_before_schema_exists_reads_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    apsw.Connection(str(path)).close()
    reader = MirrorReader(path)
    assert (
        reader.event_count() == 0 and reader.type_counts() == {} and reader.feed_range(0, 5) == []
    )
    assert not reader.schema_matches()
    reader.close()
