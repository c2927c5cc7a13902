"""The session: windows, splits, streams, tabs and column widths come back on the next start;
the very first start opens the sample stream."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, fresh_path, ui_harness, wait_for

from app.gui import _first_window
from ui.sample_stream import SAMPLE_EVENTS, SAMPLE_PATH
from ui.session_state import SessionKeeper, restore_session


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


def no_arguments() -> argparse.Namespace:
    return argparse.Namespace(path=None, namespace="default", server=None)


def test_the_session_is_restored_on_the_next_start(qtbot: QtBot, ui: UiHarness) -> None:
    SessionKeeper(ui.ctx)
    left, right, other = fresh_path(), fresh_path(), fresh_path()
    window = ui.open(left)
    window.open_target(ui.target(right), split=True)
    first, second = window.panes
    second.show_view(1)
    first.raw_view.list.horizontalHeader().resizeSection(0, 123)
    window.focus_pane(first)
    window.resize(1800, 800)
    wait_for(qtbot, lambda: window.splitter.width() > 1400)
    window.splitter.setSizes([1150, 350])
    wanted_sizes = window.splitter.sizes()
    wanted_share = wanted_sizes[0] / sum(wanted_sizes)
    assert wanted_share > 0.55  # far from an even split, whatever the panes' minimum widths
    closed_early = ui.open(other)
    early = closed_early.current
    assert early is not None
    # Settled before closing: a runtime closed while it dials logs an error of its own.
    wait_for(
        qtbot, lambda: all(p.status.connection == "subscribed" for p in (first, second, early))
    )
    closed_early.close()  # closed while another window stays open: not part of the session
    window.quit_app()
    assert ui.ctx.windows == []
    assert not ui.ctx.settings.first_start()

    # The next start: a new context on the same data directory.
    again = UiHarness(qtbot, ui.data_dir, ui.server_url)
    try:
        windows = restore_session(again.ctx)
        assert len(windows) == 1
        restored = windows[0]
        qtbot.addWidget(restored)
        assert [p.runtime.path for p in restored.panes] == [left, right]
        assert [p.current_view_index() for p in restored.panes] == [0, 1]
        assert restored.panes[0].raw_view.list.horizontalHeader().sectionSize(0) == 123
        assert restored.current is restored.panes[0]
        # The split keeps its proportions (the offscreen platform restores a window's
        # geometry a few pixels off, so the total width may differ).
        sizes = restored.splitter.sizes()
        assert abs(sizes[0] / sum(sizes) - wanted_share) < 0.03
    finally:
        again.close()


def test_the_first_start_opens_a_sample_stream_and_later_starts_the_session(
    qtbot: QtBot, ui: UiHarness
) -> None:
    SessionKeeper(ui.ctx)
    assert ui.ctx.settings.first_start()
    window = _first_window(ui.ctx, no_arguments())
    qtbot.addWidget(window)
    pane = window.current
    assert pane is not None and pane.runtime.path == SAMPLE_PATH
    sample_types = {event["type"] for event in SAMPLE_EVENTS}
    wait_for(qtbot, lambda: sample_types <= set(pane.raw_view.model.type_counts))
    window.quit_app()

    again = UiHarness(qtbot, ui.data_dir, ui.server_url)
    try:
        assert not again.ctx.settings.first_start()
        reopened = _first_window(again.ctx, no_arguments())
        qtbot.addWidget(reopened)
        assert reopened.current is not None and reopened.current.runtime.path == SAMPLE_PATH
        wait_for(
            qtbot, lambda: reopened.current is not None and reopened.current.status.event_count > 0
        )
        # Appended once: the second start did not fill it again. (The model replaces its
        # counts when they change: read them anew on each check.)
        second = reopened.current
        wait_for(qtbot, lambda: sample_types <= set(second.raw_view.model.type_counts))
        counts = second.raw_view.model.type_counts
        assert all(counts[t] == 1 for t in sample_types)
    finally:
        again.close()
