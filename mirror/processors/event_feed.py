"""The event-feed processor: groups events into ``feed_items`` rows via the pure planner.

Public API:

- ``EventFeedProcessor(db, subscription_key="")``: slug ``event-feed``, consumes every type, state
  ``mirror.feed_planner.FeedState`` (persisted with ``to_json``). Its plan (``plan_rows``) runs
  the pure ``plan_feed(entry_state, events)`` once per batch and turns its ops into statement
  parameters.
- ``feed_rows(ops, jsonb) -> FeedRows`` and ``write_feed_rows(conn, rows)``: planned ops as
  parameters (insert = upsert on ``local_index``, update = ``last_offset``, ``event_count``,
  ``data``), then executed inside the caller's transaction; inserts go in multi-row statements,
  ``data`` is bound as JSONB.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apsw

from mirror.db import MirrorDb, encode_json
from mirror.feed_planner import FeedOp, FeedState, plan_feed
from mirror.jsonb import JsonbEncoder
from mirror.processors.base import MirrorProcessor
from mirror.schema import EVENT_FEED_SLUG
from mirror.types import Event

_COLUMNS = "(local_index, component, first_offset, last_offset, event_count, data)"
_UPSERT_TAIL = (
    " ON CONFLICT (local_index) DO UPDATE SET "
    "component = excluded.component, first_offset = excluded.first_offset, "
    "last_offset = excluded.last_offset, event_count = excluded.event_count, data = excluded.data"
)
_UPDATE_SQL = (
    "UPDATE feed_items SET last_offset = ?, event_count = ?, data = ? WHERE local_index = ?"
)
# Inserts go in multi-row statements: one step per statement instead of per row (about half the
# cost of a row under executemany). Each statement is also a GIL hand-off for the writer thread,
# which waits behind the planning and network threads during catch-up: 500 rows keep a page of
# 5,000 events to about ten of them.
_ROWS_PER_INSERT = 500
_PARAMS_PER_ROW = 6


@functools.lru_cache(maxsize=8)
def _upsert_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO feed_items {_COLUMNS} VALUES {values}{_UPSERT_TAIL}"


# ``data`` is bound as JSONB (``mirror.jsonb``), so the write parses nothing. Group rows' data
# depends on the event type only: converted once per type and kept (most rows are new groups on
# streams whose types interleave). Singleton rows are rare and converted as they come.
_group_data_cache: dict[str, bytes] = {}
_GROUP_DATA_CACHE_LIMIT = 4096


def _data_jsonb(jsonb: JsonbEncoder, op: FeedOp) -> bytes:
    if op.event is not None:
        return jsonb.encode(encode_json(op.data))
    event_type = op.event_type
    cached = _group_data_cache.get(event_type)
    if cached is None:
        if len(_group_data_cache) >= _GROUP_DATA_CACHE_LIMIT:
            _group_data_cache.clear()
        cached = _group_data_cache[event_type] = jsonb.encode(encode_json(op.data))
    return cached


@dataclass(frozen=True, slots=True)
class FeedRows:
    """Planned feed ops as statement parameters: the update of an older row (if any), then
    the inserts in chunks of ``_ROWS_PER_INSERT`` rows (flat parameter lists)."""

    update: tuple[object, ...] | None
    insert_chunks: list[list[object]]


def feed_rows(ops: Sequence[FeedOp], jsonb: JsonbEncoder) -> FeedRows:
    """The parameters of ``ops`` (at most one per row; only the first can be an update)."""
    update = None
    flat: list[object] = []
    for op in ops:
        if op.kind == "insert":
            flat.extend(
                (
                    op.local_index,
                    op.component,
                    op.first_offset,
                    op.last_offset,
                    op.event_count,
                    _data_jsonb(jsonb, op),
                )
            )
        else:
            update = (op.last_offset, op.event_count, _data_jsonb(jsonb, op), op.local_index)
    step = _ROWS_PER_INSERT * _PARAMS_PER_ROW
    return FeedRows(update, [flat[start : start + step] for start in range(0, len(flat), step)])


def write_feed_rows(conn: apsw.Connection, rows: FeedRows) -> None:
    """Execute planned feed rows inside the caller's transaction."""
    if rows.update is not None:
        conn.execute(_UPDATE_SQL, rows.update)
    for chunk in rows.insert_chunks:
        conn.execute(_upsert_sql(len(chunk) // _PARAMS_PER_ROW), chunk)


class EventFeedProcessor(MirrorProcessor[FeedState]):
    slug = EVENT_FEED_SLUG

    def __init__(self, db: MirrorDb, subscription_key: str = "") -> None:
        super().__init__(db, subscription_key)
        self._jsonb = JsonbEncoder()

    def initial_state(self) -> FeedState:
        return FeedState()

    def parse_state(self, stored: Any) -> FeedState:
        return FeedState.from_json(stored)

    def dump_state(self, state: FeedState) -> Any:
        return state.to_json()

    def plan_rows(
        self, events: Sequence[Event], entry_state: FeedState
    ) -> tuple[FeedRows, FeedState]:
        plan = plan_feed(entry_state, events)
        return feed_rows(plan.ops, self._jsonb), plan.end_state

    def write_rows(self, conn: apsw.Connection, rows: FeedRows) -> None:
        write_feed_rows(conn, rows)
