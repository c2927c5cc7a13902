"""The stream gate panel: Active / Paused, the pause reason, Resume stream, the circuit breaker.

It polls the stream's `runtimeState()` every second while shown (like the State view) and
shows what `ui.stream_gate.gate_view` decides. Resume and Apply append through the runtime, off
the UI thread (coroutines on the qasync loop), and poll again at once so the gate follows.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mirror.runtime import RuntimeStatus
from ui.circuit_breaker_form import CircuitBreakerForm
from ui.offload import spawn
from ui.palette import chip_style, widget_is_dark
from ui.pane_state import plain_error, server_host
from ui.ports import RuntimeLike
from ui.stream_gate import breaker_events, gate_view, resume_event

log = logging.getLogger(__name__)

POLL_MS = 1000
_GATE_TONES = {"Active": "ok", "Paused": "error"}


class StreamGatePanel(QFrame):
    def __init__(self, runtime: RuntimeLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self._state: dict[str, Any] | None = None
        self._connection = str(runtime.status.connection)
        self._polling = False
        self._acting = False

        title = QLabel("Stream gate")
        title.setStyleSheet("font-weight: 600")
        self.gate_label = QLabel()
        self.gate_label.setAccessibleName("Stream gate status")
        self.reason_label = QLabel()
        self.reason_label.setAccessibleName("Pause reason")
        self.reason_label.setWordWrap(True)
        self.resume_button = QPushButton("Resume stream")
        self.resume_button.setToolTip("Append stream/resumed: the stream takes appends again")
        self.resume_button.clicked.connect(self.resume)
        self.action_label = QLabel()
        self.action_label.setAccessibleName("Stream control action")
        self.breaker = CircuitBreakerForm()
        self.breaker.applyRequested.connect(self.apply_limits)

        gate_row = QHBoxLayout()
        gate_row.setContentsMargins(0, 0, 0, 0)
        gate_row.addWidget(title)
        gate_row.addWidget(self.gate_label)
        gate_row.addWidget(self.reason_label, 1)
        gate_row.addWidget(self.resume_button)
        gate_row.addWidget(self.action_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 2)
        layout.setSpacing(2)
        layout.addLayout(gate_row)
        layout.addWidget(self.breaker)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._render()
        # An offline mirror has no gate to show or change.
        self.setVisible(self._online)

    @property
    def _online(self) -> bool:
        return self._runtime.server_url is not None

    def stream_changed(self, status: RuntimeStatus) -> None:
        if str(status.connection) != self._connection:
            self._connection = str(status.connection)
            self._render()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._online:
            self._timer.start()
            self.poll()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()

    # --- polling ---------------------------------------------------------------------------

    def poll(self) -> None:
        if self._online and not self._polling and self.isVisible():
            self._polling = True
            spawn(self._poll(), what="polling the stream gate", owner=self)

    async def _poll(self) -> None:
        try:
            state = await self._runtime.runtime_state()
        except Exception as error:
            # The gate shows "unknown"; why the server cannot be asked is the pane's one error
            # banner's to say, in words, not this panel's.
            log.debug("stream gate poll failed: %s", error)
            self._state = None
        else:
            self._state = state
        finally:
            self._polling = False
        self._render()

    def _render(self) -> None:
        view = gate_view(self._state, self._connection, online=self._online)
        style = chip_style(_GATE_TONES.get(view.gate, "muted"), widget_is_dark(self))
        if self.gate_label.text() != view.gate or self.gate_label.styleSheet() != style:
            self.gate_label.setText(view.gate)
            self.gate_label.setStyleSheet(style)
        self.reason_label.setText(view.reason)
        self.resume_button.setVisible(view.resume_visible)
        self.resume_button.setEnabled(not self._acting)
        self.breaker.set_usable(view.breaker_enabled and not self._acting, view.breaker_note)

    # --- actions ---------------------------------------------------------------------------

    def resume(self) -> None:
        self._act("resuming", "resumed", self._runtime.append(resume_event()))

    def apply_limits(self, burst_capacity: int, refill_per_minute: float) -> None:
        events = breaker_events(burst_capacity, refill_per_minute)
        self._act("applying limits", "limits applied", self._runtime.append_batch(events))

    def _act(self, label: str, done: str, work: Coroutine[Any, Any, object]) -> None:
        if self._acting:
            work.close()
            return
        self._acting = True
        self.action_label.setText(label)
        self._render()
        spawn(self._finish(label, done, work), what=label, owner=self)

    async def _finish(self, label: str, done: str, work: Coroutine[Any, Any, object]) -> None:
        try:
            await work
        except Exception as error:
            host = server_host(self._runtime.server_url)
            self.action_label.setText(f"{label} failed: {plain_error(str(error), host=host)}")
        else:
            self.action_label.setText(done)
        finally:
            self._acting = False
            self._render()
        self.poll()
