"""The raw-events processor: every event, whole, into the ``events`` table.

Public API:

- ``RawEventsProcessor(db, subscription_key="")``: slug ``raw-events``, consumes every type, state
  ``{}``. ``write_rows`` inserts the events with one ``INSERT ... SELECT FROM jsonb_each(?)``: the
  batch is serialized once (one orjson call) and SQLite converts it to JSONB once, instead of a
  Python round trip per row. ``local_index`` is taken from each event's own ``offset``, so a gap
  reaches the continuity trigger ("... must append continuously") rather than a CHECK failure.
- ``insert_events(conn, events)``: that insert on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw

from mirror.db import encode_json
from mirror.processor import Event
from mirror.processors.base import MirrorProcessor
from mirror.schema import RAW_EVENTS_SLUG

_INSERT_SQL = (
    "INSERT INTO events (local_index, raw_jsonb) "
    "SELECT (value ->> '$.offset') - 1, value FROM jsonb_each(?)"
)


def insert_events(conn: apsw.Connection, events: Sequence[Event]) -> None:
    """Append ``events`` to ``events`` (inside the caller's transaction)."""
    conn.execute(_INSERT_SQL, (encode_json(list(events)),))


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
