"""The mirror file's SQLite schema: DDL, the schema version and the processor slugs.

Public API:

- ``SCHEMA_VERSION``: stored in ``PRAGMA user_version`` and in the writer-lock file name. Bump it
  whenever any DDL below changes; an older file is then cleared and rebuilt by replay.
- ``RAW_EVENTS_SLUG`` / ``EVENT_FEED_SLUG``: the ``processor_state.processor_slug`` values.
- ``CONTINUITY_CHANGED_MESSAGE`` / ``CONTINUITY_GAP_MESSAGE``: the trigger's abort messages.
- ``CREATE_STATEMENTS`` / ``DROP_STATEMENTS``: used by ``mirror.db`` only.

Design notes (why the events table looks like this):

- The whole event is stored once, as JSONB (``raw_jsonb``). ``offset``, ``type``,
  ``idempotency_key`` and ``created_at`` are VIRTUAL generated columns: nothing is stored twice
  (write cost here is dominated by bytes written), windowed reads recompute them for a handful
  of rows, and the ``(type, local_index)`` index keeps its own copy of ``type`` so filtered scans
  never touch the JSON. Writing them alongside from Python would bind four more parameters per
  row and could drift from the JSON.
- One BEFORE INSERT trigger does both the continuity check and the per-type count. A second
  trigger would cost a second sub-program call per row; keeping the count in the same trigger,
  after the RAISE(IGNORE) branch, means an ignored replay is never counted.
- The continuity fast path is a single seek to the last rowid. ``SELECT max(local_index)`` is
  evaluated per row (it is inside the trigger body), so multi-row INSERT ... SELECT is checked
  row by row.
- No ON DELETE triggers: rows leave only through a whole-mirror discard, which clears
  ``event_type_counts`` in the same transaction and keeps SQLite's fast table truncation.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

RAW_EVENTS_SLUG = "raw-events"
EVENT_FEED_SLUG = "event-feed"

CONTINUITY_CHANGED_MESSAGE = "mirror replay changed an existing offset"
CONTINUITY_GAP_MESSAGE = "mirror offsets must append continuously"

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
    CREATE TRIGGER IF NOT EXISTS events_before_insert BEFORE INSERT ON events
    BEGIN
      SELECT CASE
        WHEN NEW.local_index = ifnull((SELECT max(local_index) FROM events), -1) + 1 THEN NULL
        WHEN (SELECT json(raw_jsonb) FROM events WHERE local_index = NEW.local_index)
             = json(NEW.raw_jsonb) THEN RAISE(IGNORE)
        WHEN EXISTS (SELECT 1 FROM events WHERE local_index = NEW.local_index)
          THEN RAISE(ABORT, '{CONTINUITY_CHANGED_MESSAGE}')
        ELSE RAISE(ABORT, '{CONTINUITY_GAP_MESSAGE}')
      END;
      INSERT INTO event_type_counts (type, n) VALUES (NEW.type, 1)
        ON CONFLICT (type) DO UPDATE SET n = n + 1;
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

# Every object CREATE_STATEMENTS makes, dropped on a schema-version mismatch.
DROP_STATEMENTS: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS events_before_insert",
    "DROP INDEX IF EXISTS events_type_local_index",
    "DROP TABLE IF EXISTS events",
    "DROP TABLE IF EXISTS event_type_counts",
    "DROP TABLE IF EXISTS feed_items",
    "DROP TABLE IF EXISTS processor_state",
    "DROP TABLE IF EXISTS mirror_meta",
)
