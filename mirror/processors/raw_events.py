"""The raw-events processor: every event, whole, into the ``events`` table.

Public API:

- ``RawEventsProcessor(db, subscription_key="")``: slug ``raw-events``, consumes every type, state
  ``{}``. Its rows are one ``INSERT ... SELECT FROM jsonb_each(?)`` for the whole batch: planning
  serializes the batch once (one orjson call) and converts it to JSONB once
  (``mirror.jsonb.JsonbEncoder``), so the write itself parses nothing and makes no Python round
  trip per row.
- ``plan_insert(events, jsonb) -> RawRows``: that insert on its own (events in increasing offset
  order), as ``(sql, params)`` to execute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw

from mirror.db import MirrorDb, encode_json
from mirror.jsonb import JsonbEncoder
from mirror.processors.base import MirrorProcessor
from mirror.schema import RAW_EVENTS_SLUG, REPLAY_CONFLICT
from mirror.types import Event

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

# The statement and its parameters.
RawRows = tuple[str, tuple[object, ...]]


def plan_insert(events: Sequence[Event], jsonb: JsonbEncoder) -> RawRows:
    """The insert of ``events`` (in increasing offset order), ready to execute."""
    first = events[0]["offset"]
    blob = jsonb.encode(encode_json(list(events)))
    if events[-1]["offset"] - first == len(events) - 1:
        return _INSERT_CONTIGUOUS_SQL, (blob, first - 1)
    return _INSERT_BY_OFFSET_SQL, (blob,)


class RawEventsProcessor(MirrorProcessor[dict[str, Any]]):
    slug = RAW_EVENTS_SLUG

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        super().__init__(db, subscription_key)
        self._jsonb = JsonbEncoder()

    def initial_state(self) -> dict[str, Any]:
        return {}

    def parse_state(self, stored: Any) -> dict[str, Any]:
        return dict(stored) if isinstance(stored, dict) else {}

    def plan_rows(
        self, events: Sequence[Event], entry_state: dict[str, Any]
    ) -> tuple[RawRows, dict[str, Any]]:
        return plan_insert(events, self._jsonb), entry_state

    def write_rows(self, conn: apsw.Connection, rows: RawRows) -> None:
        sql, params = rows
        conn.execute(sql, params)
