"""The composer: a JSON editor that appends one event (Ctrl+Enter).

Invalid input never leaves the editor: the text is checked first and the reason shown inline;
a server rejection is shown the same way (a paused stream's as "stream paused: <reason>"), and the
draft stays in the editor. An event without an `idempotencyKey` gets one per
draft, so retrying an append whose answer was lost (a timeout after the server committed it)
returns the stored event instead of appending it twice.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ui.composer_input import DEFAULT_COMPOSER_TEXT, DraftKeys, check_composer_text
from ui.json_paint import JsonHighlighter, monospace_font
from ui.offload import spawn
from ui.palette import error_text_style, tone_colors, widget_is_dark
from ui.ports import RuntimeLike
from ui.stream_gate import refusal_text


class Composer(QWidget):
    appended = Signal(dict)

    def __init__(self, runtime: RuntimeLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self.state = "idle"  # idle | appending | appended | error
        self._keys = DraftKeys()
        self._appended_text: str | None = None
        self.editor = QPlainTextEdit()
        self.editor.setFont(monospace_font())
        self.editor.setAccessibleName("Event JSON")
        self.editor.setPlaceholderText('{"type": "…", "payload": {…}}')
        self.editor.setPlainText(DEFAULT_COMPOSER_TEXT)
        self.editor.setTabChangesFocus(True)
        self.editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.editor.setMinimumHeight(60)
        self._highlighter = JsonHighlighter(self.editor.document())
        self.append_button = QPushButton("Append event")
        self.append_button.setToolTip("Append this event to the stream (Ctrl+Enter)")
        self.append_button.clicked.connect(self.submit)
        self.status_label = QLabel()
        self.status_label.setAccessibleName("Composer state")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A key filter rather than a QShortcut: it works whether or not the window is active.
        self.editor.installEventFilter(self)
        self.editor.textChanged.connect(self._edited)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.status_label, 1)
        row.addWidget(self.append_button, 0, Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.editor, 1)
        layout.addLayout(row)
        if runtime.server_url is None:
            self.setEnabled(False)
            self.status_label.setText("Offline mirror: appending needs the stream's server.")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.editor
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.submit()
            return True
        return super().eventFilter(watched, event)

    def sizeHint(self) -> QSize:
        return QSize(400, 150)

    def submit(self) -> None:
        if self.state == "appending":
            return
        verdict = check_composer_text(self.editor.toPlainText())
        if verdict.event is None:
            self._show("error", verdict.error or "Invalid event.", self._error_style())
            return
        self._show("appending", "Appending…", "")
        event = self._keys.stamp(verdict.event)
        spawn(self._append(event), what="appending an event", owner=self)

    async def _append(self, event: dict[str, object]) -> None:
        try:
            committed = await self._runtime.append(event)
        except Exception as error:
            self._show("error", refusal_text(error), self._error_style())
            self.append_button.setText("Retry append")
            return
        self._keys.appended()
        self._appended_text = self.editor.toPlainText()
        self.append_button.setText("Append event")
        ok_style = f"color: {tone_colors('ok', widget_is_dark(self))[1]}"
        self._show("appended", f"Appended at offset {committed.get('offset')}.", ok_style)
        self.appended.emit(committed)

    def unsent_text(self) -> str | None:
        """The editor's text when it holds something not yet appended (kept across windows)."""
        text = self.editor.toPlainText()
        if not text.strip() or text in (DEFAULT_COMPOSER_TEXT, self._appended_text):
            return None
        return text

    def restore_draft(self, text: str) -> None:
        self.editor.setPlainText(text)

    def _edited(self) -> None:
        if self.state in ("appended", "error"):
            self._show("idle", "", "")

    def _error_style(self) -> str:
        return error_text_style(widget_is_dark(self))

    def _show(self, state: str, text: str, style: str) -> None:
        self.state = state
        self.status_label.setText(text)
        self.status_label.setStyleSheet(style)
