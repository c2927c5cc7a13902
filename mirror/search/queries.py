"""Search queries over a mirror file: substring hits, "hit k of n", combined with filters.

Public API:

- ``SearchQuery.build(text="", where=None, types=None)``: what to find. ``text`` is a substring
  of the searched text (``mirror.search.store``: type, payload and metadata as compact JSON,
  ASCII-case-insensitive); ``where`` a field filter (``mirror.search.filter_lang``; a bad one
  raises ``FilterError`` here, with its column); ``types`` keeps only those event types. All
  given parts must hold. ``indexable`` when the text has 2 or more characters (the trigram
  index answers them: ``match_expression``); ``counted_by_characters`` for one character with
  no type or filter (its count comes from the index's character counts).
- ``SearchReads(conn, pool=None)`` over a connection of its own (``SearchReads.open(path,
  scan_threads=0)``: read-only, ``query_only``, never creates a file; with ``scan_threads`` a
  ``mirror.search.scan_pool.ScanPool`` of that many more connections). Thread-safe (one
  lock); each call reads one snapshot.
  - ``hits(query, after_offset=0, limit=50, max_scan=DEFAULT_MAX_SCAN) -> HitPage``: the first
    ``limit`` hits past ``after_offset``, in offset order. Indexed offsets are answered by the
    index; the rest (the unindexed tail, or everything for a short or empty text) by a scan of
    at most ``max_scan`` events per call, so a call stays bounded: a page may then hold fewer
    than ``limit`` hits without being the end; continue from ``next_after`` until ``exhausted``.
  - ``count(query, through=None, known=None) -> HitCount``: how many hits (at offsets <=
    ``through``). ``known``: an earlier whole count of the same query; when it was of this
    incarnation, only the events since are counted (a live stream is recounted cheaply). Exact:
    the index part costs a count over the index (for one character: a sum of its per-block
    counts), the rest a full scan of the unindexed tail (or of every event for a filter without
    text, or one character with a type or filter); no text, no filter: the per-type counts, no
    scan. From ``PARALLEL_MIN`` events on, with a pool, the range is cut in parts counted at
    once, one on each pool connection and one on this one.
  - ``position(query, offset) -> int | None``: k in "hit k of n" (1-based), None when the event
    at ``offset`` is not a hit.
  - ``indexed_through() -> int``: the last offset the index covers (0 when off or absent).
- Inside a snapshot (``mirror.event_lookup``): ``indexed_through_in(conn)``,
  ``match_expression(conn, query)`` (the FTS5 query of an indexable text) and
  ``index_sql(query, select)`` (hits from the index over rowids in ``[?, ?)``, after the match
  expression; the query's row conditions' parameters follow).
  - ``read(body)``: ``body(conn)`` in one snapshot (``mirror.preview_rows`` for a page of hits);
    ``events_json(offsets) -> list[str]``.
  - ``interrupt()`` (from another thread: the running call raises ``apsw.InterruptError``),
    ``close()``.
- ``HitPage(offsets, next_after, exhausted, indexed_through, total)``,
  ``HitCount(n, indexed_through, total, incarnation)``: ``indexed_through`` and ``total`` say
  how much the index covered ("searching 640k of 1M" while it is being built).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar, cast

import apsw
import orjson

from mirror.search.filter_lang import parse_filter
from mirror.search.filter_sql import CompiledFilter, compile_filter
from mirror.search.scan_pool import ScanPool, incarnation_in, open_read_connection
from mirror.search.store import (
    CHAR_BLOCK,
    CHARS_TABLE,
    END_MARK,
    SEARCH_INDEX_SLUG,
    SEARCH_OFF,
    SEARCH_SETTING_KEY,
    SEARCH_TABLE,
    query_text,
    search_text_sql,
)

DEFAULT_MAX_SCAN = 200_000
# A trigram phrase answers three characters or more; two are answered by the trigrams they
# begin, one by the index's character counts (``mirror.search.store``).
MIN_INDEXED_TEXT = 2
MIN_PHRASE = 3
# Below this many events a count is quick on one connection; above it, the pool helps.
PARALLEL_MIN = 100_000

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
        return cls(query_text(text), None if types is None else tuple(types), compiled)

    @property
    def indexable(self) -> bool:
        return len(self.text) >= MIN_INDEXED_TEXT

    @property
    def counted_by_characters(self) -> bool:
        """One character and nothing else: counted from the index's character counts."""
        return len(self.text) == 1 and self.types is None and self.where is None

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
    incarnation: str | None = None


def _where(conditions: list[str]) -> str:
    return "".join(f" AND {c}" for c in conditions)


class SearchReads:
    def __init__(self, conn: apsw.Connection, pool: ScanPool | None = None) -> None:
        self._conn = conn
        self._pool = pool
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str, scan_threads: int = 0) -> SearchReads:
        conn = open_read_connection(path)
        try:
            pool = ScanPool.open(path, scan_threads) if scan_threads > 0 else None
        except BaseException:
            conn.close()
            raise
        return cls(conn, pool)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
            self._conn.close()

    def interrupt(self) -> None:
        self._conn.interrupt()
        if self._pool is not None:
            self._pool.interrupt()

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

    def count(
        self, query: SearchQuery, through: int | None = None, known: HitCount | None = None
    ) -> HitCount:
        return self.read(lambda conn: _count(conn, query, through, self._pool, known))

    def position(self, query: SearchQuery, offset: int) -> int | None:
        def body(conn: apsw.Connection) -> int | None:
            conditions, params = query.scan_conditions()
            sql = f"SELECT 1 FROM events AS e WHERE e.local_index = ?{_where(conditions)}"
            if not conn.execute(sql, (offset - 1, *params)).fetchall():
                return None
            return _count(conn, query, offset, None).n

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
    tables = _number(
        conn, "SELECT count(*) FROM sqlite_schema WHERE name IN (?, ?)", (SEARCH_TABLE, CHARS_TABLE)
    )
    if tables != 2:
        # Absent, or built by a version without the character counts (the indexer rebuilds it).
        return 0
    return _number(
        conn,
        "SELECT max_offset FROM processor_state WHERE processor_slug = ? AND subscription_key = ''",
        (SEARCH_INDEX_SLUG,),
    )


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


# The distinct characters of the index, one seek each (the table is ordered by character).
_DISTINCT_CHARS = (
    "WITH RECURSIVE c(ch) AS ("
    f"SELECT min(ch) FROM {CHARS_TABLE} "
    f"UNION ALL SELECT (SELECT min(ch) FROM {CHARS_TABLE} WHERE ch > c.ch) FROM c "
    "WHERE c.ch IS NOT NULL) SELECT ch FROM c WHERE ch IS NOT NULL"
)


def match_expression(conn: apsw.Connection, query: SearchQuery) -> str:
    """The FTS5 query of an indexable text. Three characters or more: the text as one phrase (a
    trigram phrase is an exact substring match). Two: any trigram they begin, followed by a
    character some indexed event holds, or by ``END_MARK`` (every searched text ends with it,
    so an occurrence at the very end begins a trigram too)."""
    text = query.text
    if len(text) >= MIN_PHRASE:
        return _phrase(text)
    following = [END_MARK, *(str(ch) for (ch,) in conn.execute(_DISTINCT_CHARS))]
    return " OR ".join(_phrase(text + ch) for ch in following)


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
    coverage = min(indexed_through_in(conn), total) if query.text else 0
    indexed = coverage if query.indexable else 0
    offsets: list[int] = []
    start = max(after, 0)
    if start < indexed:
        sql, params = index_sql(query, "f.rowid")
        rows = conn.execute(
            f"{sql} ORDER BY f.rowid LIMIT ?",
            (match_expression(conn, query), start, indexed, *params, limit),
        ).fetchall()
        offsets = [int(cast(int, rowid)) + 1 for (rowid,) in rows]
        if len(offsets) == limit:
            return HitPage(offsets, offsets[-1], False, coverage, total)
        start = indexed
    end = min(total, start + max_scan)
    if start < end:
        sql, params = _scan_sql(query, "e.local_index")
        rows = conn.execute(
            f"{sql} ORDER BY e.local_index LIMIT ?", (start, end, *params, limit - len(offsets))
        ).fetchall()
        offsets.extend(int(cast(int, index)) + 1 for (index,) in rows)
        if len(offsets) == limit:
            return HitPage(offsets, offsets[-1], offsets[-1] >= total, coverage, total)
    return HitPage(offsets, max(end, start), end >= total, coverage, total)


def _count(
    conn: apsw.Connection,
    query: SearchQuery,
    through: int | None,
    pool: ScanPool | None,
    known: HitCount | None = None,
) -> HitCount:
    total = _event_count(conn)
    end = total if through is None else max(0, min(through, total))
    coverage = min(indexed_through_in(conn), end) if query.text else 0
    incarnation = incarnation_in(conn)
    if not query.text and query.where is None and through is None:
        return HitCount(_type_count(conn, query.types, total), coverage, total, incarnation)
    n, start = 0, 0
    if (
        known is not None
        and through is None
        and known.incarnation is not None
        and known.incarnation == incarnation
        and known.total <= total
    ):
        # The events of an incarnation never change: only the ones since are counted.
        n, start = known.n, known.total
    parts = 1 + (pool.size if pool is not None and end - start >= PARALLEL_MIN else 0)
    ranges = _split(start, end, parts)
    theirs = [partial(_pool_part, query, low, high, coverage) for low, high in ranges[1:]]
    futures = pool.submit(theirs, incarnation) if pool is not None and theirs else []
    n += _count_range(conn, query, *ranges[0], coverage)
    for (low, high), future in zip(ranges[1:], futures, strict=True):
        answer = future.result()
        n += _count_range(conn, query, low, high, coverage) if answer is None else answer
    return HitCount(n, coverage, total, incarnation)


def _split(start: int, end: int, parts: int) -> list[tuple[int, int]]:
    """``[start, end)`` in ``parts`` ranges (fewer when short), cut at character-block bounds."""
    step = -(-(end - start) // parts // CHAR_BLOCK) * CHAR_BLOCK or CHAR_BLOCK
    bounds = [*range(start, end, step), end]
    return list(itertools.pairwise(bounds)) or [(start, start)]


def _pool_part(
    query: SearchQuery, start: int, end: int, coverage: int, conn: apsw.Connection
) -> int | None:
    """A range counted on a pool connection: nothing when its index covers less than the
    caller's did (dropped or rebuilt meanwhile)."""
    if query.text and indexed_through_in(conn) < min(end, coverage):
        return None
    return _count_range(conn, query, start, end, coverage)


def _count_range(
    conn: apsw.Connection, query: SearchQuery, start: int, end: int, coverage: int
) -> int:
    """Hits at ``local_index`` in ``[start, end)``: the index below ``coverage``, a scan above."""
    n, position = 0, start
    indexed_end = min(end, coverage)
    if query.indexable and position < indexed_end:
        sql, params = index_sql(query, "count(*)")
        n = _number(conn, sql, (match_expression(conn, query), position, indexed_end, *params))
        position = indexed_end
    elif query.counted_by_characters:
        first, last = -(-position // CHAR_BLOCK), indexed_end // CHAR_BLOCK
        if first < last:
            # Whole blocks from the counts; what lies before the first one is scanned.
            n = _scan_count(conn, query, position, first * CHAR_BLOCK) + _number(
                conn,
                f"SELECT sum(n) FROM {CHARS_TABLE} WHERE ch = ? AND block >= ? AND block < ?",
                (query.text, first, last),
            )
            position = last * CHAR_BLOCK
    return n + _scan_count(conn, query, position, end)


def _scan_count(conn: apsw.Connection, query: SearchQuery, start: int, end: int) -> int:
    if start >= end:
        return 0
    sql, params = _scan_sql(query, "count(*)")
    return _number(conn, sql, (start, end, *params))


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
