"""One stream on screen: header (status, role, count), notices, the three views, the composer.

Every view in the pane (and in other panes or windows showing the same stream) shares the one
runtime the pane retains; the pane releases it when it closes or shows another stream.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
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

from mirror.runtime import RuntimeStatus
from ui.composer import Composer
from ui.feed_view import FeedView
from ui.labels import counted
from ui.ports import RuntimeLike
from ui.raw_view import RawEventsView
from ui.state_view import StateView
from ui.stream_gate_panel import StreamGatePanel
from ui.targets import StreamTarget

VIEW_NAMES = ("Raw events", "Event feed", "State")
_LIVE_CONNECTIONS = {"connecting", "subscribing", "catching-up", "subscribed"}
_CHIP = "border-radius: 8px; padding: 1px 8px; background: {bg}; color: {fg};"
_CONNECTION_COLORS = {
    "subscribed": ("#dff3e4", "#1e6b35"),
    "catching-up": ("#e3eefc", "#1f4e99"),
    "reconnecting": ("#fdecea", "#b3261e"),
    "unauthorized": ("#fdecea", "#b3261e"),
    "offline": ("#ececec", "#555555"),
}


def _chip(label: QLabel, text: str, colors: tuple[str, str]) -> None:
    # Restyling re-polishes the widget: only when something changed (status updates are many).
    style = _CHIP.format(bg=colors[0], fg=colors[1])
    if label.text() != text:
        label.setText(text)
    if label.styleSheet() != style:
        label.setStyleSheet(style)


class StreamPane(QFrame):
    focused = Signal(object)
    statusChanged = Signal(object)
    openStream = Signal(str)
    closeRequested = Signal(object)

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
        self._last_seen: tuple[int, int, int] | None = None

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
        self.offline_badge = QLabel("OFFLINE")
        _chip(self.offline_badge, "OFFLINE", ("#555555", "#ffffff"))
        header = QHBoxLayout()
        header.setContentsMargins(8, 6, 8, 2)
        header.addWidget(self.path_label)
        header.addWidget(self.where_label)
        header.addStretch(1)
        header.addWidget(self.offline_badge)
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

        self.error_banner = QLabel()
        self.error_banner.setWordWrap(True)
        self.error_banner.setAccessibleName("Stream error")
        self.error_banner.setStyleSheet(
            "background: #fdecea; color: #8c1d18; padding: 4px 8px; border-radius: 4px"
        )
        self.notice_banner = QLabel()
        self.notice_banner.setWordWrap(True)
        self.notice_banner.setAccessibleName("Stream notice")
        self.notice_banner.setStyleSheet(
            "background: #fff4ce; color: #5c4400; padding: 4px 8px; border-radius: 4px"
        )

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
        seen = (status.event_count, status.max_offset, status.clear_version)
        if seen != self._last_seen:
            self._last_seen = seen
            self.raw_view.stream_changed(status)
            self.feed_view.stream_changed(status)
        self.state_view.stream_changed(status)
        self.gate_panel.stream_changed(status)
        _chip(
            self.connection_label,
            status.connection,
            _CONNECTION_COLORS.get(status.connection, ("#ececec", "#333333")),
        )
        role_colors = ("#ede7f6", "#4527a0") if status.role == "leader" else ("#ececec", "#333")
        _chip(self.role_label, status.role, role_colors)
        self.count_label.setText(counted(status.event_count, "event"))
        self.offline_badge.setVisible(
            self.runtime.server_url is None or status.connection not in _LIVE_CONNECTIONS
        )
        self.error_banner.setVisible(bool(status.last_error))
        error = f"Stream error: {status.last_error}" if status.last_error else ""
        if error and status.connection == "unauthorized":
            error += (
                " — the server refused the token. Save the server again with the right token"
                " (Servers ▸ Add server…), then press F5 to reconnect."
            )
        self.error_banner.setText(error)
        notice = status.notice
        if notice and status.role == "follower":
            notice = f"Follower: {notice}."
        self.notice_banner.setVisible(bool(notice))
        self.notice_banner.setText(notice or "")
        self.statusChanged.emit(self)

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
