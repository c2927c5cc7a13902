"""The Event feed view: grouped rows, lifecycle markers and child-stream cards."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from mirror.event_bounded import pretty_feed_item_text
from mirror.runtime import RuntimeStatus
from ui.feed_model import FeedModel
from ui.jump_dialog import JumpDialog, open_jump_dialog
from ui.labels import CHILD_STREAM_COMPONENT, counted
from ui.landing import land_feed
from ui.mirror_lookups import MirrorLookups
from ui.pane_state import pane_state
from ui.ports import RuntimeLike
from ui.row_delegates import FeedRowDelegate
from ui.search_bar import SearchBar
from ui.stream_list_view import StreamListView
from ui.whole_event import WholeEventActions

FEED_ROW_HEIGHT = 30


class FeedView(QWidget):
    openStream = Signal(str)

    def __init__(self, runtime: RuntimeLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = FeedModel(runtime, self)
        self._server_url = runtime.server_url
        title = QLabel("Event feed")
        title.setStyleSheet("font-weight: 600")
        self.count_label = QLabel(counted(0, "feed item"))
        self.count_label.setAccessibleName("Feed item count")
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 6, 6, 6)
        bar.addWidget(title)
        bar.addStretch(1)
        bar.addWidget(self.count_label)

        self.list = StreamListView(noun="item", row_height=FEED_ROW_HEIGHT)
        self.list.setAccessibleName("Event feed")
        self.list.horizontalHeader().hide()
        self.list.attach(self.model)
        self.delegate = FeedRowDelegate(self.list, self.model, runtime.path)
        self.delegate.openChild.connect(self.openStream)
        self.list.setItemDelegate(self.delegate)
        self.list.activate = self._activate
        lookups = self.model.lookups
        self.whole_item = WholeEventActions(
            self.list,
            lambda row: lookups.read(lambda conn: pretty_feed_item_text(conn, row)),
            self._current_row,
            noun="feed item",
        )
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        self.search_bar = SearchBar(self)
        layout.addWidget(self.search_bar)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)
        self._status: RuntimeStatus = runtime.status
        self.model.countChanged.connect(self._count_changed)
        self.model.modelReset.connect(self._count_changed)
        self._count_changed()

    # --- search (ui.search_session.FindHost) ------------------------------------------------

    @property
    def find_lookups(self) -> MirrorLookups:
        return self.model.lookups

    def find_scope(self) -> tuple[list[str] | None, str | None]:
        return None, None

    def set_highlight(self, text: str) -> None:
        self.model.highlight = text
        self.list.viewport().update()

    async def land_on(self, offset: int) -> bool:
        """Jump (ui.jump_dialog.JumpHost): select the event at or after ``offset``."""
        return await land_feed(self.list, self.model, offset) is not None

    def open_jump(self) -> JumpDialog:
        return open_jump_dialog(self, self)

    async def show_hit(self, offset: int, text: str) -> None:
        await land_feed(self.list, self.model, offset, text)

    def _current_row(self) -> int | None:
        row = self.list.currentIndex().row()
        return row if row >= 0 and self.model.item_at(row) is not None else None

    def _activate(self, row: int) -> None:
        """Enter on a child-stream card opens the child; on other rows it toggles the JSON."""
        item = self.model.item_at(row)
        if item is not None and item.component == CHILD_STREAM_COMPONENT and item.child_path:
            self.openStream.emit(item.child_path)
        else:
            self.model.toggle_expanded(row)

    def stream_changed(self, status: RuntimeStatus) -> None:
        self._status = status
        self.model.stream_changed(status)
        self.search_bar.session.stream_grew()
        self._count_changed()

    def _count_changed(self) -> None:
        count = self.model.count
        self.count_label.setText(counted(count, "feed item"))
        self.list.setVisible(count > 0)
        self.empty_label.setVisible(count == 0)
        status = self._status
        if status.connection == "subscribed" or status.event_count > 0:
            text = "No feed items yet."
        else:
            # The pane's banner says what is wrong; the list only says why it is empty.
            text = pane_state(status, server_url=self._server_url).empty_text
        self.empty_label.setText(text)
