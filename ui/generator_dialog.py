"""The "Insert events" dialog: random events appended to the pane's stream for load tests.

Count, seconds, batch size and the appendBatch response mode go into an `EventInserter`, which
runs as a coroutine on the qasync loop (appending through the runtime, so the UI thread only
handles progress); Stop, or closing the dialog, ends the run after the batch in hand. The five
event types and their payload fields are listed so the operator knows what will land on the
stream.
"""

from __future__ import annotations

import math
from typing import Final

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mirror.event_generator import PREFIX, plan_batches
from ui.event_inserter import RESPONSE_MODES, EventInserter
from ui.offload import spawn
from ui.ports import RuntimeLike
from ui.stream_pane import StreamPane

# The type-specific payload fields `mirror.event_generator.random_event` fills in.
PAYLOAD_FIELDS: Final = {
    "note-appended": ("actor", "body"),
    "tag-applied": ("actor", "tags"),
    "status-changed": ("from", "to"),
    "metric-recorded": ("metric", "unit", "value"),
    "ping-sent": ("message", "sequence"),
}
DEBUG_FIELDS: Final = ("batchIndex", "batchSize", "count", "generatedAt", "index", "streamPath")


def _types_text() -> str:
    rows = "".join(
        f"<tr><td><code>{PREFIX}{name}</code></td><td>{', '.join(fields)}</td></tr>"
        for name, fields in PAYLOAD_FIELDS.items()
    )
    return (
        f"<table cellspacing=2>{rows}</table>"
        f"<p>Every payload also carries {', '.join(DEBUG_FIELDS)}.</p>"
    )


class GeneratorDialog(QDialog):
    def __init__(self, runtime: RuntimeLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self.inserter: EventInserter | None = None
        self.state = "idle"  # idle | inserting | done | stopped | error
        self.setWindowTitle(f"Insert events · {runtime.path}")
        self.count = QSpinBox()
        self.count.setRange(1, 10_000_000)
        self.count.setValue(1000)
        self.count.setAccessibleName("Count")
        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(0, 3600)
        self.seconds.setValue(5)
        self.seconds.setAccessibleName("Seconds")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 10_000)
        self.batch_size.setValue(100)
        self.batch_size.setAccessibleName("Batch size")
        self.mode = QComboBox()
        for mode in RESPONSE_MODES:
            self.mode.addItem(mode.capitalize(), mode)
        self.mode.setAccessibleName("appendBatch response")
        self.mode.setToolTip(
            "Await: each batch's answer before the next; Background: answers awaited at the end; "
            "Dispose: answers not waited for"
        )
        self.plan_label = QLabel()
        self.plan_label.setStyleSheet("color: palette(placeholder-text)")
        types = QLabel(_types_text())
        types.setTextFormat(Qt.TextFormat.RichText)
        types.setAccessibleName("Random event types")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Insert progress")
        self.progress.setFormat("%v / %m events")
        self.state_label = QLabel("idle")
        self.state_label.setAccessibleName("Insert state")
        self.state_label.setWordWrap(True)
        self.start_button = QPushButton("Stream random events")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)

        form = QFormLayout()
        form.addRow("Count", self.count)
        form.addRow("Seconds", self.seconds)
        form.addRow("Batch size", self.batch_size)
        form.addRow("appendBatch response", self.mode)
        form.addRow("", self.plan_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.state_label, 1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(types)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        for spin in (self.count, self.seconds, self.batch_size):
            spin.valueChanged.connect(self._show_plan)
        self._show_plan()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop()
        super().closeEvent(event)

    def _show_plan(self) -> None:
        batches = math.ceil(self.count.value() / self.batch_size.value())
        self.plan_label.setText(
            f"{batches} batch{'es' if batches != 1 else ''} over {self.seconds.value():g} s"
        )

    def start(self) -> None:
        if self.state == "inserting":
            return
        plan = plan_batches(self.count.value(), self.batch_size.value(), self.seconds.value())
        self.inserter = EventInserter(
            self._runtime.append_batch,
            self._runtime.path,
            plan,
            self.mode.currentData(),
            on_progress=self._progressed,
        )
        self.progress.setRange(0, plan.count)
        self.progress.setValue(0)
        self._set_state("inserting", "inserting")
        spawn(self._run(self.inserter), what="inserting random events", owner=self)

    def stop(self) -> None:
        if self.inserter is not None and self.state == "inserting":
            self.inserter.stop()
            self.state_label.setText("stopping…")

    async def _run(self, inserter: EventInserter) -> None:
        try:
            outcome = await inserter.run()
        except Exception as error:
            self._set_state("error", f"error: {error}")
            return
        self._set_state(outcome, f"{outcome}: {inserter.done_count} events")

    def _progressed(self, done: int, total: int) -> None:
        self.progress.setValue(done)

    def _set_state(self, state: str, text: str) -> None:
        self.state = state
        self.state_label.setText(text)
        running = state == "inserting"
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for field in (self.count, self.seconds, self.batch_size, self.mode):
            field.setEnabled(not running)


def open_generator(pane: StreamPane | None) -> GeneratorDialog | None:
    """The current pane's generator dialog, shown (one per pane, reused)."""
    if pane is None:
        return None
    dialog = pane.findChild(GeneratorDialog)
    if not isinstance(dialog, GeneratorDialog):
        dialog = GeneratorDialog(pane.runtime, pane)
    dialog.show()
    dialog.raise_()
    return dialog
