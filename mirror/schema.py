"""The mirror file's SQLite schema: DDL, the schema version and the processor slugs.

Public API:

- ``SCHEMA_VERSION``: stored in ``PRAGMA user_version`` and in the writer-lock file name. Bump it
  whenever any DDL below changes; an older file is then cleared and rebuilt by replay.
- ``RAW_EVENTS_SLUG`` / ``EVENT_FEED_SLUG``: the ``processor_state.processor_slug`` values.
- ``CONTINUITY_CHANGED_MESSAGE`` / ``CONTINUITY_GAP_MESSAGE``: what a changed replay (the update
  trigger) and a gap (``raw_events.write_insert``) fail with.
- ``REPLAY_CONFLICT``: the conflict clause every insert into ``events`` ends with.
- ``CREATE_STATEMENTS`` / ``DROP_STATEMENTS``: used by ``mirror.db`` only.
- ``MIGRATIONS``: older versions whose rows are kept as they are, with the statements that bring
  such a file to ``SCHEMA_VERSION`` in place (then ``CREATE_STATEMENTS``); any other version is
  cleared and rebuilt.

Design notes (why the events table looks like this):

- The whole event is stored once, as JSONB (``raw_jsonb``). ``offset``, ``type``,
  ``idempotency_key`` and ``created_at`` are VIRTUAL generated columns: nothing is stored twice
  (write cost here is dominated by bytes written), windowed reads recompute them for a handful
  of rows, and the ``(type, local_index)`` index keeps its own copy of ``type`` so filtered scans
  never touch the JSON. Writing them alongside from Python would bind four more parameters per
  row and could drift from the JSON.
- The append invariant (identical replays ignored, a changed offset aborts, a gap aborts) is
  kept with as little work per row as possible (it runs for every one of millions of rows
  during catch-up):
  - ``CHECK (local_index = offset - 1)``: every row sits at its own offset;
  - a BEFORE UPDATE trigger aborts every update: rows never change, so an update can only be a
    replay that changed an existing offset;
  - ``REPLAY_CONFLICT``, the insert's conflict clause, ignores an identical replay and turns a
    changed one into that update. A plain INSERT of an existing offset still fails on the
    primary key;
  - gaps and ``event_type_counts`` are per batch, in ``mirror.processors.raw_events
    .write_insert``, the one function that adds rows: it reads the last row, refuses a batch
    whose first new row is not the next offset (``CONTINUITY_GAP_MESSAGE``) before writing,
    and adds the new rows' types to the counts, in the caller's transaction.
  Schema 2 did the last two with an AFTER INSERT trigger per row, which cost about a quarter
  of the insert: 300,000 pages-of-5,000 inserts took 2.8-3.0 µs of CPU per row with it and
  2.2-2.3 µs with the per-batch statements. The writer thread sets the pace of a catch-up, so
  ``bench/catchup.py`` at 1M went from 180-182k to 201-202k events/s (client CPU 5.6-5.7 ->
  5.1 µs per event), alternate runs. A BEFORE INSERT trigger is worse still: SQLite computes
  the four generated columns twice per row (31,000 instructions per event against 24,300 with
  the AFTER trigger, callgrind).
- No ON DELETE triggers: rows leave only through a whole-mirror discard, which clears
  ``event_type_counts`` in the same transaction and keeps SQLite's fast table truncation.
"""

from __future__ import annotations

SCHEMA_VERSION = 3

RAW_EVENTS_SLUG = "raw-events"
EVENT_FEED_SLUG = "event-feed"

CONTINUITY_CHANGED_MESSAGE = "mirror replay changed an existing offset"
CONTINUITY_GAP_MESSAGE = "mirror offsets must append continuously"

# Identical replay: nothing happens. Changed replay: an update, which the update trigger aborts.
# ``json()`` compares canonical text, so the same event in other JSONB bytes is still identical.
REPLAY_CONFLICT = (
    "ON CONFLICT (local_index) DO UPDATE SET raw_jsonb = excluded.raw_jsonb "
    "WHERE json(raw_jsonb) IS NOT json(excluded.raw_jsonb)"
)

INCARNATION_KEY = "incarnation"
SCHEMA_VERSION_KEY = "schema-version"

CREATE_STATEMENTS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS events (
      local_index INTEGER PRIMARY KEY,
      raw_jsonb BLOB NOT NULL,
      offset INTEGER GENERATED ALWAYS AS (raw_jsonb ->> '$.offset') VIRTUAL NOT NULL,
      type TEXT GENERATED ALWAYS AS (raw_jsonb ->> '$.type') VIRTUAL NOT NULL,
      idempotency_key TEXT GENERATED ALWAYS AS (raw_jsonb ->> '$.idempotencyKey') VIRTUAL,
      created_at TEXT GENERATED ALWAYS AS (raw_jsonb ->> '$.createdAt') VIRTUAL NOT NULL,
      CHECK (local_index = offset - 1)
    )
    """,
    "CREATE INDEX IF NOT EXISTS events_type_local_index ON events (type, local_index)",
    """
    CREATE TABLE IF NOT EXISTS event_type_counts (
      type TEXT PRIMARY KEY,
      n INTEGER NOT NULL
    ) WITHOUT ROWID
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS events_before_update BEFORE UPDATE ON events
    BEGIN
      SELECT RAISE(ABORT, '{CONTINUITY_CHANGED_MESSAGE}');
    END
    """,
    """
    CREATE TABLE IF NOT EXISTS feed_items (
      local_index INTEGER PRIMARY KEY,
      component TEXT NOT NULL,
      first_offset INTEGER NOT NULL,
      last_offset INTEGER NOT NULL,
      event_count INTEGER NOT NULL,
      data BLOB NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS processor_state (
      processor_slug TEXT NOT NULL,
      subscription_key TEXT NOT NULL DEFAULT '',
      reduced_state TEXT NOT NULL,
      max_offset INTEGER NOT NULL CHECK (max_offset >= 0),
      updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
      PRIMARY KEY (processor_slug, subscription_key)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS mirror_meta (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    ) WITHOUT ROWID
    """,
)

# Schema 2 differs only by its AFTER INSERT trigger (the tables, rows and counts are the same), so
# a mirror of millions of events is not downloaded again to drop it.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("DROP TRIGGER IF EXISTS events_after_insert",),
}

# Every object CREATE_STATEMENTS makes (and schema 2's insert trigger), dropped on a
# schema-version mismatch.
DROP_STATEMENTS: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS events_after_insert",
    "DROP TRIGGER IF EXISTS events_before_update",
    "DROP INDEX IF EXISTS events_type_local_index",
    "DROP TABLE IF EXISTS events",
    "DROP TABLE IF EXISTS event_type_counts",
    "DROP TABLE IF EXISTS feed_items",
    "DROP TABLE IF EXISTS processor_state",
    "DROP TABLE IF EXISTS mirror_meta",
)
