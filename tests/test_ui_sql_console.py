"""The SQL console's schema panel, statement history (Up/Down, kept across runs) and export of a
result to CSV and JSON Lines."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, fresh_path, ui_harness, wait_for

from app.settings import Settings
from ui.sql_console import SqlConsole
from ui.sql_history import StatementHistory


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


def console_on_a_stream(qtbot: QtBot, ui: UiHarness) -> SqlConsole:
    window = ui.open(fresh_path())
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.status.connection == "subscribed" and pane.status.event_count > 0)
    console = window.stream_actions.open_sql_console()
    assert console is not None
    qtbot.addWidget(console)
    return console


def run(qtbot: QtBot, console: SqlConsole, sql: str) -> None:
    console.editor.setPlainText(sql)
    console.run_query()
    wait_for(qtbot, lambda: not console.running)


def test_history_walks_like_a_shell() -> None:
    history = StatementHistory(["SELECT 1"])
    history.add("SELECT 2")
    history.add("SELECT 2")  # no two equal neighbours
    assert history.entries == ["SELECT 1", "SELECT 2"]
    assert history.previous("draft") == "SELECT 2"
    assert history.previous("SELECT 2") == "SELECT 1"
    assert history.previous("SELECT 1") is None
    assert history.next() == "SELECT 2"
    assert history.next() == "draft"
    assert history.next() is None


def test_the_schema_panel_lists_tables_columns_and_indexes(qtbot: QtBot, ui: UiHarness) -> None:
    console = console_on_a_stream(qtbot, ui)
    schema = console.schema
    wait_for(qtbot, lambda: schema.loaded)
    assert schema.error is None
    events = schema.table_item("events")
    assert events is not None and events.text(1) == "table"
    children = [c for i in range(events.childCount()) if (c := events.child(i)) is not None]
    assert {"offset", "type"} <= {child.text(0) for child in children}
    indexes = next(child for child in children if child.text(0) == "indexes")
    assert indexes.childCount() >= 1
    console.editor.setPlainText("SELECT * FROM ")
    console.editor.moveCursor(QTextCursor.MoveOperation.End)
    schema.itemDoubleClicked.emit(events, 0)
    assert console.editor.toPlainText() == "SELECT * FROM events"


def test_statements_come_back_with_up_and_down_and_on_the_next_run(
    qtbot: QtBot, ui: UiHarness
) -> None:
    console = console_on_a_stream(qtbot, ui)
    run(qtbot, console, "SELECT 1 AS one")
    run(qtbot, console, "SELECT count(*) FROM events")
    console.editor.setPlainText("SELECT 'draft'")
    console.editor.moveCursor(QTextCursor.MoveOperation.Start)
    QTest.keyClick(console.editor, Qt.Key.Key_Up)
    assert console.editor.toPlainText() == "SELECT count(*) FROM events"
    QTest.keyClick(console.editor, Qt.Key.Key_Up)
    assert console.editor.toPlainText() == "SELECT 1 AS one"
    QTest.keyClick(console.editor, Qt.Key.Key_Down)
    QTest.keyClick(console.editor, Qt.Key.Key_Down)
    assert console.editor.toPlainText() == "SELECT 'draft'"
    # Kept in the settings file: a new console (the next run of the app) has them.
    saved = Settings(ui.data_dir / "settings.json").sql_history()
    assert saved[-2:] == ["SELECT 1 AS one", "SELECT count(*) FROM events"]


def test_a_result_is_exported_to_csv_and_jsonl(qtbot: QtBot, ui: UiHarness, tmp_path: Path) -> None:
    console = console_on_a_stream(qtbot, ui)
    run(qtbot, console, 'SELECT "offset", type, x\'00ff\' AS raw FROM events ORDER BY "offset"')
    rows = console.result_model.rows
    assert len(rows) >= 3 and console.export_csv_button.isEnabled()

    console.export_to(tmp_path / "result.csv")
    wait_for(qtbot, lambda: not console.exporting)
    with (tmp_path / "result.csv").open(newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == ["offset", "type", "raw"]
    assert table[1] == [str(rows[0][0]), rows[0][1], "00ff"]
    assert len(table) == len(rows) + 1

    console.export_to(tmp_path / "result.jsonl")
    wait_for(qtbot, lambda: not console.exporting)
    lines = (tmp_path / "result.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows)
    assert json.loads(lines[0]) == {
        "offset": rows[0][0],
        "type": rows[0][1],
        "raw": {"$hex": "00ff"},
    }
    assert console.status_label.text() == f"Wrote {len(rows)} rows to {tmp_path / 'result.jsonl'}"
    assert not (tmp_path / "result.jsonl.partial").exists()
