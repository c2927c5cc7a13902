"""The field filter bar (combined with the type filter, completion, a bad expression explained
at its column with the view unchanged, a windowed filtered list) and jumps to an offset or a
time in the raw and feed views, on real mirror files."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from find_support import WrittenMirror, offline_runtime
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_support import wait_for

from mirror.search.filter_lang import FilterError, parse_filter
from ui.feed_view import FeedView
from ui.file_jobs import listed_events_json
from ui.ports import RuntimeLike
from ui.raw_view import RawEventsView
from ui.time_display import time_display
from ui.time_text import shown_time

PAGE = "events.iterate.com/web/page"
CLICK = "events.iterate.com/web/click"
EVENTS = 2000


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[WrittenMirror]:
    written = WrittenMirror(tmp_path / "stream.sqlite3")
    written.add(
        *(
            {
                "type": PAGE if i % 4 else CLICK,
                "payload": {"user": {"id": f"u{i % 2}"}, "text": "refund" if i % 100 == 0 else ""},
                "metadata": {"latencyMs": i % 1000},
            }
            for i in range(1, EVENTS + 1)
        )
    )
    yield written
    written.close()


@pytest.fixture
def runtime(qtbot: QtBot, tmp_path: Path, mirror: WrittenMirror) -> Iterator[RuntimeLike]:
    with offline_runtime(qtbot, tmp_path, mirror) as opened:
        yield opened


@pytest.fixture
def view(qtbot: QtBot, runtime: RuntimeLike) -> RawEventsView:
    shown = RawEventsView(runtime)
    qtbot.addWidget(shown)
    shown.resize(1000, 600)
    shown.show()
    wait_for(qtbot, lambda: shown.model.rowCount() == EVENTS)
    return shown


def filter_by(qtbot: QtBot, view: RawEventsView, text: str) -> None:
    view.filter_bar.edit.setText(text)
    QTest.keyClick(view.filter_bar.edit, Qt.Key.Key_Return)


def test_field_filter_with_types_completion_and_a_bad_expression(
    qtbot: QtBot, view: RawEventsView
) -> None:
    model = view.model
    filter_by(qtbot, view, 'payload.user.id = "u1" and metadata.latencyMs > 500')
    # Odd i with i % 1000 > 500: 250 of every 1000 events.
    wait_for(qtbot, lambda: model.filtered == 500 and model.rowCount() == 500)
    assert view.count_label.text() == "500 filtered events / 2,000 total events"
    last = model.rowCount() - 1
    wait_for(qtbot, lambda: model.event_at(last) is not None)
    assert model.loaded_row_count() <= 200  # windowed: one page of the filtered list
    event = model.event_at(last)
    assert event is not None and event.offset == 1999

    # Export writes what the list shows (read a page at a time).
    exported = [json.loads(line) for line in listed_events_json(model.lookups, model.list_query, 7)]
    assert len(exported) == 500 and [e["offset"] for e in exported][:3] == [501, 503, 505]
    assert all(e["payload"]["user"]["id"] == "u1" for e in exported)

    view.select_type(CLICK)  # combined: clicks are i % 4 == 0, never odd
    wait_for(qtbot, lambda: model.filtered == 0 and model.rowCount() == 0)
    assert view.empty_label.text() == "No stored event matches the filter."
    view.select_type(None)
    wait_for(qtbot, lambda: model.rowCount() == 500)

    bad = 'payload.user.id = "u1" and metadata.latencyMs >'
    with pytest.raises(FilterError) as expected:
        parse_filter(bad)
    filter_by(qtbot, view, bad)
    message = view.filter_bar.message
    assert message.isVisible() and message.text() == str(expected.value)
    assert f"at column {expected.value.column}" in message.text()
    assert view.filter_bar.edit.cursorPosition() == expected.value.column - 1
    assert model.where == 'payload.user.id = "u1" and metadata.latencyMs > 500'
    assert model.rowCount() == 500  # nothing changed in the view

    view.filter_bar.load_names()
    names = view.filter_bar.completer.model()
    wait_for(qtbot, lambda: names.rowCount() > 2)
    listed = [names.index(i, 0).data() for i in range(names.rowCount())]
    assert {"payload.user.id", "metadata.latencyMs", "payload.text", "type"} <= set(listed)

    view.filter_bar.clear()
    wait_for(qtbot, lambda: model.rowCount() == EVENTS and model.where is None)
    assert not message.isVisible()


def jump(qtbot: QtBot, host: RawEventsView | FeedView, text: str) -> str:
    """Type into the jump dialog and press Enter: "" once it landed (and closed), else the
    message it shows (it stays open until closed here)."""
    dialog = host.open_jump()
    landed: list[bool] = []
    dialog.accepted.connect(lambda: landed.append(True))
    dialog.edit.setText(text)
    QTest.keyClick(dialog.edit, Qt.Key.Key_Return)
    wait_for(qtbot, lambda: bool(landed) or bool(dialog.message.text()))
    if landed:
        return ""
    message = dialog.message.text()
    dialog.reject()
    return message


def selected_offset(view: RawEventsView) -> int | None:
    event = view.model.event_at(view.list.currentIndex().row())
    return None if event is None else event.offset


def test_jump_to_an_offset_and_to_a_time(qtbot: QtBot, view: RawEventsView) -> None:
    assert view.list.pin.pinned
    assert jump(qtbot, view, "1,234") == ""
    wait_for(qtbot, lambda: selected_offset(view) == 1234)
    assert not view.list.pin.pinned  # landed: the tail no longer carries the list away

    # Offset n was created at 12:00:00 + n seconds, UTC.
    time_display().set_utc(True)
    try:
        assert jump(qtbot, view, "12:20:05") == ""
        wait_for(qtbot, lambda: selected_offset(view) == 20 * 60 + 5)
        assert jump(qtbot, view, "2026-06-01T12:10:00.500Z") == ""
        wait_for(qtbot, lambda: selected_offset(view) == 601)
        assert jump(qtbot, view, "23:00") == "no event at or after 2026-06-01T23:00:00.000Z"
        assert "expected HH:MM" in jump(qtbot, view, "noon")
    finally:
        time_display().set_utc(False)
    # In local time, the clock the list shows for an event lands on it.
    local_clock = shown_time("2026-06-01T12:05:00.000Z", False)[11:19]
    assert jump(qtbot, view, local_clock) == ""
    wait_for(qtbot, lambda: selected_offset(view) == 300)

    # Within a filter, a jump lands on the first listed event at or after the offset.
    filter_by(qtbot, view, 'payload.user.id = "u0"')
    wait_for(qtbot, lambda: view.model.rowCount() == 1000)
    assert jump(qtbot, view, "7") == ""
    wait_for(qtbot, lambda: selected_offset(view) == 8)
    assert jump(qtbot, view, "2001") == "no listed event at or after offset 2,001"


def test_jump_in_the_feed(qtbot: QtBot, runtime: RuntimeLike) -> None:
    feed = FeedView(runtime)
    qtbot.addWidget(feed)
    feed.show()
    wait_for(qtbot, lambda: feed.model.rowCount() > 0)
    assert jump(qtbot, feed, "1234") == ""

    def landed() -> bool:
        item = feed.model.item_at(feed.list.currentIndex().row())
        return item is not None and item.first_offset <= 1234 <= item.last_offset

    wait_for(qtbot, landed)
    assert not feed.list.pin.pinned
