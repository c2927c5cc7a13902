"""Reading a mirror file: the queries the UI and the CLI render from (``mirror.db`` re-exports
these; ``mirror.reader`` too).

Public API:

- ``MirrorReader(path)``: a connection of its own (``PRAGMA query_only``; never creates a file),
  so reads run in parallel with the writer (WAL) and never wait for it. Thread-safe: one lock
  per reader, so the UI thread and a worker (an export) may share it; each call is short.
  Beyond the reads below: ``data_version()`` (changes whenever another connection or process
  commits), ``schema_matches()`` (False while the file holds another schema version; reads then
  return empty results rather than failing), ``query_readonly(sql, max_rows)`` (reads only:
  ``mirror.sql_guard`` refuses the rest) and ``interrupt_query()`` for the SQL console,
  ``connection`` (for ``mirror.mirror_watcher`` and its live queries), ``close()``.
- ``MirrorReads``: the reads shared by ``MirrorReader`` and the writer (``mirror.db.MirrorDb``):
  ``event_count()``, ``max_offset()``, ``type_counts() -> dict[str, int]``,
  ``filtered_count(types)``, ``events_range(start, limit, types=None) -> list[EventRow]``,
  ``event_json(offset) -> str``, ``iter_events_json(types=None, batch=1000)``,
  ``feed_count()``, ``feed_range(start, limit) -> list[FeedRow]``,
  ``feed_item_json(local_index) -> str`` (both ``"null"`` when absent), ``incarnation()``,
  ``meta(key) -> str | None`` (a ``mirror_meta`` value),
  ``read_checkpoint(slug, subscription_key) -> StoredState | None``, ``user_version()``.
- ``EventRow``, ``FeedRow``: frozen dataclasses (fields below).

Positions: ``events_range(start, limit, types)`` returns rows ``start .. start+limit-1`` of the
(filtered) sequence ordered by ``local_index`` (``local_index = offset - 1``); without a filter
that is a primary-key range, with one type it walks the ``(type, local_index)`` index, with
several types it sorts their index entries (cost grows with the matching rows). Counts come
from ``max(local_index)`` and ``event_type_counts``: nothing scans the table.

Feed rows store ``{"eventType": ...}`` for groups (the group's events are the ``events`` rows
``first_offset .. last_offset``) and ``{"events": [event]}`` for singletons;
``feed_item_json`` returns the full form for both, ``{"eventType": ..., "events": [...]}`` for a
group, built from those rows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import apsw.ext
import orjson

from mirror.processor import StoredState
from mirror.schema import INCARNATION_KEY, SCHEMA_VERSION
from mirror.sql_guard import install_read_only_guard

READER_BUSY_TIMEOUT_MS = 1000

_EVENT_COLUMNS = "local_index, offset, type, created_at, idempotency_key"
_FEED_COLUMNS = (
    "local_index, component, first_offset, last_offset, event_count, "
    "coalesce(data ->> '$.eventType', data ->> '$.events[0].type'), "
    "data ->> '$.events[0].payload.childPath'"
)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One ``events`` row for list views (no body: ``event_json(offset)`` gives it)."""

    local_index: int
    offset: int
    type: str
    created_at: str
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One ``feed_items`` row; ``event_type`` is the group's (or the singleton event's) type,
    ``child_path`` the ``payload.childPath`` of a ``stream.child-stream-created`` row."""

    local_index: int
    component: str
    first_offset: int
    last_offset: int
    event_count: int
    event_type: str | None
    child_path: str | None


def is_no_such_table(error: apsw.Error) -> bool:
    return isinstance(error, apsw.SQLError) and "no such table" in str(error)


def _type_filter(types: Sequence[str]) -> str:
    return f"type IN ({', '.join('?' * len(types))})"


class MirrorReads:
    """Reads over a mirror connection; subclasses provide ``_rows``."""

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _scalar(self, sql: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        rows = self._rows(sql, params)
        if not rows or rows[0][0] is None:
            return default
        return rows[0][0]

    def user_version(self) -> int:
        return int(self._scalar("PRAGMA user_version", default=0))

    def event_count(self) -> int:
        # Rows are contiguous from offset 1 (the continuity check), so max + 1 is the count.
        return int(self._scalar("SELECT max(local_index) + 1 FROM events", default=0))

    def max_offset(self) -> int:
        return self.event_count()

    def type_counts(self) -> dict[str, int]:
        rows = self._rows("SELECT type, n FROM event_type_counts ORDER BY type")
        return {str(name): int(n) for name, n in rows}

    def filtered_count(self, types: Sequence[str] | None) -> int:
        """How many events have one of ``types`` (all events when ``types`` is None)."""
        if types is None:
            return self.event_count()
        if not types:
            return 0
        return int(
            self._scalar(
                f"SELECT total(n) FROM event_type_counts WHERE {_type_filter(types)}",
                tuple(types),
                default=0,
            )
        )

    def events_range(
        self, start: int, limit: int, types: Sequence[str] | None = None
    ) -> list[EventRow]:
        """Rows ``start .. start+limit-1`` of the (filtered) list ordered by ``local_index``."""
        if types is None:
            sql = (
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE local_index >= ? "
                "ORDER BY local_index LIMIT ?"
            )
            params: tuple[Any, ...] = (start, limit)
        elif len(types) == 1:
            sql = (
                f"SELECT {_EVENT_COLUMNS} FROM events INDEXED BY events_type_local_index "
                "WHERE type = ? ORDER BY local_index LIMIT ? OFFSET ?"
            )
            params = (types[0], limit, start)
        elif not types:
            return []
        else:
            # Pick the window from the covering index, then read only those rows.
            sql = (
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE local_index IN "
                f"(SELECT local_index FROM events WHERE {_type_filter(types)} "
                "ORDER BY local_index LIMIT ? OFFSET ?) ORDER BY local_index"
            )
            params = (*types, limit, start)
        return [EventRow(*row) for row in self._rows(sql, params)]

    def event_json(self, offset: int) -> str:
        """The event at ``offset`` as compact JSON text (``null`` when there is none)."""
        value = self._scalar(
            "SELECT json(raw_jsonb) FROM events WHERE local_index = ?", (offset - 1,)
        )
        return "null" if value is None else str(value)

    def iter_events_json(
        self, types: Sequence[str] | None = None, batch: int = 1000
    ) -> Iterator[str]:
        """Every (filtered) event's JSON text in offset order, read in pages (for export)."""
        after = -1
        while True:
            if types is None:
                rows = self._rows(
                    "SELECT local_index, json(raw_jsonb) FROM events WHERE local_index > ? "
                    "ORDER BY local_index LIMIT ?",
                    (after, batch),
                )
            elif not types:
                return
            else:
                rows = self._rows(
                    "SELECT local_index, json(raw_jsonb) FROM events "
                    f"WHERE {_type_filter(types)} AND local_index > ? "
                    "ORDER BY local_index LIMIT ?",
                    (*types, after, batch),
                )
            for _, text in rows:
                yield str(text)
            if len(rows) < batch:
                return
            after = int(rows[-1][0])

    def feed_count(self) -> int:
        return int(self._scalar("SELECT max(local_index) + 1 FROM feed_items", default=0))

    def feed_range(self, start: int, limit: int) -> list[FeedRow]:
        rows = self._rows(
            f"SELECT {_FEED_COLUMNS} FROM feed_items WHERE local_index >= ? "
            "ORDER BY local_index LIMIT ?",
            (start, limit),
        )
        return [FeedRow(*row) for row in rows]

    def feed_item_json(self, local_index: int) -> str:
        """The row's data in full (a group's events read from ``events``); ``null`` if none."""
        value = self._scalar(
            "SELECT CASE WHEN data ->> '$.events' IS NOT NULL THEN json(data) ELSE "
            "json_object('eventType', data ->> '$.eventType', 'events', "
            # json() keeps the array an array: a subquery's result loses its JSON subtype.
            "json((SELECT json_group_array(json(e.raw_jsonb)) FROM events AS e "
            "WHERE e.local_index BETWEEN f.first_offset - 1 AND f.last_offset - 1))) END "
            "FROM feed_items AS f WHERE f.local_index = ?",
            (local_index,),
        )
        return "null" if value is None else str(value)

    def meta(self, key: str) -> str | None:
        """A ``mirror_meta`` value (a per-mirror setting or record), None when absent."""
        value = self._scalar("SELECT value FROM mirror_meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def incarnation(self) -> str | None:
        """The server incarnation (the stream's ``createdAt``) this mirror holds, if recorded."""
        return self.meta(INCARNATION_KEY)

    def read_checkpoint(self, slug: str, subscription_key: str = "") -> StoredState | None:
        rows = self._rows(
            "SELECT max_offset, reduced_state FROM processor_state "
            "WHERE processor_slug = ? AND subscription_key = ?",
            (slug, subscription_key),
        )
        if not rows:
            return None
        offset, state_text = rows[0]
        if not isinstance(state_text, str):
            raise TypeError(f"processor_state.reduced_state for {slug!r} is not JSON text")
        return StoredState(offset=int(offset), state=orjson.loads(state_text))


class MirrorReader(MirrorReads):
    """A read-only view of a mirror file (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        # No CREATE flag: a reader never brings a mirror file into existence.
        self._conn = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READWRITE)
        self._conn.set_busy_timeout(READER_BUSY_TIMEOUT_MS)
        self._conn.execute("PRAGMA query_only = 1")
        self._console: apsw.Connection | None = None

    @property
    def connection(self) -> apsw.Connection:
        return self._conn

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except apsw.SQLError as error:
                # The writer has not created (or is rebuilding) the schema: nothing to show.
                if is_no_such_table(error):
                    return []
                raise

    def schema_matches(self) -> bool:
        return self.user_version() == SCHEMA_VERSION

    def data_version(self) -> int:
        """Changes whenever another connection (any process) commits to this file."""
        return int(self._scalar("PRAGMA data_version", default=0))

    def query_readonly(self, sql: str, max_rows: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run console SQL on a read-only connection of its own: (column names, first rows).

        Anything but a read is refused before it runs (``mirror.sql_guard.ReadOnlyRefused``,
        whose message names the statement kind); ``interrupt_query()`` stops a long query, which
        then raises ``apsw.InterruptError``.
        """
        if self._console is None:
            self._console = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READONLY)
            self._console.set_busy_timeout(READER_BUSY_TIMEOUT_MS)
            install_read_only_guard(self._console)
        cursor = self._console.execute(sql)
        rows: list[tuple[Any, ...]] = []
        try:
            # The description exists only while the statement is active, so read it first.
            columns = [name for name, _ in cursor.get_description()]
        except apsw.ExecutionCompleteError:
            # No rows at all: ask the prepared statement for its columns without running it.
            described = apsw.ext.query_info(self._console, sql).description or ()
            columns = [name for name, _ in described]
        try:
            for row in cursor:
                rows.append(tuple(row))
                if len(rows) >= max_rows:
                    break
        finally:
            cursor.close(force=True)
        return columns, rows

    def interrupt_query(self) -> None:
        """Interrupt the running console query (callable from any thread)."""
        if self._console is not None:
            self._console.interrupt()

    def close(self) -> None:
        with self._lock:
            if self._console is not None:
                self._console.close()
            self._conn.close()
