"""Chips, banners and error text follow the palette, readable in light and dark."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, fresh_path, ui_harness, wait_for

from ui.palette import TONES, contrast_ratio, dark_palette, error_text_style, tone_colors
from ui.targets import ServerEntry, StreamTarget


@pytest.fixture
def ui(qtbot: QtBot, tmp_path: Path) -> Iterator[UiHarness]:
    with ui_harness(qtbot, tmp_path) as harness:
        yield harness


@pytest.mark.parametrize("dark", [False, True])
def test_every_tone_reads_at_aa_contrast(dark: bool) -> None:
    for tone in TONES:
        background, text = tone_colors(tone, dark)
        assert contrast_ratio(background, text) >= 4.5, (tone, dark)
    window = dark_palette().window().color().name() if dark else "#ffffff"
    error = error_text_style(dark).removeprefix("color: ").rstrip(";")
    assert contrast_ratio(window, error) >= 4.5


def test_an_error_pane_restyles_when_the_palette_turns_dark(qtbot: QtBot, ui: UiHarness) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = app.palette()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    window = ui.ctx.new_window(StreamTarget(ServerEntry("Gone", dead), "default", fresh_path()))
    qtbot.addWidget(window)
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.error_banner.isVisible())
    light_fg = tone_colors("error", False)[1]
    assert pane.error_banner.label.styleSheet() == f"color: {light_fg};"
    try:
        app.setPalette(dark_palette())
        dark_bg, dark_fg = tone_colors("error", True)
        wait_for(qtbot, lambda: pane.error_banner.label.styleSheet() == f"color: {dark_fg};")
        assert dark_bg in pane.error_banner.styleSheet()
        assert dark_bg in pane.connection_label.styleSheet()
        assert f"color: {tone_colors('accent', True)[1]}" in pane.role_label.styleSheet()
    finally:
        app.setPalette(light)
    wait_for(qtbot, lambda: pane.error_banner.label.styleSheet() == f"color: {light_fg};")
