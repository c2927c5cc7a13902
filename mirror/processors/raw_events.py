"""The raw-events processor: every event, whole, into the ``events`` table.

Public API:

- ``RawEventsProcessor(db, subscription_key="")``: slug ``raw-events``, consumes every type, state
  ``{}``. ``write_rows`` inserts the events with one ``INSERT ... SELECT FROM jsonb_each(?)``: the
  batch is serialized once (one orjson call) and SQLite converts it to JSONB once, instead of a
  Python round trip per row.
- ``insert_events(conn, events)``: that insert on its own (events in increasing offset order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw

from mirror.db import encode_json
from mirror.processor import Event
from mirror.processors.base import MirrorProcessor
from mirror.schema import RAW_EVENTS_SLUG, REPLAY_CONFLICT

# A contiguous batch (the normal case) numbers its rows from the first offset, which saves a
# JSON extraction per row; otherwise each row takes its own offset, so a gap reaches the
# continuity trigger ("... must append continuously") rather than the CHECK constraint.
_INSERT_CONTIGUOUS_SQL = (
    "INSERT INTO events (local_index, raw_jsonb) "
    f"SELECT ?2 + key, value FROM jsonb_each(?1) WHERE true {REPLAY_CONFLICT}"
)
_INSERT_BY_OFFSET_SQL = (
    "INSERT INTO events (local_index, raw_jsonb) "
    f"SELECT (value ->> '$.offset') - 1, value FROM jsonb_each(?1) WHERE true {REPLAY_CONFLICT}"
)


def insert_events(conn: apsw.Connection, events: Sequence[Event]) -> None:
    """Append ``events`` to ``events`` (inside the caller's transaction)."""
    first = events[0]["offset"]
    text = encode_json(list(events))
    if events[-1]["offset"] - first == len(events) - 1:
        conn.execute(_INSERT_CONTIGUOUS_SQL, (text, first - 1))
    else:
        conn.execute(_INSERT_BY_OFFSET_SQL, (text,))


class RawEventsProcessor(MirrorProcessor[dict[str, Any]]):
    slug = RAW_EVENTS_SLUG

    def initial_state(self) -> dict[str, Any]:
        return {}

    def parse_state(self, stored: Any) -> dict[str, Any]:
        return dict(stored) if isinstance(stored, dict) else {}

    def write_rows(
        self, conn: apsw.Connection, events: Sequence[Event], entry_state: dict[str, Any]
    ) -> dict[str, Any]:
        insert_events(conn, events)
        return entry_state
