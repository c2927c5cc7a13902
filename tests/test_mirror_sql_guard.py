"""The read-only console guard on a real mirror file: every kind of statement that could change
the file, the connection or the disk is refused by name, and reads of every kind still run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest
from mirror_support import REPO_ROOT

from mirror.db import MirrorDb
from mirror.processors import MirrorWriter
from mirror.reader import MirrorReader
from mirror.sql_guard import ReadOnlyRefused, refusal, statement_kind

CREATED = "events.iterate.com/stream/created"


def ev(offset: int, event_type: str, **payload: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "payload": payload,
        "offset": offset,
        "createdAt": "2026-06-01T00:00:00.000Z",
    }


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[MirrorDb, MirrorReader]]:
    db = MirrorDb.open(tmp_path / "m.sqlite3")
    events = [ev(1, CREATED, namespace="default", path="/p")]
    events += [ev(i, "note" if i % 2 else "tick", n=i) for i in range(2, 21)]
    MirrorWriter(db).apply_sync(events)
    reader = db.open_reader()
    yield db, reader
    reader.close()
    db.close()


def snapshot(db: MirrorDb, reader: MirrorReader) -> tuple[int, int, list[tuple[Any, ...]]]:
    schema = reader.connection.execute(
        "SELECT type, name, sql FROM sqlite_schema ORDER BY name"
    ).fetchall()
    return db.event_count(), reader.user_version(), schema


REFUSED = [
    ("INSERT INTO mirror_meta(key, value) VALUES ('k', 'v')", "INSERT"),
    ("UPDATE mirror_meta SET value = 'x'", "UPDATE"),
    ("DELETE FROM events", "DELETE"),
    ("CREATE TABLE t(a)", "CREATE TABLE"),
    ("CREATE TEMP TABLE t(a)", "CREATE TEMP TABLE"),
    ("CREATE TEMPORARY VIEW v AS SELECT 1", "CREATE TEMP VIEW"),
    ("CREATE INDEX i ON events(created_at)", "CREATE INDEX"),
    ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
    ("DROP TABLE events", "DROP TABLE"),
    ("DROP INDEX events_type_local_index", "DROP INDEX"),
    ("ALTER TABLE events RENAME TO gone", "ALTER TABLE"),
    ("VACUUM", "VACUUM"),
    ("ATTACH ':memory:' AS other", "ATTACH"),
    ("DETACH main", "DETACH"),
    ("REINDEX", "REINDEX"),
    ("ANALYZE", "ANALYZE"),
    ("PRAGMA journal_mode=DELETE", "PRAGMA journal_mode=DELETE"),
    ("PRAGMA user_version = 7", "PRAGMA user_version=7"),
    ("PRAGMA main.page_size = 1024", "PRAGMA page_size=1024"),
    ("PRAGMA query_only = 0; DELETE FROM events", "PRAGMA query_only=0"),
    ("PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_checkpoint=TRUNCATE"),
    ("PRAGMA optimize", "PRAGMA optimize"),
    ("PRAGMA journal_mode", "PRAGMA journal_mode"),
    ("BEGIN", "BEGIN"),
    ("BEGIN IMMEDIATE", "BEGIN"),
    ("COMMIT", "COMMIT"),
    ("SAVEPOINT sp", "SAVEPOINT"),
    ("RELEASE sp", "RELEASE"),
    ("SELECT load_extension('/nonexistent')", "function load_extension()"),
    ("SELECT 1; DELETE FROM events", "DELETE"),
    ("-- a comment first\n/* and another */ VACUUM", "VACUUM"),
]


@pytest.mark.parametrize(("sql", "kind"), REFUSED)
def test_console_refuses_by_name_and_changes_nothing(
    mirror: tuple[MirrorDb, MirrorReader], sql: str, kind: str
) -> None:
    db, reader = mirror
    before = snapshot(db, reader)
    with pytest.raises(ReadOnlyRefused) as refused:
        reader.query_readonly(sql, 10)
    assert str(refused.value) == f"read-only: {kind} is not allowed"
    assert snapshot(db, reader) == before
    # The console stays usable after a refusal.
    assert reader.query_readonly("SELECT count(*) FROM events", 1) == (["count(*)"], [(20,)])


def test_vacuum_into_leaves_no_file(mirror: tuple[MirrorDb, MirrorReader], tmp_path: Path) -> None:
    _, reader = mirror
    target = tmp_path / "copy.sqlite3"
    with pytest.raises(ReadOnlyRefused, match=r"^read-only: VACUUM INTO is not allowed$"):
        reader.query_readonly(f"VACUUM INTO '{target}'", 10)
    assert not target.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "m.sqlite3",
        "m.sqlite3-shm",
        "m.sqlite3-wal",
    ]


def test_attach_of_a_file_creates_nothing(
    mirror: tuple[MirrorDb, MirrorReader], tmp_path: Path
) -> None:
    _, reader = mirror
    other = tmp_path / "other.sqlite3"
    with pytest.raises(ReadOnlyRefused, match="ATTACH"):
        reader.query_readonly(f"ATTACH '{other}' AS other", 10)
    assert not other.exists()


READS = [
    (
        "SELECT offset, type FROM events ORDER BY offset LIMIT 3",
        [(1, CREATED), (2, "tick"), (3, "note")],
    ),
    (
        "SELECT count(*) FROM events AS e "
        "JOIN feed_items AS f ON e.offset BETWEEN f.first_offset AND f.last_offset",
        [(20,)],
    ),
    (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4) "
        "SELECT sum(i) FROM n",
        [(10,)],
    ),
    ("WITH t AS (SELECT type FROM events) SELECT count(DISTINCT type) FROM t", [(3,)]),
    ("SELECT json_extract(json(raw_jsonb), '$.payload.n') FROM events WHERE offset = 5", [(5,)]),
    ("SELECT raw_jsonb ->> '$.type' FROM events WHERE offset = 1", [(CREATED,)]),
    ("SELECT json_array_length(json_array(1, 2, 3))", [(3,)]),
    ("SELECT name FROM pragma_table_info('mirror_meta') ORDER BY cid LIMIT 1", [("key",)]),
]


@pytest.mark.parametrize(("sql", "rows"), READS)
def test_console_runs_reads(
    mirror: tuple[MirrorDb, MirrorReader], sql: str, rows: list[tuple[Any, ...]]
) -> None:
    _, reader = mirror
    assert reader.query_readonly(sql, 10)[1] == rows


@pytest.mark.parametrize(
    "pragma",
    [
        "table_info(events)",
        "table_xinfo(events)",
        "index_list(events)",
        "index_info(events_type_local_index)",
        "index_xinfo(events_type_local_index)",
        "foreign_key_list(events)",
        "user_version",
        "page_count",
        "page_size",
        "freelist_count",
        "data_version",
        "schema_version",
        "quick_check",
        "integrity_check",
        "compile_options",
        "database_list",
        "function_list",
        "pragma_list",
        "table_list",
        "collation_list",
    ],
)
def test_console_runs_read_pragmas(mirror: tuple[MirrorDb, MirrorReader], pragma: str) -> None:
    _, reader = mirror
    columns, rows = reader.query_readonly(f"PRAGMA {pragma}", 1000)
    assert columns
    if pragma in ("user_version", "quick_check", "integrity_check", "page_size"):
        assert rows and rows[0][0] not in (None, 0)


def test_reads_are_refused_nowhere_else(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    # The guard is the console's alone: the reader's own connection serves the views unchanged.
    _, reader = mirror
    reader.query_readonly("SELECT 1", 1)
    assert reader.connection.authorizer is None
    assert reader.user_version() > 0


def test_policy_table_is_pure() -> None:
    assert refusal(apsw.SQLITE_SELECT, None, None) is None
    assert refusal(apsw.SQLITE_READ, "events", "type") is None
    assert refusal(apsw.SQLITE_FUNCTION, None, "json_extract") is None
    assert refusal(apsw.SQLITE_PRAGMA, "table_info", "events") is None
    assert refusal(apsw.SQLITE_PRAGMA, "user_version", "3") == (
        "read-only: PRAGMA user_version=3 is not allowed"
    )
    assert refusal(apsw.SQLITE_TRANSACTION, "ROLLBACK", None) == (
        "read-only: ROLLBACK is not allowed"
    )
    assert refusal(apsw.SQLITE_DROP_VTABLE, "v", "fts5") == (
        "read-only: DROP VIRTUAL TABLE is not allowed"
    )
    assert statement_kind("  vacuum into 'x'") == "VACUUM INTO"
    assert statement_kind("create temporary table t(a)") == "CREATE TEMP TABLE"
    assert statement_kind("PRAGMA main.journal_mode = wal") == "PRAGMA journal_mode=wal"
    assert statement_kind("") == "this statement"


def test_query_verb_prints_the_refusal_and_exits_1(mirror: tuple[MirrorDb, MirrorReader]) -> None:
    db, _ = mirror
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "query", str(db.path), "VACUUM"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 1
    assert result.stderr == "streamdesk: read-only: VACUUM is not allowed\n"
    assert result.stdout == ""
