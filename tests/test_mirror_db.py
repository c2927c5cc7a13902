"""The mirror database: schema, continuity check, counts, versioning, corruption, discard."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import orjson
import pytest

from mirror import wal_checkpointer
from mirror.db import MirrorDb, MirrorReader, encode_json
from mirror.jsonb import JsonbEncoder
from mirror.processor import StoredState
from mirror.processors import MirrorWriter
from mirror.processors.raw_events import (
    ContinuityError,
    check_continuity,
    plan_insert,
    write_insert,
)
from mirror.schema import (
    CONTINUITY_CHANGED_MESSAGE,
    CONTINUITY_GAP_MESSAGE,
    EVENT_FEED_SLUG,
    RAW_EVENTS_SLUG,
    SCHEMA_VERSION,
)

CREATED_AT = "2026-06-01T12:00:00.000Z"


def ev(offset: int, event_type: str = "a", **payload: Any) -> dict[str, Any]:
    return {"type": event_type, "payload": payload, "offset": offset, "createdAt": CREATED_AT}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[MirrorDb]:
    mirror = MirrorDb.open(tmp_path / "mirrors" / "m.sqlite3")
    yield mirror
    mirror.close()


_JSONB = JsonbEncoder()


def insert(db: MirrorDb, events: list[dict[str, Any]]) -> None:
    with db.transaction() as conn:
        write_insert(conn, plan_insert(events, _JSONB))


def test_fresh_file_has_schema_wal_and_version(db: MirrorDb) -> None:
    assert db.path.exists()
    assert db.user_version() == SCHEMA_VERSION
    assert db._scalar("PRAGMA journal_mode") == "wal"
    assert db._scalar("SELECT value FROM mirror_meta WHERE key = 'schema-version'") == str(
        SCHEMA_VERSION
    )
    assert db.event_count() == 0 and db.feed_count() == 0 and db.type_counts() == {}


def test_generated_columns_come_from_the_event(db: MirrorDb) -> None:
    insert(db, [{**ev(1, "x/y"), "idempotencyKey": "k-1"}])
    (row,) = db.events_range(0, 5)
    assert (row.local_index, row.offset, row.type, row.created_at, row.idempotency_key) == (
        0,
        1,
        "x/y",
        CREATED_AT,
        "k-1",
    )
    assert orjson.loads(db.event_json(1)) == {**ev(1, "x/y"), "idempotencyKey": "k-1"}
    assert db._scalar("SELECT typeof(raw_jsonb) FROM events") == "blob"


def test_identical_replay_is_ignored(db: MirrorDb) -> None:
    insert(db, [ev(1), ev(2), ev(3, "b")])
    insert(db, [ev(2), ev(3, "b"), ev(4)])
    assert db.event_count() == 4
    assert db.type_counts() == {"a": 3, "b": 1}


def test_changed_event_at_existing_offset_aborts(db: MirrorDb) -> None:
    insert(db, [ev(1), ev(2)])
    with pytest.raises(apsw.ConstraintError, match=CONTINUITY_CHANGED_MESSAGE):
        insert(db, [ev(2, n=99)])
    assert orjson.loads(db.event_json(2)) == ev(2)


def test_rows_never_change_whatever_the_statement(db: MirrorDb) -> None:
    insert(db, [ev(1), ev(2)])
    with pytest.raises(apsw.ConstraintError, match=CONTINUITY_CHANGED_MESSAGE):
        db.connection.execute(
            "UPDATE events SET raw_jsonb = jsonb(?) WHERE local_index = 1",
            (orjson.dumps(ev(2, n=5)),),
        )
    # A plain insert of a taken offset (not the mirror's own replay clause) fails too.
    with pytest.raises(apsw.ConstraintError, match=r"UNIQUE.*events\.local_index"):
        db.connection.execute(
            "INSERT INTO events (local_index, raw_jsonb) VALUES (1, jsonb(?))",
            (orjson.dumps(ev(2)),),
        )
    assert orjson.loads(db.event_json(2)) == ev(2) and db.type_counts() == {"a": 2}


def test_a_gap_after_the_last_row_aborts_a_contiguous_batch(db: MirrorDb) -> None:
    insert(db, [ev(1), ev(2)])
    with pytest.raises(apsw.ConstraintError, match="append continuously"):
        insert(db, [ev(4), ev(5), ev(6)])
    assert db.event_count() == 2 and db.type_counts() == {"a": 2}


def test_gap_aborts_and_rolls_back_the_whole_batch(db: MirrorDb) -> None:
    insert(db, [ev(1)])
    with pytest.raises(apsw.ConstraintError, match="append continuously"):
        insert(db, [ev(2), ev(4)])
    assert db.event_count() == 1 and db.type_counts() == {"a": 1}


def test_first_event_must_be_offset_one(db: MirrorDb) -> None:
    with pytest.raises(apsw.ConstraintError, match="append continuously"):
        insert(db, [ev(2)])


@pytest.mark.parametrize(
    ("head", "first", "indexes", "gap"),
    [
        (-1, 0, None, False),  # the first batch starts at offset 1
        (-1, 1, None, True),
        (4, 5, None, False),  # right after the last row
        (4, 2, None, False),  # overlaps it: replays, then new rows
        (4, 6, None, True),
        (9, 4, (4, 6, 10), False),  # replays of 5 and 7, then offset 11
        (9, 4, (4, 6), False),  # only replays
        (2, 1, (1, 3, 5), True),  # a hole past the head
        (2, 4, (4, 5), True),  # starts past the head
        (-1, 0, (0, 2), True),
    ],
)
def test_check_continuity(
    head: int, first: int, indexes: tuple[int, ...] | None, gap: bool
) -> None:
    if gap:
        with pytest.raises(ContinuityError, match="append continuously"):
            check_continuity(head, first, indexes)
    else:
        check_continuity(head, first, indexes)


def test_batches_that_are_not_one_run_replay_and_extend(db: MirrorDb) -> None:
    insert(db, [ev(i, "a") for i in range(1, 11)])
    insert(db, [ev(5, "a"), ev(7, "a"), ev(11, "b")])
    assert db.event_count() == 11 and db.type_counts() == {"a": 10, "b": 1}
    # The same offset twice in one batch is one row.
    insert(db, [ev(12, "c"), ev(12, "c"), ev(13, "c")])
    assert db.event_count() == 13 and db.type_counts() == {"a": 10, "b": 1, "c": 2}
    insert(db, [ev(i, "a" if i <= 10 else "c") for i in range(9, 16) if i != 11] + [ev(11, "b")])
    assert db.event_count() == 15 and db.type_counts() == {"a": 10, "b": 1, "c": 4}
    for name, n in db.type_counts().items():
        assert db._scalar("SELECT count(*) FROM events WHERE type = ?", (name,)) == n


def test_a_batch_that_runs_past_the_last_row_counts_only_new_rows(db: MirrorDb) -> None:
    insert(db, [ev(i, "a") for i in range(1, 6)])
    insert(db, [ev(i, "a" if i <= 5 else "b") for i in range(3, 9)])
    assert db.event_count() == 8 and db.type_counts() == {"a": 5, "b": 3}


@pytest.mark.parametrize("batch", [[ev(4), ev(5)], [ev(2), ev(4)], [ev(1), ev(3), ev(5)]])
def test_a_gap_is_refused_before_anything_is_written(db: MirrorDb, batch: list[Any]) -> None:
    insert(db, [ev(1), ev(2)])
    # Even a caller that swallows the error and commits has written nothing of the batch.
    with db.transaction() as conn, pytest.raises(ContinuityError, match="append continuously"):
        write_insert(conn, plan_insert(batch, _JSONB))
    assert db.event_count() == 2 and db.type_counts() == {"a": 2}
    assert [row.offset for row in db.events_range(0, 10)] == [1, 2]


def test_type_counts_track_inserts_replays_and_aborts(db: MirrorDb) -> None:
    writer = MirrorWriter(db)
    writer.apply_sync([ev(i, ["a", "b", "c"][i % 3]) for i in range(1, 101)])
    with pytest.raises(apsw.ConstraintError):
        insert(db, [ev(101, "a"), ev(103, "a")])
    insert(db, [ev(99, ["a", "b", "c"][99 % 3]), ev(100, ["a", "b", "c"][100 % 3])])
    expected = {"a": 33, "b": 34, "c": 33}
    assert db.type_counts() == expected
    for name, n in expected.items():
        assert db._scalar("SELECT count(*) FROM events WHERE type = ?", (name,)) == n


def test_range_reads_and_filter_use_the_type_index(db: MirrorDb) -> None:
    MirrorWriter(db).apply_sync([ev(i, "a" if i % 2 else "b") for i in range(1, 21)])
    assert [r.offset for r in db.events_range(5, 3)] == [6, 7, 8]
    assert [r.offset for r in db.events_range(2, 3, ["b"])] == [6, 8, 10]
    plan = " ".join(
        str(row[-1])
        for row in db._rows(
            "EXPLAIN QUERY PLAN SELECT local_index FROM events WHERE type = ? "
            "ORDER BY local_index LIMIT 5 OFFSET 2",
            ("b",),
        )
    )
    assert "events_type_local_index" in plan
    assert db.max_offset() == 20 and db.event_count() == 20
    assert db.event_json(21) == "null"


def test_large_event_round_trips(db: MirrorDb) -> None:
    big = ev(1, text="x" * (3 * 1024 * 1024))
    MirrorWriter(db).apply_sync([big])
    reader = db.open_reader()
    assert orjson.loads(reader.event_json(1)) == big
    reader.close()


def test_encode_json_maps_non_json_values() -> None:
    assert encode_json({"b": b"\x00\x01", "s": {1}, 2: "k"}) == b'{"b":"AAE=","s":[1],"2":"k"}'


# -- readers ------------------------------------------------------------------------------------


def test_reader_never_creates_a_file(tmp_path: Path) -> None:
    with pytest.raises(apsw.CantOpenError):
        MirrorReader(tmp_path / "missing.sqlite3")
    assert not (tmp_path / "missing.sqlite3").exists()


def test_reader_is_read_only(db: MirrorDb) -> None:
    reader = db.open_reader()
    with pytest.raises(apsw.ReadOnlyError):
        reader.connection.execute("DELETE FROM events")
    reader.close()


def test_reader_reads_while_the_writer_holds_a_transaction(db: MirrorDb) -> None:
    MirrorWriter(db).apply_sync([ev(1), ev(2)])
    reader = db.open_reader()
    version = reader.data_version()
    with db.transaction() as conn:
        write_insert(conn, plan_insert([ev(3)], _JSONB))
        # WAL: the reader sees the last commit at once, no waiting on the open write.
        assert reader.event_count() == 2
    assert reader.event_count() == 3
    assert reader.data_version() != version
    assert reader.schema_matches()
    reader.close()


# -- schema versions ----------------------------------------------------------------------------


def set_user_version(path: Path, version: int) -> None:
    conn = apsw.Connection(str(path))
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


@pytest.mark.parametrize("old_version", [0, 1, SCHEMA_VERSION + 7])
async def test_schema_mismatch_clears_checkpoint_and_replays(
    tmp_path: Path, old_version: int
) -> None:  # 31, 32
    path = tmp_path / "m.sqlite3"
    db = MirrorDb.open(path)
    await MirrorWriter(db, "k").ingest([ev(1), ev(2), ev(3)])
    db.close()
    set_user_version(path, old_version)

    db = MirrorDb.open(path)
    assert db.schema_reset and db.user_version() == SCHEMA_VERSION
    assert db.read_checkpoint(RAW_EVENTS_SLUG, "k") is None
    assert db.read_checkpoint(EVENT_FEED_SLUG, "k") is None
    assert db.event_count() == 0 and db.feed_count() == 0 and db.type_counts() == {}
    writer = MirrorWriter(db, "k")
    # ingest straight away (no snapshot first): the replay from offset 1 is accepted
    assert await writer.ingest([ev(1), ev(2), ev(3)]) == 3
    assert [r.offset for r in db.events_range(0, 5)] == [1, 2, 3]
    db.close()


# Schema 2's per-row insert trigger, as its files hold it.
_SCHEMA_2_TRIGGER = f"""
CREATE TRIGGER events_after_insert AFTER INSERT ON events
BEGIN
  SELECT RAISE(ABORT, '{CONTINUITY_GAP_MESSAGE}')
    WHERE NEW.local_index <> 0
      AND NOT EXISTS (SELECT 1 FROM events WHERE local_index = NEW.local_index - 1);
  INSERT INTO event_type_counts (type, n) VALUES (NEW.type, 1)
    ON CONFLICT (type) DO UPDATE SET n = n + 1;
END
"""


async def test_a_schema_2_mirror_is_brought_up_to_date_in_place(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = MirrorDb.open(path)
    await MirrorWriter(db, "k").ingest([ev(1, "a"), ev(2, "b"), ev(3, "a")])
    db.close()
    conn = apsw.Connection(str(path))
    conn.execute(_SCHEMA_2_TRIGGER)
    conn.execute("PRAGMA user_version = 2")
    conn.close()

    db = MirrorDb.open(path)
    assert not db.schema_reset and db.user_version() == SCHEMA_VERSION
    assert db._scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'") == 1
    assert db.read_checkpoint(RAW_EVENTS_SLUG, "k") == StoredState(3, {})
    assert db.type_counts() == {"a": 2, "b": 1}
    writer = MirrorWriter(db, "k")
    assert await writer.ingest([ev(3, "a"), ev(4, "b")]) == 1
    assert db.event_count() == 4 and db.type_counts() == {"a": 2, "b": 2}
    db.close()


def test_schema_reset_commits_the_checkpoint_clear_before_dropping(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = MirrorDb.open(path)
    MirrorWriter(db).apply_sync([ev(1)])
    db.close()
    set_user_version(path, SCHEMA_VERSION + 1)

    statements: list[str] = []

    def trace(conn: apsw.Connection) -> None:
        def record(_cursor: apsw.Cursor, sql: str, _bindings: Any) -> bool:
            statements.append(" ".join(sql.split()))
            return True

        conn.exec_trace = record

    apsw.connection_hooks.append(trace)
    try:
        MirrorDb.open(path).close()
    finally:
        apsw.connection_hooks.remove(trace)
    clear = statements.index("DELETE FROM processor_state")
    first_drop = next(i for i, s in enumerate(statements) if s.startswith("DROP"))
    assert "COMMIT" in statements[clear:first_drop]


def test_same_version_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = MirrorDb.open(path)
    MirrorWriter(db).apply_sync([ev(1), ev(2)])
    db.close()
    db = MirrorDb.open(path)
    assert not db.schema_reset and db.event_count() == 2
    assert MirrorWriter(db).checkpoint_sync() == 2
    db.close()


# -- corrupt files ------------------------------------------------------------------------------


def corrupt_siblings(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if ".corrupt-" in p.name)


@pytest.mark.parametrize(
    "content", [os.urandom(65536), b"this is not a database at all\n" * 100], ids=["random", "text"]
)
def test_garbage_file_is_moved_aside_and_rebuilt(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.sqlite3"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="mirror.db"):
        db = MirrorDb.open(path)
    (moved,) = corrupt_siblings(path)
    assert db.quarantined_to == moved and moved.read_bytes() == content
    assert str(path) in caplog.text
    MirrorWriter(db).apply_sync([ev(1)])
    assert db.event_count() == 1
    db.close()


def test_truncated_file_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = MirrorDb.open(path)
    writer = MirrorWriter(db)
    for start in range(1, 3001, 500):
        writer.apply_sync(
            [ev(i, "a" if i % 7 else "b", text="y" * 200) for i in range(start, start + 500)]
        )
    db.close()  # the last close checkpoints the WAL into the file
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)

    db = MirrorDb.open(path)
    (moved,) = corrupt_siblings(path)
    assert moved.stat().st_size == size // 2
    assert db.event_count() == 0
    MirrorWriter(db).apply_sync([ev(1)])
    db.close()


def test_directory_in_the_way_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    path.mkdir()
    db = MirrorDb.open(path)
    assert db.quarantined_to is not None and db.quarantined_to.is_dir()
    db.close()


# -- discard ------------------------------------------------------------------------------------


def test_discard_clears_everything_in_one_commit(db: MirrorDb) -> None:
    writer = MirrorWriter(db, "k")
    writer.apply_sync([ev(1, "events.iterate.com/stream/created"), ev(2), ev(3, "b")])
    db.set_incarnation(CREATED_AT)
    db.write_checkpoint("other-processor", "", {"x": 1}, 3)
    commits: list[int] = []
    db.add_commit_listener(lambda: commits.append(1))

    db.discard()

    assert commits == [1]
    assert db.event_count() == 0 and db.feed_count() == 0 and db.type_counts() == {}
    assert db._scalar("SELECT count(*) FROM processor_state") == 0
    assert db.incarnation() is None
    assert db.user_version() == SCHEMA_VERSION
    writer.discard_sync()
    assert writer.apply_sync([ev(1)]) == 1


def test_failed_transaction_rolls_back_and_connection_stays_usable(db: MirrorDb) -> None:
    with pytest.raises(ZeroDivisionError), db.transaction() as conn:
        write_insert(conn, plan_insert([ev(1)], _JSONB))
        raise ZeroDivisionError
    assert db.event_count() == 0
    insert(db, [ev(1)])
    assert db.event_count() == 1


# -- WAL checkpoints ------------------------------------------------------------------------------


def test_wal_checkpoints_run_outside_the_writers_commits(db: MirrorDb) -> None:
    checkpointer = db._checkpointer
    assert checkpointer is not None
    # SQLite's automatic checkpoint (inside the writer's commits) is replaced by the thread.
    assert db._scalar("PRAGMA wal_autocheckpoint") == 0
    writer = MirrorWriter(db)
    big = "x" * 2000
    for first in range(1, 4001, 500):  # about 8 MB through the WAL: past the 1,000-page mark
        writer.apply_sync([ev(n, text=big) for n in range(first, first + 500)])
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert checkpointer.checkpoints >= 1
    assert db.path.stat().st_size > 4_000_000  # pages reached the database file itself
    assert db.event_count() == 4000 and checkpointer.backstops == 0


def test_a_wal_past_the_backstop_is_checkpointed_by_the_writer(
    db: MirrorDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpointer = db._checkpointer
    assert checkpointer is not None
    monkeypatch.setattr(wal_checkpointer, "BACKSTOP_PAGES", 50)
    monkeypatch.setattr(wal_checkpointer, "WAL_PAGES", 10**9)  # the thread never asks here
    writer = MirrorWriter(db)
    writer.apply_sync([ev(n, text="y" * 2000) for n in range(1, 301)])  # about 150 pages
    assert checkpointer.backstops == 1 and checkpointer.checkpoints == 0
    assert db.path.stat().st_size > 500_000


def test_closing_the_mirror_stops_its_checkpoint_thread(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    mirror = MirrorDb.open(tmp_path / "c.sqlite3")
    names = {t.name for t in threading.enumerate()} - before
    assert names == {"wal checkpoints c.sqlite3"}
    mirror.close()
    assert not {t.name for t in threading.enumerate()} & names
