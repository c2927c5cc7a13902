"""The virtualised list both stream views use: uniform rows, tail pinning, floating scroll
buttons with the unread count, and rows that expand in place to their JSON.

A QTableView keeps per-row heights in its vertical header (cheap for a million rows) and only
asks the model for the rows it paints. Expanded rows get a taller section (and a span across
all columns); everything else stays at the uniform height.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, QTimer
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableView,
    QToolButton,
    QWidget,
)

from ui.json_text import PrettyJson
from ui.labels import scroll_to_bottom_label
from ui.tail_pin import TailPin
from ui.windowed_model import WindowedListModel

_AT_END_SLACK_PX = 2
_SETTLE_MS = 250
_BUTTON_MARGIN = 6
_USER_INPUT_EVENTS = {
    QEvent.Type.Wheel,
    QEvent.Type.MouseButtonPress,
    QEvent.Type.TouchBegin,
    QEvent.Type.KeyPress,
}
_NAVIGATION_KEYS = {
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_PageUp,
    Qt.Key.Key_PageDown,
    Qt.Key.Key_Home,
    Qt.Key.Key_End,
}


class ExpandingDelegate(Protocol):
    def expanded_height(self, pretty: PrettyJson | None) -> int: ...


class StreamListView(QTableView):
    def __init__(self, *, noun: str, row_height: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._noun = noun
        self.row_height = row_height
        self.pin = TailPin()
        self._tall_rows: set[int] = set()
        # Width kept free right of the rows for the scroll buttons while one shows.
        self._gutter = 0
        # What Enter / Space / a click on a row does; views may replace it.
        self.activate: Callable[[int], None] = self._toggle_row
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setCornerButtonEnabled(False)
        self.setTabKeyNavigation(False)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setMinimumSectionSize(row_height)
        rows.setDefaultSectionSize(row_height)
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setHighlightSections(False)

        self.top_button = QToolButton(self)
        self.top_button.setText("↑")
        self.top_button.setToolTip("Scroll to top")
        self.top_button.setAccessibleName("Scroll to top")
        self.top_button.clicked.connect(self.scroll_to_top)
        self.bottom_button = QToolButton(self)
        self.bottom_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.bottom_button.clicked.connect(self.scroll_to_end)
        for button in (self.top_button, self.bottom_button):
            button.setAutoRaise(False)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.hide()

        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(_SETTLE_MS)
        self._settle.timeout.connect(self._settle_check)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scroll_changed)
        bar.rangeChanged.connect(self._range_changed)
        bar.installEventFilter(self)
        self.viewport().installEventFilter(self)
        self.clicked.connect(self._row_clicked)

    # --- wiring ----------------------------------------------------------------------------

    def attach(self, model: WindowedListModel[Any]) -> None:
        """Show the model and follow its signals."""
        self.setModel(model)
        model.rowsInserted.connect(self._rows_inserted)
        model.modelReset.connect(self._model_reset)
        model.expansionChanged.connect(self._apply_expansion)
        model.rowsLoaded.connect(self._rows_loaded)

    def _expandable(self) -> WindowedListModel[Any]:
        return cast(WindowedListModel[Any], self.model())

    # --- tail pinning ----------------------------------------------------------------------

    def at_end(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - _AT_END_SLACK_PX

    def distance_to_end(self) -> int:
        bar = self.verticalScrollBar()
        return bar.maximum() - bar.value()

    def _rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if self.pin.rows_added(last - first + 1, at_end=self.at_end()):
            self._jump_to_end()
        self._update_buttons()

    def _model_reset(self) -> None:
        self._tall_rows.clear()
        self.clearSpans()
        self.pin.reset()
        self._update_buttons()

    def scroll_to_end(self) -> None:
        """The user asked for the tail ("Scroll to bottom"): follow it again."""
        self.pin.jump_to_end()
        self._jump_to_end()

    def scroll_to_top(self) -> None:
        self.pin.jump_to_top()
        self._settle.stop()
        self.scrollToTop()

    def _jump_to_end(self) -> None:
        # The table lays out lazily: bring the scroll range up to date before jumping.
        self.updateGeometries()
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
        self._settle.start()

    def _settle_check(self) -> None:
        if self.pin.pinned and self.distance_to_end() > _AT_END_SLACK_PX:
            self._jump_to_end()

    def _range_changed(self) -> None:
        # Resizes and taller rows move the end: a pinned list stays on it.
        if self.pin.pinned:
            bar = self.verticalScrollBar()
            bar.setValue(bar.maximum())
        self._scroll_changed()

    def _scroll_changed(self) -> None:
        self.pin.scrolled(at_end=self.at_end())
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_rows = self.model() is not None and self.model().rowCount() > 0
        self.top_button.setVisible(has_rows and self.verticalScrollBar().value() > 4)
        label = scroll_to_bottom_label(self.pin.unread, self._noun)
        self.bottom_button.setText("↓" if not self.pin.unread else f"↓ {self.pin.unread:,}")
        self.bottom_button.setToolTip(label)
        self.bottom_button.setAccessibleName(label)
        self.bottom_button.setVisible(has_rows and not self.at_end())
        self._place_buttons()

    def bottom_button_label(self) -> str:
        return self.bottom_button.accessibleName()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _USER_INPUT_EVENTS:
            self.pin.user_input()
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in _NAVIGATION_KEYS:
            self.pin.user_input()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            current = self.currentIndex()
            if current.isValid():
                self.activate(current.row())
                return
        super().keyPressEvent(event)

    # --- expansion -------------------------------------------------------------------------

    def _row_clicked(self, index: QModelIndex) -> None:
        self._toggle_row(index.row())

    def _toggle_row(self, row: int) -> None:
        self._expandable().toggle_expanded(row)

    def _apply_expansion(self, row: int) -> None:
        model = self._expandable()
        delegate = cast(ExpandingDelegate, self.itemDelegate())
        columns = self.horizontalHeader().count()
        if model.is_row_expanded(row):
            height = delegate.expanded_height(model.pretty_for_row(row))
            if columns > 1 and row not in self._tall_rows:
                self.setSpan(row, 0, 1, columns)
            self._tall_rows.add(row)
            self.verticalHeader().resizeSection(row, height)
        elif row in self._tall_rows:
            self._tall_rows.discard(row)
            if columns > 1:
                self.setSpan(row, 0, 1, 1)
            self.verticalHeader().resizeSection(row, self.row_height)
        if self.pin.pinned:
            self._jump_to_end()

    def _rows_loaded(self, first: int, last: int) -> None:
        model = self._expandable()
        for row in range(first, last + 1):
            if model.is_row_expanded(row) != (row in self._tall_rows):
                self._apply_expansion(row)

    def is_row_tall(self, row: int) -> bool:
        return row in self._tall_rows

    # --- layout ----------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_buttons()

    def updateGeometries(self) -> None:
        # QTableView resets the viewport margins to its headers' sizes: keep the gutter.
        super().updateGeometries()
        margins = self.viewportMargins()
        if margins.right() != self._gutter:
            self.setViewportMargins(margins.left(), margins.top(), self._gutter, margins.bottom())

    def _place_buttons(self) -> None:
        """The scroll buttons sit in a gutter right of the rows, never over their text."""
        margin = _BUTTON_MARGIN
        shown = [b for b in (self.top_button, self.bottom_button) if not b.isHidden()]
        for button in shown:
            button.adjustSize()
        gutter = max((b.width() for b in shown), default=0) + 2 * margin if shown else 0
        if gutter != self._gutter:
            self._gutter = gutter
            self.updateGeometries()
        area = self.viewport().geometry()
        left = area.right() + 1 + margin
        self.top_button.move(left, area.top() + margin)
        bottom = self.bottom_button
        bottom.move(left, area.bottom() - bottom.height() - margin)
        self.top_button.raise_()
        bottom.raise_()
