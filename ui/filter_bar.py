"""The field filter above the raw events (``payload.user.id = "u1"``, ``metadata.latencyMs >
500``, ``payload.text ~ "refund"``; the language of ``mirror.search.filter_lang``), combined with
the type filter. Enter applies it; a bad expression is explained at its column and changes
nothing. Field names seen in the stream's newest events complete the word at the cursor."""

from __future__ import annotations

import re

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

from mirror.search.fields import field_names
from mirror.search.filter_lang import FilterError, parse_filter
from ui.event_model import RawEventsModel
from ui.offload import run_blocking, spawn
from ui.palette import error_text_style, tone_colors, widget_is_dark

# The word being typed: a field path so far (keys, dots, quoted keys, indexes).
_WORD = re.compile(r'[A-Za-z0-9_$.\-\[\]"]*$')
_ALWAYS = ["offset", "type"]


def word_before(text: str, cursor: int) -> tuple[int, str]:
    """Where the word ending at ``cursor`` starts, and the word (pure)."""
    match = _WORD.search(text[:cursor])
    start = match.start() if match else cursor
    return start, text[start:cursor]


class FilterBar(QWidget):
    def __init__(self, model: RawEventsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self.edit = QLineEdit()
        self.edit.setAccessibleName("Field filter")
        self.edit.setPlaceholderText('Filter: payload.user.id = "u1" and metadata.latencyMs > 500')
        self.edit.setClearButtonEnabled(True)
        self.edit.returnPressed.connect(self.apply)
        self.edit.textEdited.connect(self._complete)
        self.message = QLabel()
        self.message.setAccessibleName("Field filter message")
        self.message.setStyleSheet(error_text_style(widget_is_dark(self)))
        self.message.hide()
        clear = QToolButton()
        clear.setText("Clear")
        clear.setToolTip("Show every event again (the type filter stays)")
        clear.clicked.connect(self.clear)
        self._names = QStringListModel(_ALWAYS, self)
        self.completer = QCompleter(self._names, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setWidget(self.edit)
        self.completer.activated.connect(self._insert)
        self._names_loaded = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 4)
        layout.addWidget(QLabel("Where"))
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.message)
        layout.addWidget(clear)

    # --- applying --------------------------------------------------------------------------

    def apply(self) -> bool:
        """Filter by the text; False (with the message shown, the view unchanged) if it is bad."""
        text = self.edit.text().strip()
        try:
            if text:
                parse_filter(text)
        except FilterError as error:
            self.message.setText(str(error))
            self.message.show()
            border = tone_colors("error", widget_is_dark(self))[1]
            self.edit.setStyleSheet(f"QLineEdit {{ border: 1px solid {border}; }}")
            self.edit.setCursorPosition(min(error.column - 1, len(self.edit.text())))
            self.edit.setFocus()
            return False
        self.message.hide()
        self.edit.setStyleSheet("")
        self._model.set_where(text or None)
        return True

    def clear(self) -> None:
        self.edit.clear()
        self.apply()

    # --- completion ------------------------------------------------------------------------

    def load_names(self) -> None:
        """Read the field names seen in the stream (once; off the UI thread)."""
        if not self._names_loaded:
            self._names_loaded = True
            spawn(self._load_names(), what="reading field names", owner=self)

    def _read_names(self) -> list[str]:
        return self._model.lookups.read(field_names)

    async def _load_names(self) -> None:
        try:
            names = await run_blocking(self._read_names)
        except Exception:
            self._names_loaded = False  # no mirror yet: try again on the next keystroke
            return
        self._names.setStringList(sorted(set(_ALWAYS) | set(names)))

    def _complete(self, text: str) -> None:
        self.load_names()
        _, word = word_before(text, self.edit.cursorPosition())
        popup = self.completer.popup()
        self.completer.setCompletionPrefix(word)
        if word and self.completer.completionCount() > 0:
            self.completer.complete()
        elif popup is not None:
            popup.hide()

    def _insert(self, name: str) -> None:
        text, cursor = self.edit.text(), self.edit.cursorPosition()
        start, _ = word_before(text, cursor)
        self.edit.setText(text[:start] + name + text[cursor:])
        self.edit.setCursorPosition(start + len(name))
