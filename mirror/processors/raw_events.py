"""The raw-events processor: every event, whole, into the ``events`` table.

Public API:

- ``RawEventsProcessor(db, subscription_key="")``: slug ``raw-events``, consumes every type, state
  ``{}``. Its rows are one ``INSERT ... SELECT FROM jsonb_each(?)`` for the whole batch: planning
  serializes the batch once (one orjson call) and converts it to JSONB once
  (``mirror.jsonb.JsonbEncoder``), so the write itself parses nothing and makes no Python round
  trip per row.
- ``plan_insert(events, jsonb) -> RawInsert``: that insert on its own (events in increasing
  offset order); ``write_insert(conn, insert)`` executes it inside the caller's transaction. It is
  the only function that adds rows to ``events``, and it keeps the table's append invariant with
  per-batch work (``mirror.schema`` says why): a batch that would leave a gap raises
  ``ContinuityError`` before anything is written, and ``event_type_counts`` grows by the types of
  the rows it added.
- ``ContinuityError``: an ``apsw.ConstraintError`` (what the table's own rules raise) with
  ``schema.CONTINUITY_GAP_MESSAGE``.
- ``check_continuity(head, first, indexes)``: the pure rule, for a table whose last row is
  ``head`` (-1 when empty); raises ``ContinuityError`` on a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apsw

from mirror.db import MirrorDb, encode_json
from mirror.jsonb import JsonbEncoder
from mirror.processors.base import MirrorProcessor
from mirror.schema import CONTINUITY_GAP_MESSAGE, RAW_EVENTS_SLUG, REPLAY_CONFLICT
from mirror.types import Event

# A contiguous batch (the normal case) numbers its rows from the first offset, which saves a
# JSON extraction per row; otherwise each row takes its own offset.
_INSERT_CONTIGUOUS_SQL = (
    "INSERT INTO events (local_index, raw_jsonb) "
    f"SELECT ?2 + key, value FROM jsonb_each(?1) WHERE true {REPLAY_CONFLICT}"
)
_INSERT_BY_OFFSET_SQL = (
    "INSERT INTO events (local_index, raw_jsonb) "
    f"SELECT (value ->> '$.offset') - 1, value FROM jsonb_each(?1) WHERE true {REPLAY_CONFLICT}"
)
_HEAD_SQL = "SELECT max(local_index) FROM events"
_COUNT_TAIL = " ON CONFLICT (type) DO UPDATE SET n = n + excluded.n"
# The types of a contiguous batch's rows past the old head, read from the batch itself.
_COUNT_CONTIGUOUS_SQL = (
    "INSERT INTO event_type_counts (type, n) SELECT value ->> '$.type', count(*) "
    f"FROM jsonb_each(?1) WHERE ?2 + key > ?3 GROUP BY 1{_COUNT_TAIL}"
)
# Any other batch: the rows now past the old head (a rowid range; the type index would be
# scanned whole).
_COUNT_ADDED_ROWS_SQL = (
    "INSERT INTO event_type_counts (type, n) SELECT type, count(*) "
    f"FROM events NOT INDEXED WHERE local_index > ?1 GROUP BY 1{_COUNT_TAIL}"
)


class ContinuityError(apsw.ConstraintError):
    """The batch would leave a gap in ``events`` (its first new row is not the next offset)."""


@dataclass(frozen=True, slots=True)
class RawInsert:
    """A planned insert: the batch as one JSONB array, the local index of its first event, and
    for a batch that is not one run of consecutive offsets, the sorted distinct local indexes
    of its events (``None`` for a run)."""

    blob: bytes
    first: int
    indexes: tuple[int, ...] | None


def plan_insert(events: Sequence[Event], jsonb: JsonbEncoder) -> RawInsert:
    """The insert of ``events`` (in increasing offset order), ready for ``write_insert``."""
    first = int(events[0]["offset"]) - 1
    blob = jsonb.encode(encode_json(list(events)))
    if int(events[-1]["offset"]) - 1 - first == len(events) - 1:
        return RawInsert(blob, first, None)
    return RawInsert(blob, first, tuple(sorted({int(e["offset"]) - 1 for e in events})))


def check_continuity(head: int, first: int, indexes: tuple[int, ...] | None) -> None:
    """Raise ``ContinuityError`` unless the batch's rows past ``head`` start at ``head + 1``
    and have no hole (rows up to ``head`` are replays, which the insert's conflict clause
    ignores or refuses)."""
    if indexes is None:
        gap = first > head + 1
    else:
        added = [index for index in indexes if index > head]
        gap = bool(added) and (added[0] != head + 1 or added[-1] - head != len(added))
    if gap:
        raise ContinuityError(CONTINUITY_GAP_MESSAGE)


def write_insert(conn: apsw.Connection, insert: RawInsert) -> None:
    """Execute a planned insert inside the caller's open transaction."""
    found = conn.execute(_HEAD_SQL).fetchall()[0][0]
    head = -1 if found is None else int(found)
    check_continuity(head, insert.first, insert.indexes)  # before anything is written
    if insert.indexes is None:
        conn.execute(_INSERT_CONTIGUOUS_SQL, (insert.blob, insert.first))
        conn.execute(_COUNT_CONTIGUOUS_SQL, (insert.blob, insert.first, head))
    else:
        conn.execute(_INSERT_BY_OFFSET_SQL, (insert.blob,))
        conn.execute(_COUNT_ADDED_ROWS_SQL, (head,))


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
    ) -> tuple[RawInsert, dict[str, Any]]:
        return plan_insert(events, self._jsonb), entry_state

    def write_rows(self, conn: apsw.Connection, rows: RawInsert) -> None:
        write_insert(conn, rows)
