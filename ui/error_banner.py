"""A pane's error banner: what is wrong, in words, and buttons for what to do about it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from ui.palette import tone_colors, widget_is_dark
from ui.pane_state import ACTION_LABELS


class ErrorBanner(QFrame):
    """Shows one message with up to three actions; ``actionTriggered`` names the one clicked."""

    actionTriggered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("error-banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Stream error")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons: dict[str, QPushButton] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        for action, text in ACTION_LABELS.items():
            button = QPushButton(text)
            button.setAutoDefault(False)
            button.clicked.connect(lambda _checked=False, a=action: self.actionTriggered.emit(a))
            self.buttons[action] = button
            layout.addWidget(button)
        self._tone = "error"
        self.hide()

    def show_message(self, text: str | None, actions: tuple[str, ...], tone: str = "error") -> None:
        self.setVisible(bool(text))
        if self.label.text() != (text or ""):
            self.label.setText(text or "")
        for action, button in self.buttons.items():
            button.setVisible(action in actions)
        self._tone = tone
        self.restyle()

    def text(self) -> str:
        return self.label.text()

    def restyle(self) -> None:
        # Restyling re-polishes the widget: only when the look changed.
        background, text = tone_colors(self._tone, widget_is_dark(self))
        style = f"#error-banner {{ background: {background}; border-radius: 4px; }}"
        label_style = f"color: {text};"
        if self.styleSheet() != style:
            self.setStyleSheet(style)
        if self.label.styleSheet() != label_style:
            self.label.setStyleSheet(label_style)
