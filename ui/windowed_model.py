"""The base of the raw events and feed models: a table model whose row count comes from counts
and whose rows arrive in pages through `WindowedRows`, with expandable rows.

A subclass says how to load a page, how to count, and what key a row's expansion is kept under
(`_key_for_row` / `_row_for_key`); the base keeps the count, drops every row when the mirror is
cleared (the runtime's `clear_version` moved), and tells views which rows landed or changed height.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from mirror.runtime import RuntimeStatus
from ui.json_text import PrettyJson
from ui.ports import RuntimeLike
from ui.windowed_rows import CountRefresher, ExpandedRows, WindowedRows

R = TypeVar("R")

# The role under which a model gives a view the row's item itself.
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
AnyIndex = QModelIndex | QPersistentModelIndex


class WindowedListModel(QAbstractTableModel, Generic[R]):
    # Rows [first, last] were loaded: views re-apply expansion to rows now known.
    rowsLoaded = Signal(int, int)
    # A row's expansion changed, or its JSON arrived (its height changes).
    expansionChanged = Signal(int)

    COLUMN_COUNT = 1

    def __init__(
        self,
        runtime: RuntimeLike,
        load_pretty: Callable[[int], PrettyJson],
        *,
        what: str,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self._count = 0
        self._rows: WindowedRows[R] = WindowedRows(self._load_page, self._loaded, owner=self)
        self.expanded = ExpandedRows(load_pretty, self._json_ready, owner=self)
        # Text the rows and expansions mark (the search box's).
        self.highlight = ""
        self._counts = CountRefresher(
            self._count_once,
            self._cleared,
            clear_version=runtime.status.clear_version,
            owner=self,
            what=what,
        )

    # --- what a subclass supplies ----------------------------------------------------------

    def _load_page(self, start: int, limit: int) -> Sequence[R]:
        """Rows [start, start + limit), on the reader pool."""
        raise NotImplementedError

    async def _count_once(self) -> None:
        """Query the counts and apply them (`_apply_count`)."""
        raise NotImplementedError

    def _key_for_row(self, row: int) -> int | None:
        """The key the row's expansion is kept under (None: not known yet)."""
        raise NotImplementedError

    def _row_for_key(self, key: int) -> int | None:
        """The row now showing the item of this key, if any."""
        raise NotImplementedError

    def _forget_rows(self) -> None:
        """Every loaded row is gone (a reset): drop what was derived from them."""
        self._rows.windows.clear()

    def _first_stale_row(self, before: int) -> int:
        """On growth from `before` rows: the first row whose page must be loaded again."""
        return before

    # --- counts ----------------------------------------------------------------------------

    def stream_changed(self, status: RuntimeStatus) -> None:
        """The runtime reported new rows or a discarded mirror: re-query the counts."""
        self._counts.stream_changed(status.clear_version)

    def refresh(self) -> None:
        self._counts.refresh()

    def _cleared(self) -> None:
        self.beginResetModel()
        self._forget_rows()
        self.expanded.forget_json()
        self._count = 0
        self.endResetModel()

    def _apply_count(self, count: int) -> None:
        before = self._count
        if count > before:
            self.beginInsertRows(QModelIndex(), before, count - 1)
            self._count = count
            self._rows.windows.mark_stale_from(self._first_stale_row(before))
            self.endInsertRows()
        elif count < before:
            self.beginResetModel()
            self._forget_rows()
            self._count = count
            self.endResetModel()

    # --- rows ------------------------------------------------------------------------------

    def _loaded(self, rows: range) -> None:
        self._rows_changed(rows.start, rows.stop - 1)
        self.rowsLoaded.emit(rows.start, rows.stop - 1)

    def _rows_changed(self, first: int, last: int) -> None:
        self.dataChanged.emit(self.index(first, 0), self.index(last, self.COLUMN_COUNT - 1))

    def row_at(self, row: int) -> R | None:
        """The row if loaded (asks for its page otherwise)."""
        if not 0 <= row < self._count:
            return None
        return self._rows.row(row)

    def loaded_row_count(self) -> int:
        return self._rows.windows.loaded_rows()

    # --- expansion -------------------------------------------------------------------------

    def toggle_expanded(self, row: int) -> None:
        if self.row_at(row) is None:
            return
        key = self._key_for_row(row)
        if key is None:
            return
        self._expanding(key, row)
        self.expanded.toggle(key)
        self.expansionChanged.emit(row)

    def _expanding(self, key: int, row: int) -> None:
        """The row of this key is about to toggle (a subclass may remember where it is)."""

    def is_row_expanded(self, row: int) -> bool:
        key = self._key_for_row(row)
        return key is not None and self.expanded.is_expanded(key)

    def pretty_for_row(self, row: int) -> PrettyJson | None:
        key = self._key_for_row(row)
        return None if key is None else self.expanded.pretty(key)

    def _json_ready(self, key: int) -> None:
        row = self._row_for_key(key)
        if row is not None:
            self.expansionChanged.emit(row)
            self._rows_changed(row, row)

    # --- Qt model --------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.COLUMN_COUNT
