"""Payload previews, event times in either zone, and big events: a bounded expansion with its
size, and the whole event in a viewer, a file or the clipboard, read off the UI thread."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from find_support import WrittenMirror, offline_runtime
from pytestqt.qtbot import QtBot
from ui_support import wait_for

from ui.event_model import PREVIEW_COLUMN, TIME_COLUMN
from ui.feed_view import FeedView
from ui.json_text import WRAP_COLUMNS
from ui.ports import RuntimeLike
from ui.raw_view import RawEventsView
from ui.time_display import time_display

DEBUG = "events.iterate.com/debug"
BIG = 3 * 1024 * 1024


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[WrittenMirror]:
    written = WrittenMirror(tmp_path / "stream.sqlite3")
    written.add(
        {"type": DEBUG, "payload": {"user": {"id": "u1"}, "n": 1}, "metadata": {"latencyMs": 7}},
        {"type": DEBUG, "payload": {"note": "small"}},
        {"type": DEBUG, "payload": {"title": "big one", "text": "x" * BIG}},
    )
    yield written
    written.close()


@pytest.fixture
def runtime(qtbot: QtBot, tmp_path: Path, mirror: WrittenMirror) -> Iterator[RuntimeLike]:
    with offline_runtime(qtbot, tmp_path, mirror) as opened:
        yield opened


def raw_view(qtbot: QtBot, runtime: RuntimeLike) -> RawEventsView:
    view = RawEventsView(runtime)
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    wait_for(qtbot, lambda: view.model.rowCount() == 3)
    wait_for(qtbot, lambda: all(view.model.event_at(i) for i in range(3)))
    return view


def test_preview_column_and_times_in_either_zone(qtbot: QtBot, runtime: RuntimeLike) -> None:
    view = raw_view(qtbot, runtime)
    model = view.model
    assert model.data(model.index(0, PREVIEW_COLUMN)) == (
        '{"user":{"id":"u1"},"n":1}  {"latencyMs":7}'
    )
    big_preview = str(model.data(model.index(2, PREVIEW_COLUMN)))
    assert big_preview.startswith('{"title":"big one","text":"xxx') and len(big_preview) <= 400

    time_display().set_utc(True)
    try:
        assert model.data(model.index(0, TIME_COLUMN)) == "2026-06-01 12:00:01.000"
        tooltip = str(model.data(model.index(0, TIME_COLUMN), 3))
        assert tooltip.startswith("2026-06-01T12:00:01.000Z (UTC)")
        assert view.utc_button.isChecked()
    finally:
        time_display().set_utc(False)
    assert not view.utc_button.isChecked()


def test_big_event_expands_bounded_and_the_viewer_loads_it_all(
    qtbot: QtBot, runtime: RuntimeLike, tmp_path: Path
) -> None:
    view = raw_view(qtbot, runtime)
    model = view.model
    model.toggle_expanded(2)
    wait_for(qtbot, lambda: model.pretty_for_row(2) is not None)
    pretty = model.pretty_for_row(2)
    assert pretty is not None
    assert pretty.lines[0].startswith("3.0 MB event, shown in part.")
    assert pretty.lines[1] == "$.payload.text: 3.0 MB, showing the first 64 KB"
    assert len(pretty.lines) < 1000
    assert max(len(line) for line in pretty.lines) <= WRAP_COLUMNS
    key_line = next(line for line in pretty.lines if '"text":' in line)
    # The string starts after its key on the key's line (not drawn over it).
    assert key_line.lstrip().startswith('"text": "xxx')

    small = model.event_at(0)
    assert small is not None
    model.toggle_expanded(0)
    wait_for(qtbot, lambda: model.pretty_for_row(0) is not None)
    small_pretty = model.pretty_for_row(0)
    assert small_pretty is not None and json.loads(small_pretty.text)["payload"]["n"] == 1

    view.list.setCurrentIndex(model.index(2, 0))
    viewer = view.whole_event.open_viewer()
    assert viewer is not None
    qtbot.addWidget(viewer)
    wait_for(qtbot, lambda: viewer.text is not None)
    assert viewer.text is not None and len(viewer.text) > BIG
    assert viewer.lines.rowCount() > BIG // 200
    assert "MB" in viewer.status.text()

    target = tmp_path / "big.json"
    view.whole_event.save_to(3, target)
    wait_for(qtbot, lambda: target.exists())
    assert len(json.loads(target.read_text())["payload"]["text"]) == BIG


def test_feed_row_of_a_big_event_expands_bounded(qtbot: QtBot, runtime: RuntimeLike) -> None:
    view = FeedView(runtime)
    qtbot.addWidget(view)
    wait_for(qtbot, lambda: view.model.rowCount() > 0)
    last = view.model.rowCount() - 1
    wait_for(qtbot, lambda: view.model.item_at(last) is not None)
    view.model.toggle_expanded(last)
    wait_for(qtbot, lambda: view.model.pretty_for_row(last) is not None)
    pretty = view.model.pretty_for_row(last)
    assert pretty is not None and "showing the first 64 KB" in "\n".join(pretty.lines)
    assert len(pretty.text) < BIG
