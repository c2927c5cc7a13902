"""Search queries over a mirror file: substring hits, "hit k of n", combined with filters.

Public API:

- ``SearchQuery.build(text="", where=None, types=None)``: what to find. ``text`` is a substring
  of the searched text (``mirror.search.store``: type, payload and metadata as compact JSON,
  ASCII-case-insensitive); ``where`` a field filter (``mirror.search.filter_lang``; a bad one
  raises ``FilterError`` here, with its column); ``types`` keeps only those event types. All
  given parts must hold. ``indexable`` when the text has 3 or more characters (the trigram
  index cannot answer shorter ones).
- ``SearchReads(conn)`` over a connection of its own (``SearchReads.open(path)``: read-only,
  ``query_only``, never creates a file). Thread-safe (one lock); each call reads one snapshot.
  - ``hits(query, after_offset=0, limit=50, max_scan=DEFAULT_MAX_SCAN) -> HitPage``: the first
    ``limit`` hits past ``after_offset``, in offset order. Indexed offsets are answered by the
    index; the rest (the unindexed tail, or everything for a short or empty text) by a scan of
    at most ``max_scan`` events per call, so a call stays bounded: a page may then hold fewer
    than ``limit`` hits without being the end; continue from ``next_after`` until ``exhausted``.
  - ``count(query, through=None) -> HitCount``: how many hits (at offsets <= ``through``). Exact:
    the index part costs a count over the index, the rest a full scan of the unindexed tail (or
    of every event for a short text or a filter without text); no text, no filter: the per-type
    counts, no scan.
  - ``position(query, offset) -> int | None``: k in "hit k of n" (1-based), None when the event
    at ``offset`` is not a hit.
  - ``indexed_through() -> int``: the last offset the index covers (0 when off or absent).
- Inside a snapshot (``mirror.event_lookup``): ``indexed_through_in(conn)``, and
  ``index_sql(query, select)`` (hits from the index over rowids in ``[?, ?)``, after the match
  expression; the query's row conditions' parameters follow).
  - ``read(body)``: ``body(conn)`` in one snapshot (``mirror.preview_rows`` for a page of hits);
    ``events_json(offsets) -> list[str]``.
  - ``interrupt()`` (from another thread: the running call raises ``apsw.InterruptError``),
    ``close()``.
- ``HitPage(offsets, next_after, exhausted, indexed_through, total)``,
  ``HitCount(n, indexed_through, total)``: ``indexed_through`` and ``total`` say how much the
  index covered ("searching 640k of 1M" while it is being built).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

import apsw
import orjson

from mirror.search.filter_lang import parse_filter
from mirror.search.filter_sql import CompiledFilter, compile_filter
from mirror.search.store import (
    SEARCH_INDEX_SLUG,
    SEARCH_OFF,
    SEARCH_SETTING_KEY,
    SEARCH_TABLE,
    ascii_lower,
    search_text_sql,
)

DEFAULT_MAX_SCAN = 200_000
MIN_INDEXED_TEXT = 3
READ_BUSY_TIMEOUT_MS = 1000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str = ""
    types: tuple[str, ...] | None = None
    where: CompiledFilter | None = field(default=None)

    @classmethod
    def build(
        cls, text: str = "", where: str | None = None, types: Sequence[str] | None = None
    ) -> SearchQuery:
        compiled = compile_filter(parse_filter(where)) if where and where.strip() else None
        return cls(ascii_lower(text), None if types is None else tuple(types), compiled)

    @property
    def indexable(self) -> bool:
        return len(self.text) >= MIN_INDEXED_TEXT

    @property
    def match_expression(self) -> str:
        """The text as one FTS5 phrase: a trigram phrase is an exact substring match."""
        return '"' + self.text.replace('"', '""') + '"'

    def row_conditions(self) -> tuple[list[str], list[object]]:
        """Type and field conditions on the ``events`` row ``e`` (not the text)."""
        sql: list[str] = []
        params: list[object] = []
        if self.types is not None:
            sql.append("0" if not self.types else f"e.type IN ({', '.join('?' * len(self.types))})")
            params.extend(self.types)
        if self.where is not None:
            sql.append(self.where.sql)
            params.extend(self.where.params)
        return sql, params

    def scan_conditions(self) -> tuple[list[str], list[object]]:
        """Every condition, the text included as a scan of its searched text."""
        sql, params = self.row_conditions()
        if self.text:
            sql.insert(0, f"instr({search_text_sql('e')}, ?) > 0")
            params.insert(0, self.text)
        return sql, params


@dataclass(frozen=True, slots=True)
class HitPage:
    offsets: list[int]
    next_after: int
    exhausted: bool
    indexed_through: int
    total: int


@dataclass(frozen=True, slots=True)
class HitCount:
    n: int
    indexed_through: int
    total: int


def _where(conditions: list[str]) -> str:
    return "".join(f" AND {c}" for c in conditions)


class SearchReads:
    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str) -> SearchReads:
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READWRITE)
        conn.set_busy_timeout(READ_BUSY_TIMEOUT_MS)
        conn.execute("PRAGMA query_only = 1")
        return cls(conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def interrupt(self) -> None:
        self._conn.interrupt()

    @contextmanager
    def _snapshot(self) -> Iterator[apsw.Connection]:
        """One read transaction, so the checkpoint and the index rows agree."""
        with self._lock:
            conn = self._conn
            if conn.in_transaction:
                # The caller's transaction already is one snapshot.
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def read(self, body: Callable[[apsw.Connection], T]) -> T:
        """Run ``body(conn)`` in one read snapshot (e.g. ``mirror.preview_rows`` for hits)."""
        with self._snapshot() as conn:
            return body(conn)

    def events_json(self, offsets: Sequence[int]) -> list[str]:
        """The events at ``offsets`` as compact JSON text, in offset order."""
        rows = self.read(
            lambda conn: conn.execute(
                "SELECT json(raw_jsonb) FROM events WHERE local_index IN "
                "(SELECT value - 1 FROM json_each(?)) ORDER BY local_index",
                (orjson.dumps(list(offsets)).decode(),),
            ).fetchall()
        )
        return [str(text) for (text,) in rows]

    # -- reads --------------------------------------------------------------------------------

    def indexed_through(self) -> int:
        return self.read(indexed_through_in)

    def hits(
        self,
        query: SearchQuery,
        after_offset: int = 0,
        limit: int = 50,
        max_scan: int = DEFAULT_MAX_SCAN,
    ) -> HitPage:
        if limit < 1 or max_scan < 1:
            raise ValueError("limit and max_scan must be at least 1")
        return self.read(lambda conn: _hits(conn, query, after_offset, limit, max_scan))

    def count(self, query: SearchQuery, through: int | None = None) -> HitCount:
        return self.read(lambda conn: _count(conn, query, through))

    def position(self, query: SearchQuery, offset: int) -> int | None:
        def body(conn: apsw.Connection) -> int | None:
            conditions, params = query.scan_conditions()
            sql = f"SELECT 1 FROM events AS e WHERE e.local_index = ?{_where(conditions)}"
            if not conn.execute(sql, (offset - 1, *params)).fetchall():
                return None
            return _count(conn, query, offset).n

        return self.read(body)


def _number(conn: apsw.Connection, sql: str, params: Sequence[object] = ()) -> int:
    """The first column of the first row as an int (0 for no row or NULL)."""
    row = conn.execute(sql, tuple(params)).fetchone()
    return 0 if row is None or row[0] is None else int(cast(int, row[0]))


def _event_count(conn: apsw.Connection) -> int:
    return _number(conn, "SELECT max(local_index) + 1 FROM events")


def indexed_through_in(conn: apsw.Connection) -> int:
    """The index's checkpoint, when the index is on and its table exists; else 0."""
    setting = conn.execute(
        "SELECT value FROM mirror_meta WHERE key = ?", (SEARCH_SETTING_KEY,)
    ).fetchall()
    if setting and setting[0][0] == SEARCH_OFF:
        return 0
    if not conn.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (SEARCH_TABLE,)).fetchall():
        return 0
    return _number(
        conn,
        "SELECT max_offset FROM processor_state WHERE processor_slug = ? AND subscription_key = ''",
        (SEARCH_INDEX_SLUG,),
    )


def index_sql(query: SearchQuery, select: str) -> tuple[str, list[object]]:
    """Hits from the index over local_index in [?, ?), the event row joined only when needed."""
    conditions, params = query.row_conditions()
    # CROSS JOIN keeps the index as the outer loop, so hits come in rowid order.
    join = " CROSS JOIN events AS e ON e.local_index = f.rowid" if conditions else ""
    sql = (
        f"SELECT {select} FROM {SEARCH_TABLE} AS f{join} "
        f"WHERE f.{SEARCH_TABLE} MATCH ? AND f.rowid >= ? AND f.rowid < ?{_where(conditions)}"
    )
    return sql, params


def _scan_sql(query: SearchQuery, select: str) -> tuple[str, list[object]]:
    """Hits by reading events over local_index in [?, ?)."""
    conditions, params = query.scan_conditions()
    sql = (
        f"SELECT {select} FROM events AS e "
        f"WHERE e.local_index >= ? AND e.local_index < ?{_where(conditions)}"
    )
    return sql, params


def _hits(
    conn: apsw.Connection, query: SearchQuery, after: int, limit: int, max_scan: int
) -> HitPage:
    total = _event_count(conn)
    indexed = min(indexed_through_in(conn), total) if query.indexable else 0
    offsets: list[int] = []
    start = max(after, 0)
    if start < indexed:
        sql, params = index_sql(query, "f.rowid")
        rows = conn.execute(
            f"{sql} ORDER BY f.rowid LIMIT ?",
            (query.match_expression, start, indexed, *params, limit),
        ).fetchall()
        offsets = [int(cast(int, rowid)) + 1 for (rowid,) in rows]
        if len(offsets) == limit:
            return HitPage(offsets, offsets[-1], False, indexed, total)
        start = indexed
    end = min(total, start + max_scan)
    if start < end:
        sql, params = _scan_sql(query, "e.local_index")
        rows = conn.execute(
            f"{sql} ORDER BY e.local_index LIMIT ?", (start, end, *params, limit - len(offsets))
        ).fetchall()
        offsets.extend(int(cast(int, index)) + 1 for (index,) in rows)
        if len(offsets) == limit:
            return HitPage(offsets, offsets[-1], offsets[-1] >= total, indexed, total)
    return HitPage(offsets, max(end, start), end >= total, indexed, total)


def _count(conn: apsw.Connection, query: SearchQuery, through: int | None) -> HitCount:
    total = _event_count(conn)
    end = total if through is None else max(0, min(through, total))
    indexed = min(indexed_through_in(conn), end) if query.indexable else 0
    n = 0
    if not query.text and query.where is None and through is None:
        n = _type_count(conn, query.types, total)
        return HitCount(n, indexed, total)
    if indexed > 0:
        sql, params = index_sql(query, "count(*)")
        n += _number(conn, sql, (query.match_expression, 0, indexed, *params))
    if indexed < end:
        sql, params = _scan_sql(query, "count(*)")
        n += _number(conn, sql, (indexed, end, *params))
    return HitCount(n, indexed, total)


def _type_count(conn: apsw.Connection, types: tuple[str, ...] | None, total: int) -> int:
    if types is None:
        return total
    if not types:
        return 0
    return _number(
        conn,
        f"SELECT CAST(total(n) AS INTEGER) FROM event_type_counts "
        f"WHERE type IN ({', '.join('?' * len(types))})",
        types,
    )
