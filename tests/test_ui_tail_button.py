"""The scroll buttons of a list sit beside its rows, never over their text."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, event, fresh_path, ui_harness, wait_for

DEBUG = "events.iterate.com/debug"


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


def test_scroll_buttons_never_cover_row_text(qtbot: QtBot, ui: UiHarness) -> None:
    path = fresh_path()
    ui.append(path, [event(f"{DEBUG}/row", i=i) for i in range(120)])
    window = ui.open(path)
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.raw_view.model.total == 123)
    view = pane.raw_view.list
    wait_for(qtbot, view.at_end)
    assert not view.bottom_button.isVisible()
    full_width = view.viewport().width()

    view.scroll_to_top()
    ui.append(path, [event(f"{DEBUG}/unseen")])
    button = view.bottom_button
    wait_for(qtbot, lambda: button.isVisible() and "1 new" in view.bottom_button_label())
    rows = view.viewport().geometry()
    for button in (view.top_button, view.bottom_button):
        if button.isVisible():
            assert not button.geometry().intersects(rows), button.accessibleName()
            assert button.geometry().right() < view.width()
    # The rows give up only the gutter's width while a button shows, and get it back after.
    assert view.viewport().width() < full_width
    view.scroll_to_end()
    wait_for(qtbot, lambda: not view.bottom_button.isVisible())
    wait_for(qtbot, lambda: view.viewport().width() == full_width)
