"""``SearchIndexer``: builds the search index from the ``events`` table, chunk by chunk.

Public API:

- ``SearchIndexer(db)``: over the writer (``MirrorDb``). Blocking; meant for a worker thread of
  the runtime's writer, AFTER the mirror has committed its rows, never inside the catch-up
  write transaction (``MirrorDb.transaction()`` is re-entrant, so a call made inside another
  transaction would join it and make it longer).
  - ``index_next(max_events=DEFAULT_CHUNK) -> IndexProgress``: index up to ``max_events``
    events past the checkpoint (their FTS rows and their per-block character counts) in ONE
    transaction that also moves the checkpoint, so a crash loses at most the open chunk and
    re-running never indexes an event twice. When the setting
    is off it drops the index instead and indexes nothing.
  - ``build(max_events=DEFAULT_CHUNK) -> IndexProgress``: ``index_next`` until caught up.
  - ``progress() -> IndexProgress``.
- ``IndexProgress(indexed_through, total, enabled)``: the last indexed offset, the mirror's
  event count, and whether indexing is on; ``done`` when nothing is left.
- ``set_search_enabled(db, enabled)``: the per-mirror setting (``mirror_meta``); turning it off
  drops the index and its checkpoint in the same transaction.
- ``search_enabled(reads) -> bool``.

Why not a ``StreamProcessor``: it reads rows the mirror already holds rather than delivered
batches, so it runs behind the writer at its own pace and never lengthens the catch-up commits;
it still keeps its checkpoint in ``processor_state`` under its own slug.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import cast

import apsw

from mirror.db import MirrorDb
from mirror.db_reads import MirrorReads
from mirror.search.store import (
    CHAR_BLOCK,
    CHARS_TABLE,
    CREATE_CHARS_TABLE,
    CREATE_SEARCH_TABLE,
    END_MARK,
    SEARCH_INDEX_SLUG,
    SEARCH_OFF,
    SEARCH_SETTING_KEY,
    SEARCH_TABLE,
    clear_search_index,
    search_text_sql,
)

log = logging.getLogger(__name__)

# Indexing 1M events in chunks of 4,000 held the writer 380-430 ms per chunk on average
# (bench/search.py, two runs); half that keeps catch-up commits from waiting long behind one.
DEFAULT_CHUNK = 2000

_SELECT_TEXTS = (
    f"SELECT local_index, {search_text_sql()} FROM events "
    "WHERE local_index >= ? AND local_index < ? ORDER BY local_index"
)
_INSERT_TEXT = f"INSERT INTO {SEARCH_TABLE} (rowid, text) VALUES (?, ?)"
_ADD_CHARS = (
    f"INSERT INTO {CHARS_TABLE} (ch, block, n) VALUES (?, ?, ?) "
    "ON CONFLICT (ch, block) DO UPDATE SET n = n + excluded.n"
)


@dataclass(frozen=True, slots=True)
class IndexProgress:
    indexed_through: int
    total: int
    enabled: bool

    @property
    def done(self) -> bool:
        return not self.enabled or self.indexed_through >= self.total


def search_enabled(reads: MirrorReads) -> bool:
    return reads.meta(SEARCH_SETTING_KEY) != SEARCH_OFF


def set_search_enabled(db: MirrorDb, enabled: bool) -> None:
    """Record the setting; off also drops the index (the indexer rebuilds it once back on)."""
    with db.transaction() as conn:
        if enabled:
            conn.execute("DELETE FROM mirror_meta WHERE key = ?", (SEARCH_SETTING_KEY,))
        else:
            conn.execute(
                "INSERT INTO mirror_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (SEARCH_SETTING_KEY, SEARCH_OFF),
            )
            clear_search_index(conn)


class SearchIndexer:
    def __init__(self, db: MirrorDb) -> None:
        self.db = db

    def progress(self) -> IndexProgress:
        stored = self.db.read_checkpoint(SEARCH_INDEX_SLUG)
        return IndexProgress(
            0 if stored is None else stored.offset, self.db.event_count(), search_enabled(self.db)
        )

    def index_next(self, max_events: int = DEFAULT_CHUNK) -> IndexProgress:
        """Index the next chunk (one transaction: rows and checkpoint together)."""
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        with self.db.transaction() as conn:
            total = self.db.event_count()
            if not search_enabled(self.db):
                if self._tables(conn):
                    clear_search_index(conn)
                return IndexProgress(0, total, enabled=False)
            stored = self.db.read_checkpoint(SEARCH_INDEX_SLUG)
            start = self._prepare(conn, None if stored is None else stored.offset, total)
            end = min(total, start + max_events)
            if end > start:
                _index_range(conn, start, end)
            if stored is None or end != stored.offset:
                self.db.write_checkpoint(SEARCH_INDEX_SLUG, "", {}, end)
        return IndexProgress(end, total, enabled=True)

    def build(self, max_events: int = DEFAULT_CHUNK) -> IndexProgress:
        """Index everything the mirror holds now, one chunk per transaction."""
        progress = self.index_next(max_events)
        while not progress.done:
            progress = self.index_next(max_events)
        return progress

    @staticmethod
    def _tables(conn: apsw.Connection) -> int:
        """How many of the index's two tables exist."""
        rows = conn.execute(
            "SELECT count(*) FROM sqlite_schema WHERE name IN (?, ?)", (SEARCH_TABLE, CHARS_TABLE)
        ).fetchall()
        return cast(int, rows[0][0])

    def _prepare(self, conn: apsw.Connection, checkpoint: int | None, total: int) -> int:
        """Where to start: the checkpoint, or 0 over a fresh table when it cannot be trusted."""
        if checkpoint is not None and checkpoint <= total and self._tables(conn) == 2:
            return checkpoint
        if checkpoint is not None:
            log.warning(
                "search index of %s stands at %s but the mirror holds %s events: rebuilding",
                self.db.path,
                checkpoint,
                total,
            )
        # No checkpoint (new, discarded, or a schema reset), or an index built before the
        # character table existed: whatever the tables hold is stale.
        clear_search_index(conn)
        conn.execute(CREATE_SEARCH_TABLE)
        conn.execute(CREATE_CHARS_TABLE)
        return 0


def _index_range(conn: apsw.Connection, start: int, end: int) -> None:
    """Index the events at ``local_index`` in ``[start, end)``: their FTS rows and, per block,
    how many of them hold each character."""
    rows = conn.execute(_SELECT_TEXTS, (start, end)).fetchall()
    conn.executemany(_INSERT_TEXT, rows)
    chars: Counter[tuple[str, int]] = Counter()
    for index, text in rows:
        block = cast(int, index) // CHAR_BLOCK
        held = set(cast(str, text))
        held.discard(END_MARK)
        chars.update((ch, block) for ch in held)
    conn.executemany(_ADD_CHARS, [(ch, block, n) for (ch, block), n in chars.items()])
