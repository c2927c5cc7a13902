"""The "Insert events" generator: the real dialog from the Tools menu, appending through the real
runtime to the embedded server; progress, the response modes, and Stop."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from ui_support import UiHarness, fresh_path, run, ui_harness, wait_for

from mirror.event_generator import EVENT_TYPES, PREFIX, plan_batches, random_batch
from ui.generator_dialog import DEBUG_FIELDS, PAYLOAD_FIELDS, GeneratorDialog
from ui.main_window import MainWindow


def test_the_listed_payload_fields_are_the_ones_the_generator_fills() -> None:
    plan = plan_batches(300, 300, 0)
    events = random_batch(random.Random(7), plan, 0, "/load", "2026-01-01T00:00:00Z")
    seen: dict[str, set[str]] = {}
    for event in events:
        seen.setdefault(event["type"], set()).update(event["payload"])
    assert sorted(seen) == sorted(EVENT_TYPES)
    for event_type, keys in seen.items():
        fields = PAYLOAD_FIELDS[event_type.removeprefix(PREFIX)]
        assert keys == {*fields, *DEBUG_FIELDS}


def _random_events(harness: UiHarness, path: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        async with harness.client(path) as client:
            found: list[dict[str, Any]] = []
            after = 0
            while True:
                page = list(await client.get_events(after_offset=after, limit=1000))
                if not page:
                    return found
                found += [e for e in page if str(e["type"]).startswith(PREFIX)]
                after = page[-1]["offset"]

    return run(harness.qtbot, go())


def _open_dialog(qtbot: QtBot, window: MainWindow) -> GeneratorDialog:
    pane = window.current
    assert pane is not None
    wait_for(qtbot, lambda: pane.status.connection == "subscribed")
    window.menu_actions["insert_events"].trigger()
    dialog = pane.findChild(GeneratorDialog)
    assert isinstance(dialog, GeneratorDialog) and dialog.isVisible()
    return dialog


def _configure(dialog: GeneratorDialog, count: int, seconds: float, batch: int, mode: str) -> None:
    dialog.count.setValue(count)
    dialog.seconds.setValue(seconds)
    dialog.batch_size.setValue(batch)
    dialog.mode.setCurrentIndex(dialog.mode.findData(mode))


@pytest.mark.parametrize("mode", ["await", "background", "dispose"])
def test_generator_inserts_the_count_with_progress(qtbot: QtBot, tmp_path: Path, mode: str) -> None:
    with ui_harness(qtbot, tmp_path) as harness:
        path = fresh_path()
        window = harness.open(path)
        dialog = _open_dialog(qtbot, window)
        _configure(dialog, 250, 0.5, 60, mode)
        assert dialog.plan_label.text() == "5 batches over 0.5 s"
        progress: list[int] = []
        dialog.progress.valueChanged.connect(progress.append)

        dialog.start_button.click()
        assert dialog.state == "inserting" and not dialog.start_button.isEnabled()
        wait_for(qtbot, lambda: dialog.state == "done")
        assert dialog.state_label.text() == "done: 250 events"
        assert dialog.progress.value() == 250 and dialog.progress.maximum() == 250
        # From 0, one step per batch (answers of the background mode may come in any order).
        assert progress[0] == 0 and progress[-1] == 250
        assert progress == sorted(progress) and len(progress) == 1 + 5
        wait_for(qtbot, lambda: len(_random_events(harness, path)) == 250)
        indexes = sorted(e["payload"]["index"] for e in _random_events(harness, path))
        assert indexes == list(range(250))
        pane = window.current
        assert pane is not None
        wait_for(qtbot, lambda: pane.status.event_count >= 250)


def test_stop_ends_the_run_after_the_batch_in_hand(qtbot: QtBot, tmp_path: Path) -> None:
    with ui_harness(qtbot, tmp_path) as harness:
        path = fresh_path()
        window = harness.open(path)
        dialog = _open_dialog(qtbot, window)
        _configure(dialog, 2000, 30, 100, "await")
        dialog.start_button.click()
        wait_for(qtbot, lambda: dialog.progress.value() >= 200)
        assert dialog.stop_button.isEnabled()

        dialog.stop_button.click()
        wait_for(qtbot, lambda: dialog.state == "stopped")
        done = dialog.progress.value()
        assert 200 <= done < 2000
        assert dialog.state_label.text() == f"stopped: {done} events"
        assert dialog.start_button.isEnabled() and not dialog.stop_button.isEnabled()
        qtbot.wait(2000)  # longer than the gap between two batches: none may follow the stop
        assert len(_random_events(harness, path)) == done
        assert dialog.progress.value() == done
