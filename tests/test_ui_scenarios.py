"""End-to-end scenarios of the desktop app (reference feed-and-ui.md §4.1, ported to Qt):
real embedded server on loopback, real mirror runtime and files, the real main window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox, QTreeWidgetItem
from pytestqt.qtbot import QtBot
from ui_support import (
    UiHarness,
    event,
    fresh_path,
    qt_asyncio,
    row_visible,
    ui_harness,
    visible_rows,
    wait_for,
)

from app.settings import Settings
from mirror.search.queries import SearchReads
from server.run import EmbeddedServer
from ui.composer import Composer
from ui.composer_input import DEFAULT_COMPOSER_TEXT
from ui.event_model import RawEventsModel
from ui.feed_model import FeedModel
from ui.file_jobs import partial_path
from ui.main_window import MainWindow
from ui.ports import RuntimeLike
from ui.server_dialog import ServerDialog
from ui.stream_browser import StreamBrowser
from ui.stream_list_view import StreamListView
from ui.stream_pane import StreamPane
from ui.targets import ServerEntry, StreamTarget

DEBUG = "events.iterate.com/debug"
CREATED = "events.iterate.com/stream/created"
WOKEN = "events.iterate.com/stream/woken"


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


def ready(qtbot: QtBot, window: MainWindow, count: int = 3) -> StreamPane:
    """The window's pane once it is subscribed and shows `count` events."""
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.status.connection == "subscribed")
    wait_for(qtbot, lambda: pane.raw_view.model.total == count)
    return pane


def compose(qtbot: QtBot, pane: StreamPane, text: str) -> None:
    """Type into the composer and press Ctrl+Enter."""
    pane.composer.editor.setPlainText(text)
    QTest.keyClick(pane.composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def append_via_composer(qtbot: QtBot, pane: StreamPane, event_type: str) -> None:
    compose(qtbot, pane, json.dumps(event(event_type, note="from the test")))
    wait_for(qtbot, lambda: pane.composer.state == "appended")


def all_rows(qtbot: QtBot, model: RawEventsModel) -> list[Any]:
    """Every row the model shows (small lists only), once loaded."""
    wait_for(qtbot, lambda: all(model.event_at(i) for i in range(model.rowCount())))
    return [model.event_at(i) for i in range(model.rowCount())]


def feed_items(qtbot: QtBot, model: FeedModel) -> list[Any]:
    wait_for(qtbot, lambda: all(model.item_at(i) for i in range(model.rowCount())))
    return [model.item_at(i) for i in range(model.rowCount())]


def test_append_through_the_composer_shows_the_row(qtbot: QtBot, ui: UiHarness) -> None:
    pane = ready(qtbot, ui.open(fresh_path()))
    assert [row.type for row in all_rows(qtbot, pane.raw_view.model)][:2] == [CREATED, WOKEN]
    append_via_composer(qtbot, pane, f"{DEBUG}/playwright-single")
    model = pane.raw_view.model
    wait_for(qtbot, lambda: model.total == 4)
    rows = all_rows(qtbot, model)
    assert rows[-1].type == f"{DEBUG}/playwright-single"
    wait_for(qtbot, lambda: row_visible(pane.raw_view.list, 3))
    assert pane.count_label.text() == "4 events"


def test_type_filter_counts(qtbot: QtBot, ui: UiHarness) -> None:
    pane = ready(qtbot, ui.open(fresh_path()))
    primary, secondary = f"{DEBUG}/primary", f"{DEBUG}/secondary"
    for event_type in (primary, secondary, primary):
        append_via_composer(qtbot, pane, event_type)
    raw = pane.raw_view
    wait_for(qtbot, lambda: raw.model.total == 6 and primary in raw.model.type_counts)
    assert raw.count_label.text() == "6 total events"
    assert raw.type_filter.findText(f"{primary} (2)") > 0
    raw.select_type(primary)
    wait_for(qtbot, lambda: raw.count_label.text() == "2 filtered events / 6 total events")
    assert {row.type for row in all_rows(qtbot, raw.model)} == {primary}
    assert pane.count_label.text() == "6 events"
    append_via_composer(qtbot, pane, secondary)
    wait_for(qtbot, lambda: raw.count_label.text() == "2 filtered events / 7 total events")
    assert raw.model.rowCount() == 2
    append_via_composer(qtbot, pane, primary)
    wait_for(qtbot, lambda: raw.count_label.text() == "3 filtered events / 8 total events")
    assert [row.type for row in all_rows(qtbot, raw.model)] == [primary] * 3


def test_large_stream_stays_virtualized_and_reopens_at_its_tail(
    qtbot: QtBot, ui: UiHarness
) -> None:
    path = fresh_path()
    window = ui.open(path)
    ready(qtbot, window)
    ui.append(path, [event(f"{DEBUG}/bulk", index=i) for i in range(1500)])
    pane = ready(qtbot, window, 1503)
    view, model = pane.raw_view.list, pane.raw_view.model
    wait_for(qtbot, lambda: row_visible(view, 1502) and model.event_at(1502) is not None)
    assert not row_visible(view, 0)
    view.scroll_to_top()
    wait_for(qtbot, lambda: row_visible(view, 0) and model.event_at(0) is not None)
    assert not row_visible(view, 1502)
    view.scroll_to_end()
    wait_for(qtbot, lambda: row_visible(view, 1502))

    window.close()
    reopened = ui.open(path)
    pane = ready(qtbot, reopened, 1503)
    view = pane.raw_view.list
    wait_for(
        qtbot, lambda: row_visible(view, 1502) and pane.raw_view.model.event_at(1502) is not None
    )
    assert not row_visible(view, 0)
    # Opened on a full mirror, the list fetched only the pages around the tail it shows (while
    # a stream grows under a pinned tail, every page it passes gets loaded on the way).
    assert pane.raw_view.model.loaded_row_count() < 1503 // 2


def wheel_up(view: StreamListView) -> None:
    """A real wheel event on the list (user input)."""
    center = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(
        center,
        view.viewport().mapToGlobal(center),
        QPoint(0, 0),
        QPoint(0, 360),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), wheel)


def test_tail_pin_releases_only_on_user_input(qtbot: QtBot, ui: UiHarness) -> None:
    path = fresh_path()
    window = ui.open(path)
    ready(qtbot, window)
    ui.append(path, [event(f"{DEBUG}/bulk", i=i) for i in range(100)])
    pane = ready(qtbot, window, 103)
    view = pane.raw_view.list
    wait_for(qtbot, lambda: view.at_end() and row_visible(view, 102))
    view.verticalScrollBar().setValue(0)  # a programmatic scroll: the pin holds
    ui.append(path, [event(f"{DEBUG}/followed")])
    wait_for(qtbot, lambda: pane.raw_view.model.total == 104)
    wait_for(qtbot, lambda: view.at_end() and row_visible(view, 103))
    assert view.pin.pinned and not view.bottom_button.isVisible()

    wheel_up(view)
    wait_for(qtbot, lambda: not view.at_end())
    assert not view.pin.pinned
    ui.append(path, [event(f"{DEBUG}/unseen", i=i) for i in range(2)])
    wait_for(qtbot, lambda: view.bottom_button_label() == "Scroll to bottom, 2 new events")
    assert not row_visible(view, 105)
    view.bottom_button.click()
    wait_for(qtbot, lambda: row_visible(view, 105) and view.pin.pinned)


def test_unread_badge_and_expansion_survive_scrolling(qtbot: QtBot, ui: UiHarness) -> None:
    path = fresh_path()
    window = ui.open(path)
    ready(qtbot, window)
    ui.append(path, [event(f"{DEBUG}/bulk", index=i) for i in range(160)])
    pane = ready(qtbot, window, 163)
    view, model = pane.raw_view.list, pane.raw_view.model
    wait_for(qtbot, lambda: view.at_end())
    view.top_button.click()
    wait_for(qtbot, lambda: row_visible(view, 0) and model.event_at(0) is not None)
    assert view.bottom_button.isVisible()
    ui.append(path, [event(f"{DEBUG}/unseen")])
    wait_for(qtbot, lambda: view.bottom_button_label() == "Scroll to bottom, 1 new event")
    assert row_visible(view, 0) and not row_visible(view, 163)

    model.toggle_expanded(0)  # offset 1
    wait_for(qtbot, lambda: view.is_row_tall(0) and model.pretty_for_row(0) is not None)
    pretty = model.pretty_for_row(0)
    assert pretty is not None and '"offset": 1' in pretty.text
    view.bottom_button.click()
    wait_for(qtbot, lambda: row_visible(view, 163) and not view.bottom_button.isVisible())
    view.scroll_to_top()
    wait_for(qtbot, lambda: row_visible(view, 0))
    assert model.is_row_expanded(0) and view.is_row_tall(0)
    model.toggle_expanded(0)
    view.scroll_to_end()
    view.scroll_to_top()
    wait_for(qtbot, lambda: row_visible(view, 0))
    assert not model.is_row_expanded(0) and not view.is_row_tall(0)


def test_split_view_on_one_stream_shares_the_runtime(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    left = ready(qtbot, window)
    right = window.split()
    assert right is not None and right is window.current
    assert right.runtime is left.runtime
    assert len(window.panes) == 2
    append_via_composer(qtbot, right, f"{DEBUG}/split")
    wait_for(qtbot, lambda: left.raw_view.model.total == right.raw_view.model.total == 4)
    for pane in (left, right):
        assert all_rows(qtbot, pane.raw_view.model)[-1].type == f"{DEBUG}/split"
        assert pane.status.role == "leader"
    window.close_pane(left)
    assert window.panes == [right]
    window.new_window()
    other = ui.ctx.windows[-1]
    assert other is not window and other.current is not None
    assert other.current.runtime is right.runtime
    wait_for(qtbot, lambda: other.current is not None and other.current.raw_view.model.total == 4)


def test_kill_reconnects_and_adds_woken(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    pane = ready(qtbot, window, 3)
    window.menu_actions["kill"].trigger()
    pane = ready(qtbot, window, 5)
    assert pane.raw_view.model.type_counts[WOKEN] == 2


def test_reset_starts_the_stream_again(qtbot: QtBot, ui: UiHarness) -> None:
    path = fresh_path()
    window = ui.open(path)
    pane = ready(qtbot, window)
    append_via_composer(qtbot, pane, f"{DEBUG}/before-reset")
    wait_for(qtbot, lambda: pane.raw_view.model.total == 4)
    window.menu_actions["reset"].trigger()
    wait_for(qtbot, lambda: f"{DEBUG}/before-reset" not in pane.raw_view.model.type_counts)
    pane = ready(qtbot, window, 3)
    assert all_rows(qtbot, pane.raw_view.model)[0].type == CREATED
    # The history before the reset is kept as an archive, listed under the stream's mirror
    # and opened offline.
    wait_for(qtbot, lambda: "kept as incarnation-" in (pane.runtime.status.notice or ""))
    browser = window.browser
    browser.refresh_mirrors()
    wait_for(qtbot, lambda: _archive_item(browser, path) is not None)
    archive = _archive_item(browser, path)
    assert archive is not None and archive.text(1) == "4"
    browser.tree.itemActivated.emit(archive, 0)
    wait_for(
        qtbot, lambda: window.current is not None and window.current.runtime.server_url is None
    )
    archived = window.current
    assert archived is not None
    wait_for(qtbot, lambda: archived.raw_view.model.total == 4)
    assert all_rows(qtbot, archived.raw_view.model)[-1].type == f"{DEBUG}/before-reset"


def _archive_item(browser: StreamBrowser, path: str) -> QTreeWidgetItem | None:
    item = browser.mirror_item(path)
    return None if item is None or item.childCount() == 0 else item.child(0)


def test_reconnect_resubscribes(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    ready(qtbot, window, 3)
    window.menu_actions["reconnect"].trigger()
    ready(qtbot, window, 5)  # subscriber-disconnected + subscriber-connected


def test_clear_local_rebuilds_the_mirror(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    pane = ready(qtbot, window)
    resets: list[int] = []
    pane.raw_view.model.modelReset.connect(lambda: resets.append(pane.status.clear_version))
    version = pane.status.clear_version
    window.menu_actions["clear_local"].trigger()
    wait_for(qtbot, lambda: pane.status.clear_version > version and bool(resets))
    wait_for(qtbot, lambda: pane.status.connection == "subscribed")
    wait_for(qtbot, lambda: pane.raw_view.model.total == pane.status.event_count >= 3)
    assert all_rows(qtbot, pane.raw_view.model)[0].type == CREATED


def test_the_search_index_is_turned_off_and_on_from_the_menu(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    pane = ready(qtbot, window)
    file = pane.runtime.mirror_file

    def indexed_through() -> int:
        reads = SearchReads.open(file)
        try:
            return reads.indexed_through()
        finally:
            reads.close()

    wait_for(qtbot, lambda: indexed_through() >= 3)
    window.menu_actions["search_index_off"].trigger()
    wait_for(qtbot, lambda: "Search index off: done" in window.statusBar().currentMessage())
    assert indexed_through() == 0
    window.menu_actions["search_index_on"].trigger()
    wait_for(qtbot, lambda: indexed_through() >= pane.status.event_count >= 3)


def test_catch_up_progress_shows_in_the_status_bar(qtbot: QtBot, ui: UiHarness) -> None:
    path = fresh_path()
    for start in range(0, 6000, 2000):
        ui.append(path, [event(f"{DEBUG}/history", i=start + i) for i in range(2000)])
    window = ui.open(path)
    shown: list[str] = []

    def record() -> None:
        if window.catchup_label.isVisibleTo(window):
            shown.append(window.catchup_label.text())

    assert window.current is not None
    window.current.statusChanged.connect(record)
    ready(qtbot, window, 6003)
    assert shown and shown[0].startswith("Catching up")
    assert shown[-1].endswith("ev/s") and " / 6,00" in shown[-1]
    assert not window.catchup_label.isVisibleTo(window)


def test_feed_grouping(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    pane = ready(qtbot, window)
    pane.show_view(1)
    feed = pane.feed_view.model

    def items_of(component: str, event_type: str | None = None) -> list[Any]:
        return [
            item
            for item in feed_items(qtbot, feed)
            if item.component == component and (event_type is None or item.event_type == event_type)
        ]

    wait_for(qtbot, lambda: feed.count >= 2)
    assert len(items_of("stream.created")) == 1
    assert len(items_of("stream.woken")) == 1
    feed_a, feed_b = f"{DEBUG}/feed-a", f"{DEBUG}/feed-b"
    append_via_composer(qtbot, pane, feed_a)
    wait_for(qtbot, lambda: len(items_of("group", feed_a)) == 1)
    assert items_of("group", feed_a)[0].event_count == 1
    append_via_composer(qtbot, pane, feed_b)
    wait_for(qtbot, lambda: len(items_of("group", feed_b)) == 1)
    assert items_of("group", feed_a)[0].event_count == 1
    append_via_composer(qtbot, pane, feed_a)
    wait_for(qtbot, lambda: len(items_of("group", feed_a)) == 2)
    append_via_composer(qtbot, pane, feed_a)
    wait_for(qtbot, lambda: items_of("group", feed_a)[-1].event_count == 2)
    assert pane.feed_view.count_label.text() == f"{feed.count} feed items"


def test_state_view_shows_max_offset_and_namespace(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open("/")
    pane = ready(qtbot, window, pane_count(window))
    pane.show_view(2)
    text = pane.state_view.text
    wait_for(qtbot, lambda: "maxOffset" in text.toPlainText())
    assert '"namespace": "default"' in text.toPlainText()
    assert '"path": "/"' in text.toPlainText()


def pane_count(window: MainWindow) -> int:
    """The root stream's event count is not known up front (other tests add children)."""
    pane = window.current
    assert pane is not None
    return pane.status.event_count or 3


def test_invalid_composer_json_sends_nothing(qtbot: QtBot, ui: UiHarness) -> None:
    pane = ready(qtbot, ui.open(fresh_path()))
    compose(qtbot, pane, '{"type": "half')
    assert pane.composer.state == "error"
    assert pane.composer.status_label.text().startswith("Invalid JSON at line 1")
    compose(qtbot, pane, '{"type": "events.iterate.com/debug/x", "unknownKey": 1}')
    wait_for(qtbot, lambda: pane.composer.state == "error")
    assert pane.composer.status_label.text().startswith("Append failed:")
    qtbot.wait(300)
    assert pane.raw_view.model.total == 3 and pane.status.event_count == 3


def test_sql_console_reads_refuses_writes_and_cancels(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    pane = ready(qtbot, window)
    console = window.stream_actions.open_sql_console()
    assert console is not None
    qtbot.addWidget(console)
    console.run_query()
    wait_for(qtbot, lambda: not console.running)
    assert console.result_model.columns == ["type", "n"], console.status_label.text()
    assert len(console.result_model.rows) == 3
    console.editor.setPlainText("DELETE FROM events")
    console.run_query()
    wait_for(qtbot, lambda: not console.running)
    assert console.status_label.text() == "read-only: DELETE is not allowed"
    console.editor.setPlainText("VACUUM")
    console.run_query()
    wait_for(qtbot, lambda: not console.running)
    assert console.status_label.text() == "read-only: VACUUM is not allowed"
    assert pane.raw_view.model.total == 3
    console.editor.setPlainText(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    )
    console.run_query()
    qtbot.wait(300)
    assert console.running
    console.cancel_button.click()
    wait_for(qtbot, lambda: not console.running, 10_000)
    assert "interrupt" in console.status_label.text().lower()


def test_save_mirror_as_and_export_jsonl(qtbot: QtBot, ui: UiHarness, tmp_path: Path) -> None:
    window = ui.open(fresh_path())
    pane = ready(qtbot, window)
    append_via_composer(qtbot, pane, f"{DEBUG}/saved")
    wait_for(qtbot, lambda: pane.raw_view.model.total == 4)
    copy = tmp_path / "copy.sqlite3"
    window.file_jobs.save_mirror_as(copy)
    wait_for(qtbot, copy.exists)
    counted = subprocess.run(
        ["sqlite3", str(copy), "SELECT count(*) FROM events"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert counted.stdout.strip() == "4"
    pane.raw_view.select_type(f"{DEBUG}/saved")
    wait_for(qtbot, lambda: pane.raw_view.model.rowCount() == 1)
    exported = tmp_path / "saved.jsonl"
    window.file_jobs.export_jsonl(exported)
    wait_for(qtbot, exported.exists)
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["type"] for line in lines] == [f"{DEBUG}/saved"]


def test_child_stream_card_opens_the_child_and_the_tree_lists_it(
    qtbot: QtBot, ui: UiHarness
) -> None:
    parent = fresh_path()
    window = ui.open(parent)
    pane = ready(qtbot, window)
    child = f"{parent}/child"
    ui.append(child, [event(f"{DEBUG}/in-child")])
    pane.show_view(1)
    feed, view = pane.feed_view.model, pane.feed_view.list
    wait_for(
        qtbot,
        lambda: any(i.child_path == child for i in feed_items(qtbot, feed)),
    )
    row = next(i.local_index for i in feed_items(qtbot, feed) if i.child_path == child)
    wait_for(qtbot, lambda: row_visible(view, row))
    rect = view.visualRect(feed.index(row, 0))
    hit = next(
        QPoint(x, rect.center().y())
        for x in range(rect.left(), rect.right(), 4)
        if pane.feed_view.delegate.child_link_hit(rect, row, QPoint(x, rect.center().y()))
    )
    QTest.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, hit
    )
    wait_for(qtbot, lambda: window.current is not None and window.current.runtime.path == child)
    assert window.current is not None and window.current.current_view_index() == 1
    assert window.path_edit.text() == child

    browser = window.browser
    browser.refresh()
    wait_for(qtbot, lambda: "/" in browser.tree_paths())
    root = browser.streams_root.child(0)
    assert root is not None
    root.setExpanded(True)
    wait_for(qtbot, lambda: "/e2e" in browser.tree_paths())


def test_go_normalises_the_path_and_keeps_the_namespace(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    ready(qtbot, window)
    target = fresh_path().lstrip("/")
    window.namespace_edit.setText("  ")
    window.path_edit.setText(f"  {target} ")
    QTest.keyClick(window.path_edit, Qt.Key.Key_Return)
    pane = ready(qtbot, window)
    assert pane.runtime.path == f"/{target}"
    assert pane.runtime.namespace == "default"
    assert window.windowTitle() == f"/{target} · embedded — Streamdesk"
    newest = window.browser.recent_root.child(0)
    assert newest is not None and newest.text(0) == f"/{target}"
    window.path_edit.setText("/bad:path")
    window.go()
    assert window.current is pane
    assert '":" is not allowed' in window.path_error.text()


def test_a_mirror_opens_with_the_server_stopped(qtbot: QtBot, tmp_path: Path) -> None:
    path = fresh_path()
    with qt_asyncio():
        server = EmbeddedServer(tmp_path / "own-server").start_in_thread()
        harness = UiHarness(qtbot, tmp_path / "data", server.url)
        try:
            window = harness.open(path)
            pane = ready(qtbot, window)
            append_via_composer(qtbot, pane, f"{DEBUG}/kept")
            wait_for(qtbot, lambda: pane.raw_view.model.total == 4)
            window.close()
            server.stop_thread()

            offline = harness.open(path)
            browser = offline.browser
            browser.refresh_mirrors()
            wait_for(qtbot, lambda: browser.mirror_item(path) is not None)
            item = browser.mirror_item(path)
            assert item is not None and item.text(1) == "4"
            browser.tree.itemActivated.emit(item, 0)
            wait_for(
                qtbot,
                lambda: offline.current is not None and offline.current.runtime.server_url is None,
            )
            mirror_pane = offline.current
            assert mirror_pane is not None
            wait_for(qtbot, lambda: mirror_pane.raw_view.model.total == 4)
            assert mirror_pane.connection_label.text() == "offline mirror"
            rows = all_rows(qtbot, mirror_pane.raw_view.model)
            assert rows[-1].type == f"{DEBUG}/kept"
            assert not mirror_pane.composer.isEnabled()
            mirror_pane.show_view(1)
            wait_for(qtbot, lambda: mirror_pane.feed_view.model.count >= 3)
            assert visible_rows(mirror_pane.feed_view.list)
        finally:
            harness.close()
            server.stop_thread()


@pytest.mark.parametrize("view_index", [0, 1])
def test_views_follow_appends_at_the_tail(qtbot: QtBot, ui: UiHarness, view_index: int) -> None:
    path = fresh_path()
    window = ui.open(path)
    pane = ready(qtbot, window)
    pane.show_view(view_index)
    view = (pane.raw_view.list, pane.feed_view.list)[view_index]
    for batch in range(3):
        ui.append(path, [event(f"{DEBUG}/tail-{batch}", i=i) for i in range(40)])
    wait_for(qtbot, lambda: pane.raw_view.model.total == 123)
    last = view.model().rowCount() - 1
    wait_for(qtbot, lambda: row_visible(view, last) and view.at_end())
    assert not view.bottom_button.isVisible()


class AnswerLost:
    """The stream's runtime, except that the first append's answer is lost after the server
    stored the event (a timeout after the commit: loopback cannot be made to do that on cue)."""

    def __init__(self, runtime: RuntimeLike) -> None:
        self._runtime = runtime
        self.lost = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)

    async def append(self, event: dict[str, Any]) -> dict[str, Any]:
        committed = await self._runtime.append(event)
        if self.lost:
            self.lost -= 1
            raise TimeoutError("the server did not answer in time")
        return committed


def test_retrying_an_append_whose_answer_was_lost_stores_it_once(
    qtbot: QtBot, ui: UiHarness
) -> None:
    pane = ready(qtbot, ui.open(fresh_path()))
    composer = Composer(AnswerLost(pane.runtime))
    qtbot.addWidget(composer)
    composer.editor.setPlainText(json.dumps(event(f"{DEBUG}/once", note="retried")))
    composer.submit()
    wait_for(qtbot, lambda: composer.state == "error")
    assert composer.append_button.text() == "Retry append"
    wait_for(qtbot, lambda: pane.raw_view.model.total == 4)  # the server did store it
    composer.append_button.click()
    wait_for(qtbot, lambda: composer.state == "appended")
    assert composer.status_label.text() == "Appended at offset 4."  # the stored event
    composer.submit()  # after a success the same text is a new event
    wait_for(qtbot, lambda: composer.state == "appended")
    assert composer.status_label.text() == "Appended at offset 5."
    wait_for(qtbot, lambda: pane.raw_view.model.total == 5)
    assert pane.raw_view.model.type_counts[f"{DEBUG}/once"] == 2


def test_copied_event_json_is_the_shown_json(qtbot: QtBot, ui: UiHarness) -> None:
    pane = ready(qtbot, ui.open(fresh_path()))
    compose(qtbot, pane, json.dumps(event(f"{DEBUG}/accents", text="café ✓")))
    wait_for(qtbot, lambda: pane.raw_view.model.total == 4)
    model, view = pane.raw_view.model, pane.raw_view.list
    wait_for(qtbot, lambda: model.event_at(3) is not None)
    model.toggle_expanded(3)
    wait_for(qtbot, lambda: model.pretty_for_row(3) is not None)
    shown = model.pretty_for_row(3)
    assert shown is not None and '"text": "café ✓"' in shown.text
    view.setCurrentIndex(model.index(3, 0))
    pane.raw_view.copy_current_json()
    wait_for(qtbot, lambda: QGuiApplication.clipboard().text() == shown.text)


def answer_next_question(button: QMessageBox.StandardButton, asked: list[str]) -> None:
    """Answer the next message box once it is up (it blocks the caller until answered)."""

    def respond() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            asked.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(10, respond)

    QTimer.singleShot(0, respond)


def test_clear_local_mirror_asks_first(qtbot: QtBot, ui: UiHarness) -> None:
    window = ui.open(fresh_path())
    pane = ready(qtbot, window)
    window.stream_actions.confirm_destructive = True
    version = pane.status.clear_version
    asked: list[str] = []
    answer_next_question(QMessageBox.StandardButton.No, asked)
    window.menu_actions["clear_local"].trigger()
    assert len(asked) == 1
    assert "rebuilt from the server" in asked[0] and "Save mirror as" in asked[0]
    assert not window.statusBar().currentMessage().startswith("Clear local mirror")
    answer_next_question(QMessageBox.StandardButton.Yes, asked)
    window.menu_actions["clear_local"].trigger()
    assert len(asked) == 2
    wait_for(qtbot, lambda: pane.status.clear_version > version)
    wait_for(qtbot, lambda: pane.raw_view.model.total == pane.status.event_count >= 3)
    assert pane.status.clear_version == version + 1  # the declined clear never ran


def test_export_shows_progress_and_a_cancelled_job_leaves_no_file(
    qtbot: QtBot, ui: UiHarness, tmp_path: Path
) -> None:
    path = fresh_path()
    window = ui.open(path)
    ready(qtbot, window)
    ui.append(path, [event(f"{DEBUG}/bulk", i=i) for i in range(2000)])
    ready(qtbot, window, 2003)
    exported = tmp_path / "all.jsonl"
    window.file_jobs.export_jsonl(exported)
    assert (
        window.file_jobs.job_bar.isVisibleTo(window)
        and window.menu_actions["cancel_job"].isEnabled()
    )
    assert window.file_jobs.job_bar.label.text().startswith("Exporting JSONL")
    wait_for(qtbot, lambda: not window.file_jobs.job_bar.running)
    assert window.statusBar().currentMessage() == f"Exported 2,003 events to {exported}"
    assert len(exported.read_text(encoding="utf-8").splitlines()) == 2003
    assert (
        not window.file_jobs.job_bar.isVisibleTo(window)
        and not window.menu_actions["cancel_job"].isEnabled()
    )

    cancelled = tmp_path / "cancelled.jsonl"
    window.file_jobs.export_jsonl(cancelled)
    window.file_jobs.job_bar.cancel_button.click()
    wait_for(qtbot, lambda: not window.file_jobs.job_bar.running)
    assert window.statusBar().currentMessage() == "Exporting JSONL: cancelled, no file written"
    assert not cancelled.exists() and not partial_path(cancelled).exists()

    copy = tmp_path / "copy.sqlite3"
    window.file_jobs.save_mirror_as(copy)
    window.menu_actions["cancel_job"].trigger()  # Esc
    wait_for(qtbot, lambda: not window.file_jobs.job_bar.running)
    assert "cancelled" in window.statusBar().currentMessage()
    assert list(tmp_path.glob("*copy.sqlite3*")) == []


def test_unsent_composer_text_comes_back_with_its_stream(qtbot: QtBot, ui: UiHarness) -> None:
    path = fresh_path()
    window = ui.open(path)
    pane = ready(qtbot, window)
    draft = json.dumps(event(f"{DEBUG}/draft", note="not sent yet"), indent=2)
    pane.composer.editor.setPlainText(draft)
    window.close()
    assert Settings(ui.data_dir / "settings.json").composer_draft("default", path) == draft
    other = ui.open(fresh_path())
    assert ready(qtbot, other).composer.editor.toPlainText() == DEFAULT_COMPOSER_TEXT
    other.close()

    reopened = ui.open(path)
    assert reopened.current is not None
    composer = reopened.current.composer
    assert composer.editor.toPlainText() == draft
    composer.submit()
    wait_for(qtbot, lambda: composer.state == "appended")
    reopened.close()
    again = ui.open(path)  # the draft was sent: nothing is kept
    assert again.current is not None
    assert again.current.composer.editor.toPlainText() == DEFAULT_COMPOSER_TEXT


def test_add_server_checks_the_url_before_closing(qtbot: QtBot) -> None:
    dialog = ServerDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.url_edit.setText("junk")
    ok.click()
    assert dialog.isVisible() and dialog.entry is None
    assert dialog.error_label.isVisibleTo(dialog)
    assert dialog.error_label.text().startswith('Invalid server URL "junk": it must start with')
    dialog.name_edit.setText("lab")
    dialog.url_edit.setText(" WS://Streams.Example:80/ ")
    ok.click()
    assert not dialog.isVisible()
    assert dialog.entry == ServerEntry("lab", "http://streams.example")


def test_a_refused_token_is_explained_and_f5_dials_with_the_corrected_one(
    qtbot: QtBot, ui: UiHarness, tmp_path: Path
) -> None:
    with EmbeddedServer(tmp_path / "secured", token="right-token") as secured:
        ui.ctx.save_server(ServerEntry(name="Secured", url=secured.url, token="stale-token"))
        target = StreamTarget(ui.ctx.server_for_url(secured.url), "default", fresh_path())
        window = ui.ctx.new_window(target)
        qtbot.addWidget(window)
        pane = window.current
        assert pane is not None
        # The runtime's status changes before the pane's queued status signal repaints it.
        wait_for(qtbot, lambda: "refused the token" in pane.error_banner.text())
        assert pane.status.connection == "unauthorized"
        banner = pane.error_banner.text()
        assert "refused the token" in banner and "press F5" in banner
        assert "stale-token" not in banner and "right-token" not in banner
        ui.ctx.save_server(ServerEntry(name="Secured", url=secured.url, token="right-token"))
        window.stream_actions.reconnect()
        ready(qtbot, window)
        assert not pane.error_banner.isVisible()
        window.close()
