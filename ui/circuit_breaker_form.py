"""The circuit-breaker form of the stream gate panel: burst capacity, refill per minute, Apply.

The form only collects the limits and shows whether it may be used (and why not); the panel
decides that (`ui.stream_gate.gate_view`) and does the appending.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

DEFAULT_BURST = 10
DEFAULT_REFILL_PER_MINUTE = 60.0


class CircuitBreakerForm(QWidget):
    applyRequested = Signal(int, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("Circuit breaker")
        title.setStyleSheet("font-weight: 600")
        self.burst = QSpinBox()
        self.burst.setRange(1, 1_000_000)
        self.burst.setValue(DEFAULT_BURST)
        self.burst.setAccessibleName("Burst capacity")
        self.burst.setToolTip("Events the stream may take at once before the breaker pauses it")
        self.refill = QDoubleSpinBox()
        self.refill.setRange(0, 1_000_000)
        self.refill.setDecimals(1)
        self.refill.setValue(DEFAULT_REFILL_PER_MINUTE)
        self.refill.setAccessibleName("Refill per minute")
        self.refill.setToolTip("Events per minute the bucket regains")
        self.apply_button = QPushButton("Apply limits")
        self.apply_button.setToolTip(
            "Subscribe the built-in circuit breaker to this stream with these limits"
        )
        self.apply_button.clicked.connect(
            lambda: self.applyRequested.emit(self.burst.value(), self.refill.value())
        )
        self.note = QLabel()
        self.note.setAccessibleName("Circuit breaker note")
        self.note.setStyleSheet("color: palette(placeholder-text)")
        self.note.setWordWrap(True)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(QLabel("Burst"))
        layout.addWidget(self.burst)
        layout.addWidget(QLabel("Refill / minute"))
        layout.addWidget(self.refill)
        layout.addWidget(self.apply_button)
        layout.addWidget(self.note, 1)

    def set_usable(self, enabled: bool, note: str) -> None:
        """Enable the inputs and Apply, or disable them with the reason shown."""
        for widget in (self.burst, self.refill, self.apply_button):
            widget.setEnabled(enabled)
        if self.note.text() != note:
            self.note.setText(note)
