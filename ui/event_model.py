"""Raw events of one mirror as a table model: offset, type, created at, payload preview.

`rowCount` comes from counts (the mirror's total, or the filtered count while a type or field
filter is set); rows arrive in pages by position through `WindowedRows`, each page read with
its one-line previews in one windowed query (`mirror.event_lookup`), so a million-event mirror
costs a few hundred rows of memory. Expansion is keyed by offset, survives scrolling and
refetches, and reads big events bounded (`mirror.event_bounded`).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from mirror.event_bounded import read_bounded_event
from mirror.event_lookup import ListedEvent, listed_count, listed_window
from mirror.runtime import EventRow
from mirror.search.queries import SearchQuery
from ui.bounded_json import bounded_pretty
from ui.json_paint import monospace_font
from ui.json_text import PrettyJson
from ui.mirror_lookups import MirrorLookups
from ui.offload import run_blocking
from ui.ports import ReaderLike, RuntimeLike
from ui.time_display import time_display
from ui.time_text import shown_time, time_tooltip
from ui.windowed_model import ROW_ROLE, AnyIndex, WindowedListModel

# Characters of preview fetched per row: more than a wide column shows; the delegate elides.
PREVIEW_CHARS = 400
TIME_COLUMN = 2
PREVIEW_COLUMN = 3

log = logging.getLogger(__name__)


def _count_events(
    reader: ReaderLike, types: list[str] | None
) -> tuple[int, dict[str, int], int | None]:
    filtered = reader.filtered_count(types) if types else None
    return reader.event_count(), reader.type_counts(), filtered


def _load_pretty(lookups: MirrorLookups, offset: int) -> PrettyJson:
    return bounded_pretty(lookups.read(lambda conn: read_bounded_event(conn, offset)))


class RawEventsModel(WindowedListModel[EventRow]):
    COLUMNS = ("Offset", "Type", "Created at", "Preview")
    COLUMN_COUNT = len(COLUMNS)

    countsChanged = Signal()

    def __init__(self, runtime: RuntimeLike, parent: QObject | None = None) -> None:
        lookups = MirrorLookups(runtime.mirror_file)
        super().__init__(
            runtime,
            lambda offset: _load_pretty(lookups, offset),
            what="counting raw events",
            parent=parent,
        )
        self.lookups = lookups
        self.destroyed.connect(lambda *_: lookups.close())
        self._types: list[str] | None = None
        self._where: str | None = None
        self._query = SearchQuery()
        # The field-filtered count so far: (local_index it covers up to, count).
        self._where_counted = (0, 0)
        self.total = 0
        self.filtered: int | None = None
        self.type_counts: dict[str, int] = {}
        # Where each expanded event was last seen, so its arriving JSON finds its row.
        self._row_of_offset: dict[int, int] = {}
        self._font = monospace_font()
        time_display().changed.connect(self._times_changed)
        self.refresh()

    # --- counts ----------------------------------------------------------------------------

    @property
    def types(self) -> list[str] | None:
        return self._types

    @property
    def where(self) -> str | None:
        return self._where

    @property
    def list_query(self) -> SearchQuery:
        """What the list shows (types and field filter), for searches within it."""
        return self._query

    def set_types(self, types: list[str] | None) -> None:
        """Show only these event types (None: all); the list restarts at its tail."""
        self.set_filter(types, self._where)

    def set_where(self, where: str | None) -> None:
        """Show only events the field filter keeps (raises FilterError, changing nothing)."""
        self.set_filter(self._types, where)

    def set_filter(self, types: list[str] | None, where: str | None) -> None:
        types = list(types) if types else None
        where = where.strip() if where and where.strip() else None
        if types == self._types and where == self._where:
            return
        query = SearchQuery.build(where=where, types=types)
        self.beginResetModel()
        self._types, self._where, self._query = types, where, query
        self._where_counted = (0, 0)
        self._forget_rows()
        self._count = 0
        self.filtered = None
        self.endResetModel()
        self.refresh()

    async def _count_once(self) -> None:
        types, query = self._types, self._query
        try:
            total, type_counts, filtered = await run_blocking(
                _count_events, self._runtime.reader, types
            )
            if query.where is not None:
                filtered = await run_blocking(self._count_where, query, total, long=True)
        except Exception as error:  # an empty or cleared mirror has no tables yet
            log.debug("counting events failed: %s", error)
            total, type_counts, filtered = 0, {}, (0 if types or query.where else None)
        if query is self._query:
            self.total, self.type_counts, self.filtered = total, type_counts, filtered
            self._apply_count(filtered if filtered is not None else total)
            self.countsChanged.emit()

    def _count_where(self, query: SearchQuery, total: int) -> int:
        """Field-filtered count: a scan, but only of the events not counted before."""
        after, counted = self._where_counted
        if total < after:
            after, counted = 0, 0
        counted += self.lookups.read(lambda conn: listed_count(conn, query, after, total))
        if query is self._query:
            self._where_counted = (total, counted)
        return counted

    def _cleared(self) -> None:
        self._where_counted = (0, 0)
        super()._cleared()

    # --- rows ------------------------------------------------------------------------------

    def _forget_rows(self) -> None:
        super()._forget_rows()
        self._row_of_offset.clear()

    def _load_page(self, start: int, limit: int) -> list[ListedEvent]:
        query = self._query
        return self.lookups.read(
            lambda conn: listed_window(conn, query, start, limit, PREVIEW_CHARS)
        )

    def _times_changed(self) -> None:
        if self._count:
            self.dataChanged.emit(
                self.index(0, TIME_COLUMN), self.index(self._count - 1, TIME_COLUMN)
            )

    def _loaded(self, rows: range) -> None:
        for row in rows:
            event = self._rows.cached(row)
            if event is not None and self.expanded.is_expanded(event.offset):
                self._row_of_offset[event.offset] = row
        super()._loaded(rows)

    def event_at(self, row: int) -> EventRow | None:
        """The row if loaded (asks for its page otherwise)."""
        return self.row_at(row)

    # --- expansion, keyed by offset --------------------------------------------------------

    def _key_for_row(self, row: int) -> int | None:
        event = self._rows.cached(row)
        return None if event is None else event.offset

    def _row_for_key(self, key: int) -> int | None:
        row = self._row_of_offset.get(key)
        if row is None or row >= self._count or self._key_for_row(row) != key:
            return None
        return row

    def _expanding(self, key: int, row: int) -> None:
        self._row_of_offset[key] = row

    # --- Qt model --------------------------------------------------------------------------

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        event = self.event_at(index.row())
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if event is None:
                return "…" if column == 0 else ""
            if column == TIME_COLUMN:
                return shown_time(event.created_at, time_display().utc)
            if column == PREVIEW_COLUMN:
                return event.preview if isinstance(event, ListedEvent) else ""
            return (str(event.offset), event.type)[column]
        if role == ROW_ROLE:
            return event
        if role == Qt.ItemDataRole.FontRole and column != 1:
            return self._font
        if role == Qt.ItemDataRole.ForegroundRole and event is None:
            return QApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        if role == Qt.ItemDataRole.ToolTipRole and event is not None and column == 1:
            return event.type
        if role == Qt.ItemDataRole.ToolTipRole and event is not None and column == TIME_COLUMN:
            return time_tooltip(event.created_at, time_display().utc)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 0:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None
