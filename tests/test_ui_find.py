"""Search in the raw and feed views of a real mirror: hits stepped in offset order with
"hit k of n", marked in the rows and in the expanded JSON; a feed row holding a hit opens at it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest
from find_support import WrittenMirror, offline_runtime
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from ui_support import event, fresh_path, ui_harness, wait_for

from ui.feed_view import FeedView
from ui.ports import RuntimeLike
from ui.raw_view import RawEventsView

ORDER = "events.iterate.com/shop/order"
NOTE = "events.iterate.com/shop/note"
# Offsets whose event mentions a refund (the text differs in case to show it does not matter).
REFUND_OFFSETS = (4, 9, 17)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[WrittenMirror]:
    written = WrittenMirror(tmp_path / "stream.sqlite3")
    for offset in range(1, 21):
        text = "customer asked for a REFUND" if offset in REFUND_OFFSETS else f"order {offset}"
        written.add({"type": ORDER if offset % 5 else NOTE, "payload": {"text": text}})
    yield written
    written.close()


@pytest.fixture
def runtime(qtbot: QtBot, tmp_path: Path, mirror: WrittenMirror) -> Iterator[RuntimeLike]:
    with offline_runtime(qtbot, tmp_path, mirror) as opened:
        yield opened


def has_hit_mark(widget: QWidget, area: QRect | None = None) -> bool:
    """Some pixel (of ``area``) shows the hit colour (a pale amber over the light base)."""
    grabbed = widget.grab() if area is None else widget.grab(area)
    image = grabbed.toImage().convertToFormat(QImage.Format.Format_RGB32)
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            color = image.pixelColor(x, y)
            if color.red() > 235 and 205 < color.green() < 240 and 100 < color.blue() < 170:
                return True
    return False


def json_area(view: RawEventsView | FeedView, row: int) -> QRect:
    """The expanded JSON of a row, as it sits in the viewport now."""
    cell = view.list.visualRect(view.model.index(row, 0))
    top = cell.top() + view.list.row_height
    return QRect(0, top, view.list.viewport().width(), cell.bottom() - top)


def typed(qtbot: QtBot, view: RawEventsView | FeedView, text: str) -> None:
    view.search_bar.open_bar()
    QTest.keyClicks(view.search_bar.edit, text)
    session = view.search_bar.session

    def answered() -> bool:
        state = session.state
        done = state.n is not None and (state.n == 0 or state.k is not None)
        return not session.pending and state.text == text and done

    wait_for(qtbot, answered)


def press(view: RawEventsView | FeedView, shift: bool = False) -> None:
    modifier = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
    QTest.keyClick(view.search_bar.edit, Qt.Key.Key_Return, modifier)


def selected_offset(view: RawEventsView) -> int | None:
    event = view.model.event_at(view.list.currentIndex().row())
    return None if event is None else event.offset


def test_search_steps_through_hits_in_offset_order(qtbot: QtBot, runtime: RuntimeLike) -> None:
    view = RawEventsView(runtime)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    wait_for(qtbot, lambda: view.model.rowCount() == 20)
    typed(qtbot, view, "refund")
    bar = view.search_bar
    assert bar.hits_label.text() == "hit 1 of 3"
    wait_for(qtbot, lambda: selected_offset(view) == 4)
    assert not view.list.pin.pinned  # landing on a hit lets go of the tail
    assert bar.note_label.text() == "not indexed yet: scanning"

    seen: list[int | None] = []
    for _ in range(3):  # 9, 17, then around to 4
        press(view)
        wait_for(qtbot, lambda: bar.session.state.offset != (seen[-1] if seen else 4))
        seen.append(bar.session.state.offset)
        wait_for(qtbot, lambda: selected_offset(view) == seen[-1])
    assert seen == [9, 17, 4]
    assert bar.hits_label.text() == "hit 1 of 3"
    press(view, shift=True)  # back around to the last
    wait_for(qtbot, lambda: bar.session.state.offset == 17)
    assert bar.hits_label.text() == "hit 3 of 3"
    press(view, shift=True)
    wait_for(qtbot, lambda: bar.session.state.offset == 9)
    assert bar.hits_label.text() == "hit 2 of 3"

    # Marked in the row's preview, and in the expanded JSON.
    wait_for(qtbot, lambda: has_hit_mark(view.list.viewport()))
    row = view.list.currentIndex().row()
    view.model.toggle_expanded(row)
    wait_for(qtbot, lambda: view.list.is_row_tall(row))
    wait_for(qtbot, lambda: view.model.pretty_for_row(row) is not None)
    wait_for(qtbot, lambda: has_hit_mark(view.list.viewport(), json_area(view, row)))

    # A new text supersedes the old one; a filtered list searches within the filter.
    view.select_type(NOTE)
    bar.edit.clear()
    typed(qtbot, view, "refund")
    assert bar.hits_label.text() == "no hits"
    view.select_type(None)
    bar.edit.setText("order 1")
    # "order 1", 10..16, 18, 19 (17 is a refund)
    wait_for(qtbot, lambda: bar.hits_label.text() == "hit 1 of 10")
    bar.close_bar()
    assert view.model.highlight == "" and bar.isHidden()


def feed_row_holding(qtbot: QtBot, view: FeedView, offset: int) -> int:
    """The current row, once the view has landed on the feed row holding ``offset``."""

    def landed() -> bool:
        item = view.model.item_at(view.list.currentIndex().row())
        return item is not None and item.first_offset <= offset <= item.last_offset

    wait_for(qtbot, landed)
    return view.list.currentIndex().row()


def test_feed_row_holding_a_hit_opens_at_it(qtbot: QtBot, runtime: RuntimeLike) -> None:
    view = FeedView(runtime)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    wait_for(qtbot, lambda: view.model.rowCount() > 0)
    typed(qtbot, view, "refund")
    assert view.search_bar.hits_label.text() == "hit 1 of 3"
    row = feed_row_holding(qtbot, view, 4)
    wait_for(qtbot, lambda: view.model.is_row_expanded(row) and view.list.is_row_tall(row))
    wait_for(qtbot, lambda: has_hit_mark(view.list.viewport(), json_area(view, row)))
    press(view)
    wait_for(qtbot, lambda: view.search_bar.session.state.offset == 9)
    row = feed_row_holding(qtbot, view, 9)
    wait_for(qtbot, lambda: view.model.is_row_expanded(row))
    assert view.search_bar.hits_label.text() == "hit 2 of 3"


def test_window_shortcuts_find_and_step_on_a_live_stream(qtbot: QtBot, tmp_path: Path) -> None:
    with ui_harness(qtbot, tmp_path) as ui:
        path = fresh_path()
        ui.append(path, [event(ORDER, text=f"item {i}") for i in range(1, 6)])
        window = ui.open(path)
        pane = window.current
        assert pane is not None
        wait_for(qtbot, lambda: pane.status.connection == "subscribed")
        wait_for(qtbot, lambda: pane.raw_view.model.total >= 6)  # the stream's own events + 5
        shown = pane.raw_view.model.rowCount()
        actions = window.menu_actions
        assert actions["find"].shortcut().toString() == "Ctrl+F"
        assert actions["find_next"].shortcut().toString() == "F3"
        assert actions["find_previous"].shortcut().toString() == "Shift+F3"
        assert actions["go_to"].shortcut().toString() == "Ctrl+G"
        actions["find"].trigger()
        bar = pane.raw_view.search_bar
        assert bar.isVisible() and bar.edit.hasFocus()
        QTest.keyClicks(bar.edit, "item")
        wait_for(qtbot, lambda: bar.hits_label.text() == "hit 1 of 5")
        actions["find_next"].trigger()
        wait_for(qtbot, lambda: bar.hits_label.text() == "hit 2 of 5")
        actions["find_previous"].trigger()
        wait_for(qtbot, lambda: bar.hits_label.text() == "hit 1 of 5")
        first_hit = bar.session.state.offset
        wait_for(qtbot, lambda: selected_offset(pane.raw_view) == first_hit)
        # A live append does not move the list off the hit (the pin was let go); n follows.
        ui.append(path, [event(ORDER, text="item 6, later")])
        wait_for(qtbot, lambda: pane.raw_view.model.rowCount() == shown + 1)
        wait_for(qtbot, lambda: bar.hits_label.text() == "hit 1 of 6")  # counted again
        assert selected_offset(pane.raw_view) == first_hit
        assert not pane.raw_view.list.pin.pinned
