"""The search box above a stream list (Ctrl+F): type to find, Enter / Shift+Enter (or F3 /
Shift+F3) to step through the hits, Esc to close; shows "hit k of n" and whether the search
index still covers only part of the mirror."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

from ui.find_labels import hit_text
from ui.search_session import FindHost, SearchSession


class SearchBar(QWidget):
    def __init__(self, host: FindHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = SearchSession(host, self)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Find in events: type, payload, metadata")
        self.edit.setAccessibleName("Find in events")
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self.session.set_text)
        self.edit.installEventFilter(self)
        self.hits_label = QLabel()
        self.hits_label.setAccessibleName("Search hits")
        self.note_label = QLabel()
        self.note_label.setAccessibleName("Search index progress")
        self.note_label.setStyleSheet("color: palette(placeholder-text)")
        buttons = []
        for text, tip, forward in (
            ("▲", "Previous hit (Shift+F3)", False),
            ("▼", "Next hit (F3)", True),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setAccessibleName(tip)
            button.clicked.connect(lambda _=False, f=forward: self.session.step(f))
            buttons.append(button)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Close the search (Esc)")
        close.setAutoRaise(True)
        close.clicked.connect(self.close_bar)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(QLabel("Find"))
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.hits_label)
        layout.addWidget(self.note_label)
        for button in buttons:
            layout.addWidget(button)
        layout.addWidget(close)
        self.session.changed.connect(self._show_state)
        self.hide()

    def open_bar(self) -> None:
        self.show()
        self.edit.setFocus()
        self.edit.selectAll()

    def close_bar(self) -> None:
        self.edit.clear()
        self.session.run_now()
        self.hide()

    def step(self, forward: bool) -> None:
        if self.isHidden() or not self.edit.text():
            self.open_bar()
            return
        self.session.step(forward)

    def _show_state(self) -> None:
        state = self.session.state
        if not state.text:
            self.hits_label.setText("")
        elif state.error:
            self.hits_label.setText(f"search failed: {state.error}")
        else:
            self.hits_label.setText(hit_text(state.k, state.n))
        self.note_label.setText(state.index_note or "")
        self.note_label.setVisible(bool(state.index_note))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
                self.session.step(not shift)
                return True
            if event.key() == Qt.Key.Key_Escape:
                self.close_bar()
                return True
        return super().eventFilter(watched, event)
