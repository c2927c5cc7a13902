"""Raw events of one mirror as a table model: offset, type, created at.

`rowCount` comes from counts (the mirror's total, or the filtered count while a type filter is
set); rows arrive in pages by position through `WindowedRows`, so a million-event mirror costs a
few hundred rows of memory. Expansion is keyed by offset and survives scrolling and refetches.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from mirror.runtime import EventRow
from ui.json_paint import monospace_font
from ui.offload import run_blocking
from ui.ports import ReaderLike, RuntimeLike
from ui.windowed_model import ROW_ROLE, AnyIndex, WindowedListModel

log = logging.getLogger(__name__)


def _count_events(
    reader: ReaderLike, types: list[str] | None
) -> tuple[int, dict[str, int], int | None]:
    filtered = reader.filtered_count(types) if types else None
    return reader.event_count(), reader.type_counts(), filtered


class RawEventsModel(WindowedListModel[EventRow]):
    COLUMNS = ("Offset", "Type", "Created at")
    COLUMN_COUNT = len(COLUMNS)

    countsChanged = Signal()

    def __init__(self, runtime: RuntimeLike, parent: QObject | None = None) -> None:
        super().__init__(
            runtime, runtime.reader.event_json, what="counting raw events", parent=parent
        )
        self._types: list[str] | None = None
        self.total = 0
        self.filtered: int | None = None
        self.type_counts: dict[str, int] = {}
        # Where each expanded event was last seen, so its arriving JSON finds its row.
        self._row_of_offset: dict[int, int] = {}
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
        self._forget_rows()
        self._count = 0
        self.filtered = None
        self.endResetModel()
        self.refresh()

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

    # --- rows ------------------------------------------------------------------------------

    def _forget_rows(self) -> None:
        super()._forget_rows()
        self._row_of_offset.clear()

    def _load_page(self, start: int, limit: int) -> list[EventRow]:
        return list(self._runtime.reader.events_range(start, limit, self._types))

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
