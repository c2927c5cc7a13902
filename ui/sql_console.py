"""A read-only SQL console over one mirror: results in a table, errors inline, writes refused
by the reader, and a running query can be cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from mirror.sql_guard import ReadOnlyRefused
from ui.json_paint import monospace_font
from ui.labels import counted
from ui.offload import run_blocking, spawn
from ui.palette import error_text_style, widget_is_dark
from ui.ports import RuntimeLike

MAX_ROWS = 10_000
DEFAULT_SQL = "SELECT type, count(*) AS n\nFROM events\nGROUP BY type\nORDER BY n DESC"
AnyIndex = QModelIndex | QPersistentModelIndex


class ResultModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns: list[str] = []
        self.rows: list[Sequence[Any]] = []

    def set_result(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.beginResetModel()
        self.columns = list(columns)
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section]
        return section + 1

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
        ):
            return None
        value = self.rows[index.row()][index.column()]
        if value is None:
            return "NULL"
        if isinstance(value, bytes | bytearray | memoryview):
            return f"<{len(bytes(value)):,} bytes>"
        text = str(value)
        return text if role == Qt.ItemDataRole.ToolTipRole or len(text) < 500 else text[:500] + "…"


class SqlConsole(QDialog):
    def __init__(self, runtime: RuntimeLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self.setWindowTitle(f"SQL console — {runtime.path} ({runtime.mirror_file.name})")
        self.resize(820, 560)
        self.running = False
        self.editor = QPlainTextEdit(DEFAULT_SQL)
        self.editor.setFont(monospace_font())
        self.editor.setAccessibleName("SQL")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run the query (Ctrl+Enter)")
        self.run_button.clicked.connect(self.run_query)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Interrupt the running query (Ctrl+.)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status_label = QLabel("Read-only: statements that write are refused.")
        self.status_label.setWordWrap(True)
        self.status_label.setAccessibleName("Query status")
        self.result_model = ResultModel(self)
        self.results = QTableView()
        self.results.setModel(self.result_model)
        self.results.setAlternatingRowColors(True)
        self.results.setWordWrap(False)
        self.results.horizontalHeader().setStretchLastSection(True)
        for keys, slot in (
            ("Ctrl+Return", self.run_query),
            ("Ctrl+Enter", self.run_query),
            ("Ctrl+.", self.cancel),
        ):
            QShortcut(QKeySequence(keys), self).activated.connect(slot)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.run_button)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.editor)
        top_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.results)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def run_query(self) -> None:
        sql = self.editor.toPlainText().strip()
        if self.running or not sql:
            return
        self._set_running(True)
        self.status_label.setStyleSheet("")
        self.status_label.setText("Running…")
        spawn(self._run(sql), what="running a console query", owner=self)

    async def _run(self, sql: str) -> None:
        try:
            columns, rows = await run_blocking(
                self._runtime.reader.query_readonly, sql, MAX_ROWS, long=True
            )
        except Exception as error:
            self.status_label.setStyleSheet(error_text_style(widget_is_dark(self)))
            # A refusal already says what happened ("read-only: VACUUM is not allowed").
            refused = isinstance(error, ReadOnlyRefused)
            self.status_label.setText(str(error) if refused else f"Error: {error}")
            return
        finally:
            self._set_running(False)
        self.result_model.set_result(columns, rows)
        # Fit the columns to what came back, but keep one long value from hiding the others.
        self.results.resizeColumnsToContents()
        for column in range(len(columns)):
            self.results.setColumnWidth(column, min(self.results.columnWidth(column), 480))
        shown = counted(len(rows), "row")
        self.status_label.setText(
            f"First {shown} (the rest is not shown)" if len(rows) >= MAX_ROWS else shown
        )

    def cancel(self) -> None:
        if self.running:
            self._runtime.reader.interrupt_query()

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()
        super().closeEvent(event)
