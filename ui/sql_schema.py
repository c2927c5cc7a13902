"""The SQL console's schema panel: the mirror's tables and views with their columns, and its
indexes, read through the console's own read-only queries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from ui.offload import run_blocking, spawn

Query = Callable[[str, int], tuple[Sequence[str], Sequence[Sequence[Any]]]]

_OBJECTS_SQL = (
    "SELECT type, name, tbl_name FROM sqlite_schema "
    "WHERE name NOT LIKE 'sqlite_%' ORDER BY type DESC, name"
)
_MAX_OBJECTS = 1000


@dataclass
class SchemaTable:
    name: str
    kind: str  # "table" or "view"
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, declared type)
    indexes: list[str] = field(default_factory=list)


def _quoted(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def read_schema(query: Query) -> list[SchemaTable]:
    """Tables and views (columns in order) with their indexes (blocking: run off the UI)."""
    _columns, objects = query(_OBJECTS_SQL, _MAX_OBJECTS)
    tables = {
        str(name): SchemaTable(str(name), str(kind))
        for kind, name, _table in objects
        if kind in ("table", "view")
    }
    for kind, name, table in objects:
        if kind == "index" and str(table) in tables:
            tables[str(table)].indexes.append(str(name))
    for table in tables.values():
        # table_xinfo lists generated columns too (table_info hides them).
        _names, columns = query(
            f"SELECT name, type FROM pragma_table_xinfo({_quoted(table.name)}) WHERE hidden != 1",
            _MAX_OBJECTS,
        )
        table.columns = [(str(name), str(kind or "")) for name, kind in columns]
    return sorted(tables.values(), key=lambda t: (t.kind != "table", t.name))


class SchemaPanel(QTreeWidget):
    """Double-clicking a name asks for it to be inserted into the editor (``insertText``)."""

    insertText = Signal(str)

    def __init__(self, query: Query, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._query = query
        self.setHeaderLabels(["Schema", "Type"])
        self.setAccessibleName("Mirror schema")
        self.itemDoubleClicked.connect(lambda item, _column: self.insertText.emit(item.text(0)))
        self.error: str | None = None
        self.loaded = False

    def load(self) -> None:
        spawn(self._load(), what="reading the mirror schema", owner=self)

    async def _load(self) -> None:
        try:
            tables = await run_blocking(read_schema, self._query)
        except Exception as error:
            self.error = str(error)
            self.clear()
            failed = QTreeWidgetItem(self, [f"Schema unavailable: {error}"])
            failed.setFlags(Qt.ItemFlag.NoItemFlags)
            self.loaded = True
            return
        self.clear()
        for table in tables:
            item = QTreeWidgetItem(self, [table.name, table.kind])
            for name, kind in table.columns:
                QTreeWidgetItem(item, [name, kind])
            if table.indexes:
                indexes = QTreeWidgetItem(item, ["indexes", ""])
                for index in table.indexes:
                    QTreeWidgetItem(indexes, [index, "index"])
        self.resizeColumnToContents(0)
        self.loaded = True

    def table_item(self, name: str) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item is not None and item.text(0) == name:
                return item
        return None
