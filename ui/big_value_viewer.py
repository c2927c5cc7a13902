"""A window showing one whole event, however big: read (already indented) off the UI thread,
then shown as a table of wrapped lines with fixed row heights, so Qt lays out only the lines
on screen (a QListView lays out every row: 175 ms for the 100k lines of a 20 MB event)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFontMetrics, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.find_labels import byte_size
from ui.json_paint import monospace_font
from ui.labels import counted
from ui.offload import run_blocking, spawn

LINE_COLUMNS = 200


def wrapped_lines(text: str, width: int = LINE_COLUMNS) -> list[str]:
    """Every line of ``text`` cut into pieces of at most ``width`` characters."""
    lines: list[str] = []
    for line in text.split("\n"):
        lines.extend(line[i : i + width] for i in range(0, max(len(line), 1), width))
    return lines


def _format(load: Callable[[], str]) -> tuple[str, list[str]]:
    text = load()
    return text, wrapped_lines(text)


class _Lines(QAbstractListModel):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.lines: list[str] = []

    def set_lines(self, lines: list[str]) -> None:
        self.beginResetModel()
        self.lines = lines
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.lines)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and index.isValid():
            return self.lines[index.row()]
        return None


class BigValueViewer(QDialog):
    def __init__(self, title: str, load: Callable[[], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.resize(900, 640)
        self.text: str | None = None
        self.status = QLabel("Loading…")
        self.status.setAccessibleName("Viewer status")
        self.lines = _Lines(self)
        self.list = QTableView()
        self.list.setModel(self.lines)
        self.list.setFont(monospace_font())
        self.list.setShowGrid(False)
        self.list.setWordWrap(False)
        self.list.horizontalHeader().hide()
        self.list.horizontalHeader().setStretchLastSection(True)
        rows = self.list.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(QFontMetrics(monospace_font()).lineSpacing() + 2)
        self.copy_button = QPushButton("Copy all")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_all)
        bar = QHBoxLayout()
        bar.addWidget(self.status, 1)
        bar.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.list, 1)
        spawn(self._load(load), what="loading the whole event", owner=self)

    async def _load(self, load: Callable[[], str]) -> None:
        try:
            text, lines = await run_blocking(_format, load, long=True)
        except Exception as error:
            self.status.setText(f"Could not load the event: {error}")
            return
        self.text = text
        self.lines.set_lines(lines)
        self.status.setText(f"{byte_size(len(text))} · {counted(len(lines), 'line')}")
        self.copy_button.setEnabled(True)

    def copy_all(self) -> None:
        if self.text is not None:
            QGuiApplication.clipboard().setText(self.text)
