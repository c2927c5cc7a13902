"""The Raw events view: type filter with per-type counts above the virtualised event list."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mirror.runtime import RuntimeStatus
from ui.event_model import PREVIEW_COLUMN, RawEventsModel
from ui.filter_bar import FilterBar
from ui.json_text import pretty_json_text
from ui.jump_dialog import JumpDialog, open_jump_dialog
from ui.labels import filter_count_text, type_option_label
from ui.landing import land_raw
from ui.mirror_lookups import MirrorLookups
from ui.offload import run_blocking, spawn
from ui.pane_state import pane_state
from ui.ports import ReaderLike, RuntimeLike
from ui.row_delegates import RawRowDelegate
from ui.search_bar import SearchBar
from ui.stream_list_view import StreamListView
from ui.time_display import time_display
from ui.whole_event import WholeEventActions

RAW_ROW_HEIGHT = 24


def _pretty_event(reader: ReaderLike, offset: int) -> str:
    return pretty_json_text(reader.event_json(offset))


class RawEventsView(QWidget):
    def __init__(self, runtime: RuntimeLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self.model = RawEventsModel(runtime, self)

        self.type_filter = QComboBox()
        self.type_filter.setAccessibleName("Event type filter")
        self.type_filter.setToolTip("Show one event type (Ctrl+Shift+F)")
        self.type_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.type_filter.setMinimumContentsLength(24)
        self.type_filter.addItem("All event types", None)
        self.type_filter.currentIndexChanged.connect(self._filter_chosen)
        self.count_label = QLabel(filter_count_text(0, None))
        self.count_label.setAccessibleName("Filter count")
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        bar.addWidget(QLabel("Event type"))
        bar.addWidget(self.type_filter)
        bar.addStretch(1)
        bar.addWidget(self.count_label)
        self.utc_button = QToolButton()
        self.utc_button.setText("UTC")
        self.utc_button.setCheckable(True)
        self.utc_button.setToolTip("Show event times in UTC (else in local time)")
        self.utc_button.setAccessibleName("Show times in UTC")
        self.utc_button.setChecked(time_display().utc)
        self.utc_button.toggled.connect(time_display().set_utc)
        time_display().changed.connect(self.utc_button.setChecked)
        bar.addWidget(self.utc_button)

        self.list = StreamListView(noun="event", row_height=RAW_ROW_HEIGHT)
        self.list.setAccessibleName("Stream events")
        self.list.attach(self.model)
        self.list.setItemDelegate(RawRowDelegate(self.list, self.model))
        header = self.list.horizontalHeader()
        header.setStretchLastSection(False)
        for column in range(PREVIEW_COLUMN):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(PREVIEW_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(0, 90)
        header.resizeSection(1, 260)
        header.resizeSection(2, 190)

        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAccessibleName("Empty list")

        copy = QAction("Copy event JSON", self.list)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_current_json)
        self.list.addAction(copy)
        self.whole_event = WholeEventActions(
            self.list, runtime.reader.event_json, self._current_offset
        )
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        self.filter_bar = FilterBar(self.model)
        self.filter_bar.edit.returnPressed.connect(self.search_bar_rescope)
        layout.addWidget(self.filter_bar)
        self.search_bar = SearchBar(self)
        layout.addWidget(self.search_bar)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)
        self.model.countsChanged.connect(self._counts_changed)
        self.model.modelReset.connect(self._update_empty)
        self._status: RuntimeStatus = runtime.status
        self._counts_changed()

    # --- filter ----------------------------------------------------------------------------

    def _filter_chosen(self, index: int) -> None:
        chosen = self.type_filter.itemData(index)
        self.model.set_types([chosen] if isinstance(chosen, str) else None)
        self.search_bar.session.rescope()

    def select_type(self, event_type: str | None) -> None:
        """Filter to one type (None: all); the type must be in the mirror."""
        index = self.type_filter.findData(event_type) if event_type else 0
        if index >= 0:
            self.type_filter.setCurrentIndex(index)

    def _counts_changed(self) -> None:
        counts = self.model.type_counts
        combo = self.type_filter
        current = combo.currentData()
        wanted = sorted(set(counts) | ({current} if isinstance(current, str) else set()))
        shown = [combo.itemData(i) for i in range(1, combo.count())]
        combo.blockSignals(True)
        if shown != wanted:
            while combo.count() > 1:
                combo.removeItem(1)
            for event_type in wanted:
                combo.addItem(type_option_label(event_type, counts.get(event_type, 0)), event_type)
            combo.setCurrentIndex(max(0, combo.findData(current)) if current else 0)
        else:
            for i, event_type in enumerate(wanted, start=1):
                combo.setItemText(i, type_option_label(event_type, counts.get(event_type, 0)))
        combo.blockSignals(False)
        self.count_label.setText(filter_count_text(self.model.total, self.model.filtered))
        self._update_empty()

    def stream_changed(self, status: RuntimeStatus) -> None:
        self._status = status
        self.model.stream_changed(status)
        self.search_bar.session.stream_grew()
        self._update_empty()

    def _update_empty(self) -> None:
        empty = self.model.rowCount() == 0
        self.list.setVisible(not empty)
        self.empty_label.setVisible(empty)
        if not empty:
            return
        status = self._status
        if self.model.where:
            text = "No stored event matches the filter."
        elif self.model.types:
            text = "No events of the selected type are stored locally."
        else:
            # The pane's banner says what is wrong; the list only says why it is empty.
            text = pane_state(status, server_url=self._runtime.server_url).empty_text
        self.empty_label.setText(text)

    def search_bar_rescope(self) -> None:
        self.search_bar.session.rescope()

    # --- search (ui.search_session.FindHost) ------------------------------------------------

    @property
    def find_lookups(self) -> MirrorLookups:
        return self.model.lookups

    def find_scope(self) -> tuple[list[str] | None, str | None]:
        return self.model.types, self.model.where

    def set_highlight(self, text: str) -> None:
        self.model.highlight = text
        self.list.viewport().update()

    async def land_on(self, offset: int) -> bool:
        """Jump (ui.jump_dialog.JumpHost): select the event at or after ``offset``."""
        return await land_raw(self.list, self.model, offset) is not None

    def open_jump(self) -> JumpDialog:
        return open_jump_dialog(self, self)

    async def show_hit(self, offset: int, text: str) -> None:
        await land_raw(self.list, self.model, offset)

    # --- copy and export -------------------------------------------------------------------

    def _current_offset(self) -> int | None:
        event = self.model.event_at(self.list.currentIndex().row())
        return None if event is None else event.offset

    def copy_current_json(self) -> None:
        offset = self._current_offset()
        if offset is not None:
            spawn(self._copy(offset), what="copying event JSON", owner=self)

    async def _copy(self, offset: int) -> None:
        # Formatting a big event takes a while: off the UI thread.
        text = await run_blocking(_pretty_event, self._runtime.reader, offset, long=True)
        QGuiApplication.clipboard().setText(text)
