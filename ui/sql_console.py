"""A read-only SQL console over one mirror: the schema beside the editor, results in a table,
errors inline, writes refused by the reader, a running query can be cancelled, statements kept
in a history (Up/Down, kept across runs), and a result exported to CSV or JSON Lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QCloseEvent, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
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
from ui.result_export import export_result
from ui.sql_history import StatementHistory
from ui.sql_schema import SchemaPanel

MAX_ROWS = 10_000
DEFAULT_SQL = "SELECT type, count(*) AS n\nFROM events\nGROUP BY type\nORDER BY n DESC"
AnyIndex = QModelIndex | QPersistentModelIndex


class HistoryStore(Protocol):
    """Where the statement history is kept between runs (the app's settings)."""

    def sql_history(self) -> list[str]: ...
    def save_sql_history(self, statements: list[str]) -> None: ...


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
    def __init__(
        self,
        runtime: RuntimeLike,
        parent: QWidget | None = None,
        *,
        history_store: HistoryStore | None = None,
    ) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self._history_store = history_store
        self.history = StatementHistory(history_store.sql_history() if history_store else [])
        self.setWindowTitle(f"SQL console — {runtime.path} ({runtime.mirror_file.name})")
        self.resize(820, 560)
        self.running = False
        self.exporting = False
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
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_jsonl_button = QPushButton("Export JSONL…")
        for button, suffix in (
            (self.export_csv_button, ".csv"),
            (self.export_jsonl_button, ".jsonl"),
        ):
            button.setEnabled(False)
            button.setAutoDefault(False)  # Enter in the dialog never starts an export
            button.clicked.connect(lambda _checked=False, s=suffix: self._choose_export(s))
        self.schema = SchemaPanel(runtime.reader.query_readonly)
        self.schema.insertText.connect(self._insert)
        self.editor.installEventFilter(self)
        for keys, slot in (
            ("Ctrl+Return", self.run_query),
            ("Ctrl+Enter", self.run_query),
            ("Ctrl+.", self.cancel),
        ):
            QShortcut(QKeySequence(keys), self).activated.connect(slot)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.export_csv_button)
        buttons.addWidget(self.export_jsonl_button)
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
        beside = QSplitter(Qt.Orientation.Horizontal)
        beside.addWidget(self.schema)
        beside.addWidget(splitter)
        beside.setStretchFactor(1, 3)
        beside.setSizes([220, 600])
        layout = QVBoxLayout(self)
        layout.addWidget(beside)
        self.schema.load()

    def run_query(self) -> None:
        sql = self.editor.toPlainText().strip()
        if self.running or not sql:
            return
        self.history.add(sql)
        if self._history_store is not None:
            self._history_store.save_sql_history(self.history.entries)
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
        for button in (self.export_csv_button, self.export_jsonl_button):
            button.setEnabled(bool(columns))
        # Fit the columns to what came back, but keep one long value from hiding the others.
        self.results.resizeColumnsToContents()
        for column in range(len(columns)):
            self.results.setColumnWidth(column, min(self.results.columnWidth(column), 480))
        shown = counted(len(rows), "row")
        self.status_label.setText(
            f"First {shown} (the rest is not shown)" if len(rows) >= MAX_ROWS else shown
        )

    # --- history, schema, export ------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Up on the first line (or Ctrl+Up) shows the previous statement, Down on the last
        line (or Ctrl+Down) the next one."""
        if watched is self.editor and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            cursor = self.editor.textCursor()
            ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
            if event.key() == Qt.Key.Key_Up and (ctrl or cursor.blockNumber() == 0):
                return self.show_previous()
            last = self.editor.document().blockCount() - 1
            if event.key() == Qt.Key.Key_Down and (ctrl or cursor.blockNumber() == last):
                return self.show_next()
        return super().eventFilter(watched, event)

    def show_previous(self) -> bool:
        statement = self.history.previous(self.editor.toPlainText())
        if statement is not None:
            self.editor.setPlainText(statement)
        return statement is not None

    def show_next(self) -> bool:
        statement = self.history.next()
        if statement is not None:
            self.editor.setPlainText(statement)
        return statement is not None

    def _insert(self, text: str) -> None:
        self.editor.insertPlainText(text)
        self.editor.setFocus()

    def _choose_export(self, suffix: str) -> None:
        name = f"{self._runtime.path.strip('/').replace('/', '-') or 'result'}-query{suffix}"
        chosen, _ = QFileDialog.getSaveFileName(
            self, f"Export the result as {suffix[1:].upper()}", name, f"*{suffix}"
        )
        if chosen:
            self.export_to(Path(chosen))

    def export_to(self, target: Path) -> None:
        """Write the shown result to ``target`` (CSV for .csv, JSON Lines otherwise)."""
        columns, rows = list(self.result_model.columns), list(self.result_model.rows)
        self.exporting = True
        spawn(self._export(target, columns, rows), what="exporting a query result", owner=self)

    async def _export(self, target: Path, columns: list[str], rows: list[Sequence[Any]]) -> None:
        try:
            written = await run_blocking(export_result, target, columns, rows, long=True)
        except OSError as error:
            self.status_label.setStyleSheet(error_text_style(widget_is_dark(self)))
            self.status_label.setText(f"Could not write {target}: {error.strerror or error}")
        else:
            self.status_label.setStyleSheet("")
            self.status_label.setText(f"Wrote {counted(written, 'row')} to {target}")
        finally:
            self.exporting = False

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
