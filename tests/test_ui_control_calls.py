"""The app's Kill and Reset against a server that answers them as iterate's does (the call
rejects with ``kill requested`` after doing its work): reported as done, and the mirror follows."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest
from iterate_like_server import iterate_like_app, serve_in_thread
from pytestqt.qtbot import QtBot
from server_support import CREATED, WOKEN
from ui_support import UiHarness, fresh_path, qt_asyncio, wait_for

from ui.main_window import MainWindow
from ui.stream_pane import StreamPane

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with qt_asyncio(), serve_in_thread(iterate_like_app(tmp_path / "server")) as url:
        harness = UiHarness(qtbot, tmp_path / "data", url)
        try:
            yield harness
        finally:
            harness.close()


def ready(qtbot: QtBot, window: MainWindow, count: int) -> StreamPane:
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.status.connection == "subscribed")
    wait_for(qtbot, lambda: pane.raw_view.model.total == count)
    return pane


def shows(window: MainWindow, text: str) -> bool:
    return window.statusBar().currentMessage() == text


def test_kill_answered_with_kill_requested_is_done(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    ready(qtbot, window, 3)
    window.menu_actions["kill"].trigger()
    wait_for(qtbot, lambda: shows(window, "Kill: done"))
    pane = ready(qtbot, window, 5)
    assert pane.raw_view.model.type_counts[WOKEN] == 2


def test_reset_answered_with_kill_requested_is_done(qtbot: QtBot, ui: UiHarness) -> None:
    path = fresh_path()
    ui.append(path, [{"type": "before-reset", "payload": {}}])
    window = ui.open(path)
    pane = ready(qtbot, window, 4)
    window.menu_actions["reset"].trigger()
    wait_for(qtbot, lambda: shows(window, "Reset: done"))
    wait_for(qtbot, lambda: "before-reset" not in pane.raw_view.model.type_counts)
    pane = ready(qtbot, window, 3)
    assert pane.raw_view.model.type_counts[CREATED] == 1
