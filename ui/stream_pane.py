"""One stream on screen: header (status, role, count), notices, the three views, the composer.

Every view in the pane (and in other panes or windows showing the same stream) shares the one
runtime the pane retains; the pane releases it when it closes or shows another stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mirror.lock_holder import lock_holder_pid
from mirror.paths import writer_lock_file
from mirror.runtime import RuntimeStatus
from ui.composer import Composer
from ui.error_banner import ErrorBanner
from ui.feed_view import FeedView
from ui.labels import counted
from ui.palette import banner_style, chip_style, widget_is_dark
from ui.pane_state import PaneState, pane_state
from ui.ports import RuntimeLike
from ui.raw_view import RawEventsView
from ui.state_view import StateView
from ui.stream_gate_panel import StreamGatePanel
from ui.targets import StreamTarget

VIEW_NAMES = ("Raw events", "Event feed", "State")
# How often the "Retrying in N s" countdown is redrawn.
_COUNTDOWN_MS = 1000


def _chip(label: QLabel, text: str, tone: str) -> None:
    # Restyling re-polishes the widget: only when something changed (status updates are many).
    style = chip_style(tone, widget_is_dark(label))
    label.setVisible(bool(text))
    if label.text() != text:
        label.setText(text)
    if label.styleSheet() != style:
        label.setStyleSheet(style)


class StreamPane(QFrame):
    focused = Signal(object)
    statusChanged = Signal(object)
    openStream = Signal(str)
    closeRequested = Signal(object)
    # (pane, action): an error banner button (ui.pane_state RETRY / EDIT_SERVER / WORK_OFFLINE).
    actionRequested = Signal(object, str)

    def __init__(
        self,
        runtime: RuntimeLike,
        target: StreamTarget,
        *,
        server_name: str,
        closable: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.runtime = runtime
        self.target = target
        self.server_name = server_name
        self._last_seen: tuple[int, int, int, str, bool] | None = None
        self._retry_at: float | None = None
        self._retry_record: object = None
        self._writer_pid: int | None = None
        self.state: PaneState | None = None

        self.path_label = QLabel(runtime.path)
        self.path_label.setStyleSheet("font-family: monospace; font-weight: 600")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where_label = QLabel(f"{runtime.namespace} · {server_name}")
        self.where_label.setStyleSheet("color: palette(placeholder-text)")
        self.connection_label = QLabel()
        self.connection_label.setAccessibleName("Connection status")
        self.role_label = QLabel()
        self.role_label.setAccessibleName("Role")
        self.count_label = QLabel()
        self.count_label.setAccessibleName("Event count")
        header = QHBoxLayout()
        header.setContentsMargins(8, 6, 8, 2)
        header.addWidget(self.path_label)
        header.addWidget(self.where_label)
        header.addStretch(1)
        header.addWidget(self.connection_label)
        header.addWidget(self.role_label)
        header.addWidget(self.count_label)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close this pane")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(lambda: self.closeRequested.emit(self))
        self.close_button.setVisible(closable)
        header.addWidget(self.close_button)

        self.error_banner = ErrorBanner()
        self.error_banner.actionTriggered.connect(lambda a: self.actionRequested.emit(self, a))
        self.notice_banner = QLabel()
        self.notice_banner.setWordWrap(True)
        self.notice_banner.setAccessibleName("Stream notice")
        self._countdown = QTimer(self)
        self._countdown.setInterval(_COUNTDOWN_MS)
        self._countdown.timeout.connect(lambda: self._on_status(self.runtime.status))

        self.raw_view = RawEventsView(runtime)
        self.feed_view = FeedView(runtime)
        self.feed_view.openStream.connect(self.openStream)
        self.state_view = StateView(runtime)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for view, name in zip(
            (self.raw_view, self.feed_view, self.state_view), VIEW_NAMES, strict=True
        ):
            self.tabs.addTab(view, name)
        self.composer = Composer(runtime)
        self.gate_panel = StreamGatePanel(runtime)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        for banner in (self.error_banner, self.notice_banner):
            wrapper = QHBoxLayout()
            wrapper.setContentsMargins(8, 0, 8, 0)
            wrapper.addWidget(banner)
            layout.addLayout(wrapper)
        layout.addWidget(self.gate_panel)
        self.body = QSplitter(Qt.Orientation.Vertical)
        self.body.setChildrenCollapsible(False)
        self.body.addWidget(self.tabs)
        self.body.addWidget(self.composer)
        self.body.setStretchFactor(0, 1)
        self.body.setStretchFactor(1, 0)
        layout.addWidget(self.body, 1)
        self.tabs.currentChanged.connect(self._view_changed)

        self._remove_listener: Callable[[], None] | None = runtime.add_listener(self._on_status)
        self._on_status(runtime.status)
        for widget in (self, self.raw_view.list, self.feed_view.list, self.composer.editor):
            widget.installEventFilter(self)

    # --- status ----------------------------------------------------------------------------

    @property
    def status(self) -> RuntimeStatus:
        return self.runtime.status

    def _on_status(self, status: RuntimeStatus) -> None:
        # The connection is in it too: the views' empty text says why they are empty.
        seen = (
            status.event_count,
            status.max_offset,
            status.clear_version,
            status.connection,
            status.last_error is None,
        )
        if seen != self._last_seen:
            self._last_seen = seen
            self.raw_view.stream_changed(status)
            self.feed_view.stream_changed(status)
        self.state_view.stream_changed(status)
        self.gate_panel.stream_changed(status)
        state = pane_state(
            status,
            server_url=self.runtime.server_url,
            retry_in=self._retry_in(status),
            writer_pid=self._follower_writer(status),
        )
        self.state = state
        _chip(self.connection_label, state.chip, state.chip_tone)
        _chip(self.role_label, state.role, state.role_tone)
        self.count_label.setText(counted(status.event_count, "event"))
        self.error_banner.show_message(
            state.error, state.actions, "error" if state.chip_tone == "error" else "warn"
        )
        counting = status.connection == "reconnecting" and self._retry_at is not None
        if counting != self._countdown.isActive():
            (self._countdown.start if counting else self._countdown.stop)()
        notice = status.notice
        if notice and status.role == "follower":
            notice = f"Follower: {notice}."
        self.notice_banner.setVisible(bool(notice))
        self.notice_banner.setText(notice or "")
        self._restyle_notice()
        self.statusChanged.emit(self)

    def _retry_in(self, status: RuntimeStatus) -> float | None:
        """Seconds until the runtime dials again, from the delay it armed last."""
        if status.connection != "reconnecting":
            self._retry_at = None
            return None
        history = self.runtime.reconnect_history
        record = history[-1] if history else None
        if record is not None and record is not self._retry_record:
            self._retry_record = record
            self._retry_at = time.monotonic() + record.wait
        return None if self._retry_at is None else self._retry_at - time.monotonic()

    def _follower_writer(self, status: RuntimeStatus) -> int | None:
        """The writer's process id, looked up once each time this pane becomes a follower."""
        if status.role != "follower":
            self._writer_pid = None
        elif self._writer_pid is None:
            self._writer_pid = lock_holder_pid(writer_lock_file(self.runtime.mirror_file))
        return self._writer_pid

    def _restyle_notice(self) -> None:
        style = banner_style("warn", widget_is_dark(self))
        if self.notice_banner.styleSheet() != style:
            self.notice_banner.setStyleSheet(style)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.error_banner.restyle()
            self._on_status(self.runtime.status)

    # --- views -----------------------------------------------------------------------------

    def show_view(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)
        self.tabs.currentWidget().setFocus()

    def _view_changed(self, index: int) -> None:
        # The state view has nothing to append to.
        self.composer.setVisible(index != VIEW_NAMES.index("State"))

    def current_view_index(self) -> int:
        return self.tabs.currentIndex()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.FocusIn, QEvent.Type.MouseButtonPress):
            self.focused.emit(self)
        return super().eventFilter(watched, event)

    def close_stream(self) -> None:
        """Stop listening and release the runtime (the last release closes it)."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
            self.runtime.release()
