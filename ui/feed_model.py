"""The event feed of one mirror as a list model: one row per feed item.

Rows come in pages by `local_index` like the raw events; the last row can still grow (a group
gains events), so every refresh marks it stale and it is refetched while the old version stays
on screen. Expansion is keyed by `local_index`.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal

from mirror.runtime import FeedRow, RuntimeStatus
from ui.event_model import ROW_ROLE, AnyIndex
from ui.json_text import PrettyJson
from ui.labels import (
    CHILD_STREAM_COMPONENT,
    CREATED_COMPONENT,
    WOKEN_COMPONENT,
    component_event_type,
    counted,
    lifecycle_label,
    offset_range_label,
)
from ui.offload import run_blocking
from ui.ports import RuntimeLike
from ui.windowed_rows import CountRefresher, ExpandedRows, WindowedRows

log = logging.getLogger(__name__)

LIFECYCLE_COMPONENTS = (CREATED_COMPONENT, WOKEN_COMPONENT)


def feed_row_type(item: FeedRow) -> str:
    """The event type a row shows: its own, else the one its component stands for."""
    return item.event_type or component_event_type(item.component)


def feed_row_text(item: FeedRow) -> str:
    """One-line summary of a feed row (also its accessible text)."""
    if item.component in LIFECYCLE_COMPONENTS:
        return lifecycle_label(item.component, item.first_offset)
    if item.component == CHILD_STREAM_COMPONENT:
        return f"Child stream created: {item.child_path or 'missing childPath in payload'}"
    offsets = offset_range_label(item.first_offset, item.last_offset)
    return f"{offsets}  {feed_row_type(item)}  {counted(item.event_count, 'event')}"


class FeedModel(QAbstractListModel):
    countChanged = Signal()
    rowsLoaded = Signal(int, int)
    expansionChanged = Signal(int)

    def __init__(self, runtime: RuntimeLike, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self._count = 0
        self._rows: WindowedRows[FeedRow] = WindowedRows(self._load_page, self._loaded, owner=self)
        self.expanded = ExpandedRows(runtime.reader.feed_item_json, self._json_ready, owner=self)
        self._counts = CountRefresher(
            self._count_once,
            self._cleared,
            clear_version=runtime.status.clear_version,
            owner=self,
            what="counting feed items",
        )
        self.refresh()

    @property
    def count(self) -> int:
        return self._count

    def stream_changed(self, status: RuntimeStatus) -> None:
        self._counts.stream_changed(status.clear_version)

    def refresh(self) -> None:
        self._counts.refresh()

    def _cleared(self) -> None:
        self.beginResetModel()
        self._rows.windows.clear()
        self.expanded.forget_json()
        self._count = 0
        self.endResetModel()

    async def _count_once(self) -> None:
        try:
            count = await run_blocking(self._runtime.reader.feed_count)
        except Exception as error:  # an empty or cleared mirror has no tables yet
            log.debug("counting feed items failed: %s", error)
            count = 0
        self._apply_count(count)

    def _apply_count(self, count: int) -> None:
        before = self._count
        if count < before:
            self.beginResetModel()
            self._rows.windows.clear()
            self._count = count
            self.endResetModel()
        elif count > before:
            self.beginInsertRows(QModelIndex(), before, count - 1)
            self._count = count
            self._rows.windows.mark_stale_from(max(0, before - 1))
            self.endInsertRows()
        if 0 < before <= count:
            # The last row of before may have grown: refetch it, keeping the old one on screen.
            self._rows.windows.mark_stale_from(before - 1)
            self.expanded.invalidate(before - 1)
            self.dataChanged.emit(self.index(before - 1), self.index(before - 1))
        self.countChanged.emit()

    def _load_page(self, start: int, limit: int) -> list[FeedRow]:
        return list(self._runtime.reader.feed_range(start, limit))

    def _loaded(self, rows: range) -> None:
        self.dataChanged.emit(self.index(rows.start), self.index(rows.stop - 1))
        self.rowsLoaded.emit(rows.start, rows.stop - 1)

    def item_at(self, row: int) -> FeedRow | None:
        if not 0 <= row < self._count:
            return None
        return self._rows.row(row)

    def loaded_row_count(self) -> int:
        return self._rows.windows.loaded_rows()

    def toggle_expanded(self, row: int) -> None:
        if self.item_at(row) is None:
            return
        self.expanded.toggle(row)
        self.expansionChanged.emit(row)

    def is_row_expanded(self, row: int) -> bool:
        return self.expanded.is_expanded(row)

    def pretty_for_row(self, row: int) -> PrettyJson | None:
        return self.expanded.pretty(row)

    def _json_ready(self, local_index: int) -> None:
        if local_index < self._count:
            self.expansionChanged.emit(local_index)
            self.dataChanged.emit(self.index(local_index), self.index(local_index))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.item_at(index.row())
        if role == ROW_ROLE:
            return item
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return "…" if item is None else feed_row_text(item)
        return None
