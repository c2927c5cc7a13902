"""The State view: the stream's live runtimeState() as coloured JSON, polled every second."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from mirror.runtime import RuntimeStatus
from ui.json_paint import JsonHighlighter, monospace_font
from ui.json_text import pretty_json_value
from ui.offload import spawn
from ui.palette import error_text_style, widget_is_dark
from ui.ports import RuntimeLike

POLL_MS = 1000


class StateView(QWidget):
    def __init__(self, runtime: RuntimeLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        title = QLabel("Runtime state")
        title.setStyleSheet("font-weight: 600")
        self.connection_label = QLabel(runtime.status.connection)
        self.connection_label.setAccessibleName("Connection status")
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 6, 6, 6)
        bar.addWidget(title)
        bar.addStretch(1)
        bar.addWidget(self.connection_label)
        self.error_label = QLabel()
        self.error_label.setStyleSheet(error_text_style(widget_is_dark(self)))
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(monospace_font())
        self.text.setAccessibleName("Stream state")
        self.text.setPlainText("loading…" if runtime.server_url else _OFFLINE_TEXT)
        self._highlighter = JsonHighlighter(self.text.document())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.error_label)
        layout.addWidget(self.text, 1)
        self._polling = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    def stream_changed(self, status: RuntimeStatus) -> None:
        self.connection_label.setText(status.connection)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._runtime.server_url is not None:
            self._timer.start()
            self.poll()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()

    def poll(self) -> None:
        if not self._polling and self.isVisible():
            self._polling = True
            spawn(self._poll(), what="polling runtime state", owner=self)

    async def _poll(self) -> None:
        try:
            state = await self._runtime.runtime_state()
        except Exception as error:
            self.error_label.setText(f"Runtime state failed: {error}")
            self.error_label.show()
            return
        finally:
            self._polling = False
        self.error_label.hide()
        text = pretty_json_value(state)
        if text != self.text.toPlainText():
            bar = self.text.verticalScrollBar()
            position = bar.value()
            self.text.setPlainText(text)
            bar.setValue(position)


_OFFLINE_TEXT = "Offline: runtime state needs a connection to the stream's server."
