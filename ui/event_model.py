"""Raw events of one mirror as a table model: offset, type, created at.

`rowCount` comes from counts (the mirror's total, or the filtered count while a type filter is
set); rows arrive in pages by position through `WindowedRows`, so a million-event mirror costs a
few hundred rows of memory. Expansion is keyed by offset and survives scrolling and refetches.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from mirror.runtime import EventRow, RuntimeStatus
from ui.json_paint import monospace_font
from ui.json_text import PrettyJson
from ui.offload import run_blocking
from ui.ports import ReaderLike, RuntimeLike
from ui.windowed_rows import CountRefresher, ExpandedRows, WindowedRows

log = logging.getLogger(__name__)

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
AnyIndex = QModelIndex | QPersistentModelIndex


def _count_events(
    reader: ReaderLike, types: list[str] | None
) -> tuple[int, dict[str, int], int | None]:
    filtered = reader.filtered_count(types) if types else None
    return reader.event_count(), reader.type_counts(), filtered


class RawEventsModel(QAbstractTableModel):
    COLUMNS = ("Offset", "Type", "Created at")

    countsChanged = Signal()
    # Rows [first, last] were loaded: views re-apply expansion to rows now known.
    rowsLoaded = Signal(int, int)
    # A row's expansion changed, or its JSON arrived (its height changes).
    expansionChanged = Signal(int)

    def __init__(self, runtime: RuntimeLike, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self._types: list[str] | None = None
        self._count = 0
        self.total = 0
        self.filtered: int | None = None
        self.type_counts: dict[str, int] = {}
        self._rows: WindowedRows[EventRow] = WindowedRows(self._load_page, self._loaded, owner=self)
        self.expanded = ExpandedRows(runtime.reader.event_json, self._json_ready, owner=self)
        self._row_of_offset: dict[int, int] = {}
        self._counts = CountRefresher(
            self._count_once,
            self._cleared,
            clear_version=runtime.status.clear_version,
            owner=self,
            what="counting raw events",
        )
        self._font = monospace_font()
        self.refresh()

    # --- counts ----------------------------------------------------------------------------

    @property
    def types(self) -> list[str] | None:
        return self._types

    def set_types(self, types: list[str] | None) -> None:
        """Show only these event types (None: all); the list restarts at its tail."""
        if types == self._types:
            return
        self.beginResetModel()
        self._types = list(types) if types else None
        self._rows.windows.clear()
        self._row_of_offset.clear()
        self._count = 0
        self.filtered = None
        self.endResetModel()
        self.refresh()

    def stream_changed(self, status: RuntimeStatus) -> None:
        """The runtime reported new rows or a discarded mirror: re-query the counts."""
        self._counts.stream_changed(status.clear_version)

    def refresh(self) -> None:
        self._counts.refresh()

    def _cleared(self) -> None:
        self.beginResetModel()
        self._rows.windows.clear()
        self._row_of_offset.clear()
        self.expanded.forget_json()
        self._count = 0
        self.endResetModel()

    async def _count_once(self) -> None:
        types = self._types
        try:
            total, type_counts, filtered = await run_blocking(
                _count_events, self._runtime.reader, types
            )
        except Exception as error:  # an empty or cleared mirror has no tables yet
            log.debug("counting events failed: %s", error)
            total, type_counts, filtered = 0, {}, (0 if types else None)
        if types == self._types:
            self.total, self.type_counts, self.filtered = total, type_counts, filtered
            self._apply_count(filtered if filtered is not None else total)
            self.countsChanged.emit()

    def _apply_count(self, count: int) -> None:
        if count > self._count:
            first = self._count
            self.beginInsertRows(QModelIndex(), first, count - 1)
            self._count = count
            self._rows.windows.mark_stale_from(first)
            self.endInsertRows()
        elif count < self._count:
            self.beginResetModel()
            self._rows.windows.clear()
            self._row_of_offset.clear()
            self._count = count
            self.endResetModel()

    # --- rows ------------------------------------------------------------------------------

    def _load_page(self, start: int, limit: int) -> list[EventRow]:
        return list(self._runtime.reader.events_range(start, limit, self._types))

    def _loaded(self, rows: range) -> None:
        for row in rows:
            event = self._rows.cached(row)
            if event is not None and self.expanded.is_expanded(event.offset):
                self._row_of_offset[event.offset] = row
        self.dataChanged.emit(self.index(rows.start, 0), self.index(rows.stop - 1, 2))
        self.rowsLoaded.emit(rows.start, rows.stop - 1)

    def event_at(self, row: int) -> EventRow | None:
        """The row if loaded (asks for its page otherwise)."""
        if not 0 <= row < self._count:
            return None
        return self._rows.row(row)

    def loaded_row_count(self) -> int:
        return self._rows.windows.loaded_rows()

    # --- expansion -------------------------------------------------------------------------

    def toggle_expanded(self, row: int) -> None:
        event = self.event_at(row)
        if event is None:
            return
        self._row_of_offset[event.offset] = row
        self.expanded.toggle(event.offset)
        self.expansionChanged.emit(row)

    def is_row_expanded(self, row: int) -> bool:
        event = self._rows.cached(row)
        return event is not None and self.expanded.is_expanded(event.offset)

    def pretty_for_row(self, row: int) -> PrettyJson | None:
        event = self._rows.cached(row)
        return None if event is None else self.expanded.pretty(event.offset)

    def _json_ready(self, offset: int) -> None:
        row = self._row_of_offset.get(offset)
        if row is None or row >= self._count:
            return
        event = self._rows.cached(row)
        if event is not None and event.offset == offset:
            self.expansionChanged.emit(row)
            self.dataChanged.emit(self.index(row, 0), self.index(row, 2))

    # --- Qt model --------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

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
            return (str(event.offset), event.type, event.created_at)[column]
        if role == ROW_ROLE:
            return event
        if role == Qt.ItemDataRole.FontRole and column != 1:
            return self._font
        if role == Qt.ItemDataRole.ForegroundRole and event is None:
            return QApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        if role == Qt.ItemDataRole.ToolTipRole and event is not None and column == 1:
            return event.type
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 0:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None
