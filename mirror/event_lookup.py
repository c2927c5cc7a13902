"""Reads for list views over a filtered event list: windows of rows with previews, where an
offset or a time lands in the list, the step to the previous hit, and the feed row of an offset.

Public API (each takes a connection in one read snapshot, e.g. ``SearchReads.read``):

- ``ListedEvent(EventRow)`` with ``preview`` (``mirror.preview``).
- ``listed_window(conn, query, start, limit, width) -> list[ListedEvent]``: rows ``start ..
  start+limit-1`` of the list ``query`` selects (types and field filter; its text is ignored),
  in offset order. Windowed SQL: a page costs its rows (plus an OFFSET walk for filters).
- ``listed_count(conn, query, after=0, through=None) -> int``: how many listed events have
  offsets in ``after+1 .. through`` (so a growing list is counted in increments).
- ``row_of_offset(conn, query, offset) -> int``: the row of the first listed event at or after
  ``offset`` (the list's length when there is none).
- ``first_offset_at(conn, iso) -> int | None``: the first event created at or after ``iso``
  (UTC, the mirror's own ``created_at`` spelling); a binary search over offsets, since the server
  stamps events in offset order.
- ``hit_before(conn, query, before, max_scan) -> tuple[int | None, int]``: the last hit of
  ``query`` (text included) with an offset < ``before``: the unindexed tail scanned backwards
  (at most ``max_scan`` events per call), then the search index; returns ``(hit,
  scanned_down_to)`` so a caller continues from there when ``hit`` is None (1: searched all).
- ``feed_row_of_offset(conn, offset) -> int | None``: the feed row holding that event.
- ``listed_json_page(conn, query, after, limit) -> list[tuple[int, str]]``: ``(offset, JSON)``
  of the next listed events with offsets > ``after`` (export of a filtered list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import apsw

from mirror.db_reads import EventRow
from mirror.preview import prefix_length, preview_line, preview_sql
from mirror.search.queries import SearchQuery, index_sql, indexed_through_in, match_expression

_COLUMNS = "e.local_index, e.offset, e.type, e.created_at, e.idempotency_key, " + preview_sql("e")


@dataclass(frozen=True, slots=True)
class ListedEvent(EventRow):
    preview: str = ""


def _conditions(query: SearchQuery) -> tuple[str, list[object]]:
    sql, params = query.row_conditions()
    return "".join(f" AND {c}" for c in sql), params


def listed_window(
    conn: apsw.Connection, query: SearchQuery, start: int, limit: int, width: int
) -> list[ListedEvent]:
    prefix = prefix_length(width)
    where, params = _conditions(query)
    if not where:
        sql = (
            f"SELECT {_COLUMNS} FROM events AS e WHERE e.local_index >= ? "
            "ORDER BY e.local_index LIMIT ?"
        )
        args: tuple[object, ...] = (prefix, prefix, start, limit)
    else:
        # Pick the window by local_index first, then read the preview of those rows only.
        sql = (
            f"SELECT {_COLUMNS} FROM events AS e WHERE e.local_index IN "
            f"(SELECT e.local_index FROM events AS e WHERE 1{where} "
            "ORDER BY e.local_index LIMIT ? OFFSET ?) ORDER BY e.local_index"
        )
        args = (prefix, prefix, *params, limit, start)
    rows: list[ListedEvent] = []
    for index, offset, kind, created, key, payload, metadata in conn.execute(sql, args):
        rows.append(
            ListedEvent(
                int(cast(int, index)),
                int(cast(int, offset)),
                str(kind),
                str(created),
                None if key is None else str(key),
                preview_line(cast(str | None, payload), cast(str | None, metadata), width),
            )
        )
    return rows


def _count(conn: apsw.Connection, sql: str, params: tuple[object, ...]) -> int:
    row = conn.execute(sql, params).fetchone()
    return 0 if row is None or row[0] is None else int(cast(int, row[0]))


def listed_count(
    conn: apsw.Connection, query: SearchQuery, after: int = 0, through: int | None = None
) -> int:
    where, params = _conditions(query)
    end = (
        _count(conn, "SELECT max(local_index) + 1 FROM events", ()) if through is None else through
    )
    return _count(
        conn,
        f"SELECT count(*) FROM events AS e WHERE e.local_index >= ? AND e.local_index < ?{where}",
        (after, end, *params),
    )


def row_of_offset(conn: apsw.Connection, query: SearchQuery, offset: int) -> int:
    where, params = _conditions(query)
    if not where:
        return max(0, offset - 1)
    return _count(
        conn,
        f"SELECT count(*) FROM events AS e WHERE e.local_index < ?{where}",
        (offset - 1, *params),
    )


def first_offset_at(conn: apsw.Connection, iso: str) -> int | None:
    last = _count(conn, "SELECT max(local_index) FROM events", ())
    if not conn.execute("SELECT 1 FROM events LIMIT 1").fetchall():
        return None
    low, high = 0, last + 1
    while low < high:
        middle = (low + high) // 2
        created = conn.execute(
            "SELECT created_at FROM events WHERE local_index >= ? ORDER BY local_index LIMIT 1",
            (middle,),
        ).fetchone()
        if created is None or str(created[0]) >= iso:
            high = middle
        else:
            low = middle + 1
    return None if low > last else low + 1


def hit_before(
    conn: apsw.Connection, query: SearchQuery, before: int, max_scan: int
) -> tuple[int | None, int]:
    total = _count(conn, "SELECT max(local_index) + 1 FROM events", ())
    indexed = min(indexed_through_in(conn), total) if query.indexable else 0
    end = min(before - 1, total)
    # The unindexed tail first, scanned backwards, at most max_scan events per call.
    low = max(indexed, end - max_scan, 0)
    if low < end:
        conditions, params = query.scan_conditions()
        where = "".join(f" AND {c}" for c in conditions)
        row = conn.execute(
            "SELECT e.local_index FROM events AS e WHERE e.local_index >= ? "
            f"AND e.local_index < ?{where} ORDER BY e.local_index DESC LIMIT 1",
            (low, end, *params),
        ).fetchone()
        if row is not None:
            return int(cast(int, row[0])) + 1, low + 1
        if low > indexed:
            return None, low + 1
    if indexed <= 0:
        return None, 1
    sql, params = index_sql(query, "f.rowid")
    row = conn.execute(
        f"{sql} ORDER BY f.rowid DESC LIMIT 1",
        (match_expression(conn, query), 0, min(end, indexed), *params),
    ).fetchone()
    return (None if row is None else int(cast(int, row[0])) + 1), 1


def feed_row_of_offset(conn: apsw.Connection, offset: int) -> int | None:
    """Feed rows cover contiguous offsets in ``local_index`` order: a binary search."""
    count = _count(conn, "SELECT max(local_index) + 1 FROM feed_items", ())
    low, high = 0, count
    while low < high:
        middle = (low + high) // 2
        first = _count(conn, "SELECT first_offset FROM feed_items WHERE local_index = ?", (middle,))
        if first > offset:
            high = middle
        else:
            low = middle + 1
    if low == 0:
        return None
    row = conn.execute(
        "SELECT last_offset FROM feed_items WHERE local_index = ?", (low - 1,)
    ).fetchone()
    return low - 1 if row is not None and int(cast(int, row[0])) >= offset else None


def listed_json_page(
    conn: apsw.Connection, query: SearchQuery, after: int, limit: int
) -> list[tuple[int, str]]:
    where, params = _conditions(query)
    rows = conn.execute(
        f"SELECT e.local_index + 1, json(e.raw_jsonb) FROM events AS e "
        f"WHERE e.local_index >= ?{where} ORDER BY e.local_index LIMIT ?",
        (after, *params, limit),
    ).fetchall()
    return [(int(cast(int, offset)), str(text)) for offset, text in rows]
