"""Tools › Local mirrors…: listing, deleting (confirmed, never a mirror being written), and
mirrors of one path on two servers told apart in the stream browser."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, fresh_path, ui_harness, wait_for

from mirror.election import WriterElection
from mirror.paths import mirror_file, writer_lock_file
from server.run import EmbeddedServer
from ui.mirror_manager import COLUMNS
from ui.targets import ServerEntry, StreamTarget


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


def subscribed(qtbot: QtBot, ui: UiHarness, path: str) -> Path:
    """Open `path` until it is mirrored, close its window, and return the mirror file."""
    window = ui.open(path)
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.status.connection == "subscribed" and pane.status.event_count > 0)
    window.close()
    return mirror_file(ui.data_dir, ui.server_url, "default", path)


def answer_next_question(button: QMessageBox.StandardButton) -> None:
    def click() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box.button(button).click()
        else:
            QTimer.singleShot(20, click)

    QTimer.singleShot(20, click)


def test_the_manager_lists_mirrors_and_deletes_only_what_nobody_writes(
    qtbot: QtBot, ui: UiHarness
) -> None:
    kept, gone = fresh_path(), fresh_path()
    gone_file = subscribed(qtbot, ui, gone)
    window = ui.open(kept)
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.status.connection == "subscribed")
    kept_file = pane.runtime.mirror_file

    manager = window.open_mirror_manager()
    qtbot.addWidget(manager)
    manager.confirm = True
    wait_for(qtbot, lambda: not manager.loading and manager.item_for(gone_file) is not None)
    row = manager.item_for(gone_file)
    assert row is not None
    cells = dict(zip(COLUMNS, (row.text(i) for i in range(len(COLUMNS))), strict=True))
    assert cells["Server"] == "embedded" and cells["Namespace"] == "default"
    assert cells["Path"] == gone and int(cells["Events"]) >= 3
    assert cells["Size"].endswith(("KB", "MB")) and cells["Last synced"] == "just now"

    # The stream open in this window: refused before any question.
    kept_row = manager.item_for(kept_file)
    assert kept_row is not None
    manager.tree.setCurrentItem(kept_row)
    manager.delete_selected()
    assert "open in a window here" in manager.message.text()
    assert kept_file.exists()

    # Another process writes it: refused, with the holder's pid.
    manager.tree.setCurrentItem(row)
    holder = WriterElection(writer_lock_file(gone_file))
    assert holder.try_acquire()
    try:
        answer_next_question(QMessageBox.StandardButton.Yes)
        manager.delete_selected()
        wait_for(qtbot, lambda: manager.message.text().startswith("Not deleted:"))
        assert f"process {os.getpid()}" in manager.message.text()
        assert gone_file.exists()
    finally:
        holder.release()

    answer_next_question(QMessageBox.StandardButton.No)
    manager.delete_selected()
    assert gone_file.exists()

    answer_next_question(QMessageBox.StandardButton.Yes)
    manager.delete_selected()
    wait_for(qtbot, lambda: not gone_file.exists())
    wait_for(qtbot, lambda: not manager.loading and manager.item_for(gone_file) is None)
    assert not Path(f"{gone_file}-wal").exists()
    assert manager.item_for(kept_file) is not None


def test_one_path_on_two_servers_is_told_apart_in_the_browser(
    qtbot: QtBot, ui: UiHarness, tmp_path: Path
) -> None:
    path = fresh_path()
    subscribed(qtbot, ui, path)
    with EmbeddedServer(tmp_path / "other") as other:
        lab = ServerEntry("Lab", other.url)
        window = ui.ctx.new_window(StreamTarget(lab, "default", path))
        qtbot.addWidget(window)
        pane = window.current
        assert pane is not None
        wait_for(qtbot, lambda: pane.status.connection == "subscribed")
        window.browser.refresh_mirrors()
        wait_for(qtbot, lambda: len(window.browser.mirror_items(path)) == 2)
        labels = sorted(item.text(0) for item in window.browser.mirror_items(path))
        other_host = other.url.removeprefix("http://")
        assert labels == sorted([f"{path} · embedded", f"{path} · {other_host}"])
        window.close()
